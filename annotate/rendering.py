"""Model output is untrusted text: render it as Markdown, then sanitize what comes out.

markdown-it-py runs with raw HTML off, so `<script>` in a response is shown as text; nh3
(ammonia) then keeps only a fixed set of tags and URL schemes as a second line of defence.
Images are dropped (shown as their alt text and address) so nothing loads from another host.
"""

from __future__ import annotations

from functools import lru_cache

import nh3
from django.utils.safestring import SafeString, mark_safe

ALLOWED_TAGS = {
    "p", "br", "hr", "blockquote", "pre", "code", "em", "strong", "del", "a",
    "ul", "ol", "li", "h1", "h2", "h3", "h4", "h5", "h6",
    "table", "thead", "tbody", "tr", "th", "td",
}  # fmt: skip
ALLOWED_ATTRIBUTES = {"a": {"href", "title"}, "code": {"class"}, "th": {"style"}, "td": {"style"}}
ALLOWED_SCHEMES = {"http", "https", "mailto"}


@lru_cache(maxsize=1)
def _markdown():
    from markdown_it import MarkdownIt

    md = MarkdownIt("commonmark", {"html": False, "linkify": False, "typographer": False})
    md.enable("table").enable("strikethrough")
    md.add_render_rule("image", _image_as_text)
    return md


def _image_as_text(renderer, tokens, idx, options, env) -> str:
    token = tokens[idx]
    alt = renderer.renderInlineAsText(token.children or [], options, env)
    src = token.attrGet("src") or ""
    return f"[image: {nh3.clean_text(alt)}] ({nh3.clean_text(src)})"


def render_markdown(text: str) -> SafeString:
    html = _markdown().render(text or "")
    clean = nh3.clean(
        html,
        tags=ALLOWED_TAGS,
        attributes=ALLOWED_ATTRIBUTES,
        url_schemes=ALLOWED_SCHEMES,
        link_rel="noopener noreferrer nofollow",
        strip_comments=True,
    )
    return mark_safe(clean)  # noqa: S308 - sanitized by nh3 just above


def word_diff_html(before: str, after: str) -> SafeString:
    """Word-level diff of an edit against its source, escaped; spaces and line breaks are kept
    as they were (shown in a `white-space: pre-wrap` box), outside the <ins>/<del> marks."""
    import difflib
    import re

    from django.utils.html import escape

    def tokens(text: str) -> list[str]:
        return re.findall(r"\S+|\s+", text)

    def marked(tag: str, words: list[str]) -> str:
        text = "".join(words)
        core = text.strip()
        if not core:
            return escape(text)
        lead, trail = text[: len(text) - len(text.lstrip())], text[len(text.rstrip()) :]
        return f"{escape(lead)}<{tag}>{escape(core)}</{tag}>{escape(trail)}"

    a, b = tokens(before), tokens(after)
    parts: list[str] = []
    for op, i1, i2, j1, j2 in difflib.SequenceMatcher(a=a, b=b, autojunk=False).get_opcodes():
        if op == "equal":
            parts.append(escape("".join(a[i1:i2])))
        if op in ("delete", "replace"):
            parts.append(marked("del", a[i1:i2]))
        if op in ("insert", "replace"):
            parts.append(marked("ins", b[j1:j2]))
    return mark_safe("".join(parts))  # noqa: S308 - every piece is escaped above
