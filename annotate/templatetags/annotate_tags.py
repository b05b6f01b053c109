from __future__ import annotations

from django import template

from annotate.rendering import render_markdown

register = template.Library()


@register.filter(name="markdown")
def markdown_filter(text: str):
    """Untrusted Markdown (model output, guidelines) as sanitized HTML."""
    return render_markdown(text)


@register.filter
def get_item(mapping, key):
    return (mapping or {}).get(str(key)) if mapping is not None else None
