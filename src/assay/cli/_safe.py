"""Terminal output never carries control characters from data (user names, file names...).

A user name such as ``"\\x1b]8;;http://x\\x07admin"`` would otherwise retitle the terminal,
forge a hyperlink or repaint lines of `assay audit log`. Every console the CLI prints
through is a `SafeConsole`; `printable` cleans text printed any other way (`click.echo`).
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from rich.console import Console
from rich.segment import Segment
from rich.style import Style

# Escape sequences go whole (their parameters are noise once the ESC is gone), then any other
# C0/C1 control character, DEL, and the Unicode controls that reorder or hide text.
_SEQUENCES = re.compile(
    r"\x1b\][^\x07\x1b]*(?:\x07|\x1b\\)?"  # OSC ... BEL/ST (titles, hyperlinks)
    r"|\x1b\[[0-?]*[ -/]*[@-~]?"  # CSI (colours, cursor moves, erase)
    r"|\x9b[0-?]*[ -/]*[@-~]?"  # 8-bit CSI
    r"|\x1b[PX^_][^\x1b]*(?:\x1b\\)?"  # DCS, SOS, PM, APC strings
    r"|\x1b."  # any other two-byte escape
)
_CONTROLS = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f\u200e\u200f\u202a-\u202e\u2066-\u2069]")


def printable(text: str) -> str:
    """`text` without escape sequences or control characters (newlines and tabs stay).

    Example:
        >>> printable("ana\\x1b[2J\\x1b]0;pwned\\x07!")
        'ana!'
    """
    return _CONTROLS.sub("", _SEQUENCES.sub("", text))


class SafeConsole(Console):
    """A rich Console that cleans every piece of text before it reaches the terminal.

    Rich's own styling is added after this step, so colours still work; only characters that
    came in the data are removed, and hyperlinks (which markup in data could ask for).
    """

    def _render_buffer(self, buffer: Iterable[Segment]) -> str:
        cleaned = (
            seg if seg.control else Segment(printable(seg.text), _no_link(seg.style), None)
            for seg in buffer
        )
        return super()._render_buffer(cleaned)


def _no_link(style: Style | None) -> Style | None:
    # Data printed through rich markup could say `[link=...]`; assay never prints links, so
    # no terminal hyperlink (an OSC 8 sequence) is ever written.
    return style.update_link(None) if style is not None and style.link else style
