"""Text that leaves classification: valid Unicode and one line of bounded width.

Bodies and headers may hold lone surrogates (``json.loads('"\\ud800"')`` is valid JSON, and a ``str``
header can carry anything); text with one cannot be written as UTF-8, so a log line, a terminal or a
JSON report would crash on it. Everything classification says is passed through :func:`well_formed`.
"""

from __future__ import annotations

__all__ = ["clip", "well_formed"]


def well_formed(text: str) -> str:
    """``text`` with every lone surrogate replaced by U+FFFD (a valid pair becomes its character)."""
    if text.isascii():
        return text
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return text.encode("utf-16-le", "surrogatepass").decode("utf-16-le", "replace")
    return text


def clip(text: str, width: int = 160) -> str:
    """``text`` on one line (runs of whitespace become one space), well formed, at most ``width`` characters:
    ending in "…" when something was left out."""
    # Only the head can survive the cut: splitting a megabyte to keep 160 characters would be waste.
    head = text[: width * 4]
    line = " ".join(head.split())
    if len(line) > width or (len(text) > len(head) and not text[len(head) :].isspace()):
        line = line[: width - 1] + "…"
    return well_formed(line)
