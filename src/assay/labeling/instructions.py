"""Project instructions: Markdown rendered to safe HTML for the label and review pages.

Raw HTML in the Markdown is escaped, links keep only safe schemes (markdown-it's own
check: no `javascript:`, `vbscript:` or non-image `data:`), and an image is shown only
when its source is on this server: a remote one would make the annotator's browser
reach another host, so it is replaced by its alternative text and a note.

Example:
    >>> print(render_instructions("Box **every** building.<script>x()</script>"), end="")
    <p>Box <strong>every</strong> building.&lt;script&gt;x()&lt;/script&gt;</p>
    >>> print(render_instructions("![roof](https://example.org/r.png)"), end="")
    <p><span class="remote-image">[image not shown: roof (remote images are not loaded)]</span></p>
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import lru_cache
from html import escape
from typing import Any, cast

from markdown_it import MarkdownIt
from markdown_it.renderer import RendererHTML
from markdown_it.token import Token
from markdown_it.utils import EnvType, OptionsDict


def is_local(src: str) -> bool:
    """True for a source on this server: a path like `/api/v1/items/ID/blob`, not `//host`."""
    return src.startswith("/") and not src.startswith("//") and "\\" not in src


@lru_cache(maxsize=1)
def _parser() -> MarkdownIt:
    md = MarkdownIt("commonmark", {"html": False, "linkify": False, "typographer": False})
    md.enable("table").enable("strikethrough")
    renderer = cast(RendererHTML, md.renderer)
    default_image = renderer.rules["image"]
    default_link = renderer.rules.get("link_open")

    def image(
        self: Any, tokens: Sequence[Token], idx: int, options: OptionsDict, env: EnvType
    ) -> str:
        tok = tokens[idx]
        src = str(tok.attrGet("src") or "")
        if is_local(src):
            tok.attrSet("loading", "lazy")
            return str(default_image(tokens, idx, options, env))
        alt = renderer.renderInlineAsText(tok.children or [], options, env)
        note = (
            f"[image not shown: {alt} (remote images are not loaded)]"
            if alt
            else ("[image not shown (remote images are not loaded)]")
        )
        return f'<span class="remote-image">{escape(note)}</span>'

    def link_open(
        self: Any, tokens: Sequence[Token], idx: int, options: OptionsDict, env: EnvType
    ) -> str:
        tokens[idx].attrSet("rel", "noopener noreferrer")
        if default_link is not None:
            return str(default_link(tokens, idx, options, env))
        return str(self.renderToken(tokens, idx, options, env))

    md.add_render_rule("image", image)
    md.add_render_rule("link_open", link_open)
    return md


def render_instructions(text: str) -> str:
    """The HTML of a project's Markdown instructions (empty for empty text)."""
    if not text.strip():
        return ""
    return str(_parser().render(text))
