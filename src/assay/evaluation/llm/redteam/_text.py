"""Encodings attacks hide instructions in, and the folding detectors undo before matching.

Example:
    >>> rot13("Reply AMBER")
    'Ercyl NZORE'
    >>> leetspeak("reply with tiles")
    'r3p1y w17h 71135'
    >>> squash(fold(homoglyphs("AMBER-FALCON")))
    'amberfalcon'
"""

from __future__ import annotations

import base64
import binascii
import codecs
import re
import unicodedata

# Cyrillic and Greek letters that render like Latin ones (Unicode's confusables, a subset).
_HOMOGLYPHS = {
    "a": "\u0430", "c": "\u0441", "e": "\u0435", "i": "\u0456", "o": "\u043e", "p": "\u0440",
    "x": "\u0445", "y": "\u0443", "A": "\u0391", "B": "\u0392", "C": "\u0421", "E": "\u0395",
    "H": "\u0397", "I": "\u0399", "K": "\u039a", "M": "\u039c", "N": "\u039d", "O": "\u039f",
    "P": "\u03a1", "T": "\u03a4", "X": "\u03a7",
}  # fmt: skip
_LATIN = {v: k for k, v in _HOMOGLYPHS.items()}
_LEET = {"a": "4", "e": "3", "i": "1", "l": "1", "o": "0", "s": "5", "t": "7"}
_B64 = re.compile(r"(?:[A-Za-z0-9+/]{4}){4,}(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?")


def b64(text: str) -> str:
    """Base64 of the UTF-8 bytes."""
    return base64.b64encode(text.encode()).decode("ascii")


def rot13(text: str) -> str:
    """ROT13: Latin letters rotated by 13, everything else as it is."""
    return codecs.encode(text, "rot13")


def leetspeak(text: str) -> str:
    """Letters swapped for digits that look like them (``e`` -> ``3``, ``t`` -> ``7``)."""
    return "".join(_LEET.get(ch.lower(), ch) for ch in text)


def homoglyphs(text: str) -> str:
    """Latin letters swapped for Cyrillic and Greek look-alikes."""
    return "".join(_HOMOGLYPHS.get(ch, ch) for ch in text)


def fold(text: str) -> str:
    """NFKC, look-alike letters back to Latin and lower case: what a reader sees."""
    text = unicodedata.normalize("NFKC", text)
    return "".join(_LATIN.get(ch, ch) for ch in text).casefold()


def squash(text: str) -> str:
    """Letters and digits only, so ``A-M-B-E-R`` and ``amber`` match alike."""
    return "".join(ch for ch in text if ch.isalnum())


def decoded_views(text: str) -> list[str]:
    """The text, its ROT13, and every base64 run in it decoded: the ways a reply can carry a
    secret without writing it out plainly."""
    views = [text, rot13(text)]
    for run in _B64.findall(text):
        try:
            views.append(base64.b64decode(run, validate=True).decode("utf-8", "replace"))
        except (binascii.Error, ValueError):
            continue
    return views
