from __future__ import annotations

from django import template
from django.utils.html import format_html, format_html_join
from django.utils.safestring import mark_safe

from annotate.rendering import render_markdown

register = template.Library()


@register.filter(name="markdown")
def markdown_filter(text: str):
    """Untrusted Markdown (model output, guidelines) as sanitized HTML."""
    return render_markdown(text)


RATING_ANCHORS = {1: "poor", 2: "weak", 3: "fair", 4: "good", 5: "excellent"}


@register.simple_tag
def rating_scale(response_id: int, criterion: str, ratings: dict, label: str) -> str:
    """The 1-5 radios for one criterion of one response, named after both ("helpful, Response
    A"), with their anchors. Built in Python: the template loop it replaces was a measurable
    share of every vote's render."""
    chosen = str((ratings or {}).get(criterion, ""))
    name = f"rating-{response_id}-{criterion}"
    options = format_html_join(
        "",
        '<label class="score" title="{} = {}"><input type="radio" name="{}" value="{}"{}'
        ' aria-label="{} ({})"><span>{}</span></label>',
        (
            (n, word, name, n, mark_safe(" checked") if str(n) == chosen else "", n, word, n)  # noqa: S308
            for n, word in RATING_ANCHORS.items()
        ),
    )
    return format_html(
        '<fieldset class="rating" data-criterion="{}" aria-label="{}, Response {}"><legend>{}'
        '</legend><span class="anchor">{}</span>{}<span class="anchor">{}</span></fieldset>',
        criterion,
        criterion,
        label,
        criterion,
        RATING_ANCHORS[1],
        options,
        RATING_ANCHORS[5],
    )


@register.filter
def approx_tokens(text: str) -> int:
    """About how many tokens a text is for a BPE tokenizer (4 characters each, at least 1)."""
    return max(1, round(len(text or "") / 4))
