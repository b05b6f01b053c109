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


@register.simple_tag
def rating_select(response_id: int, criterion: str, ratings: dict) -> str:
    """A 1-5 <select> for one criterion of one response, built in Python: the template loop it
    replaces was a measurable share of every vote's render."""
    chosen = str((ratings or {}).get(criterion, ""))
    options = format_html_join(
        "",
        '<option value="{}"{}>{}</option>',
        ((n, mark_safe(" selected") if n == chosen else "", n) for n in "12345"),  # noqa: S308
    )
    return format_html(
        '<select name="rating-{}-{}"><option value="">–</option>{}</select>',
        response_id,
        criterion,
        options,
    )
