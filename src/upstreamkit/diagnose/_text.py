"""Text fit to show: valid UTF-8 everywhere, and error messages of one bounded, redacted line.

Hostile input reaches messages and reports: a server may send ``"\\ud800"`` in perfectly valid JSON, and a
command-line argument that was not UTF-8 arrives in Python with lone surrogates. Neither can be written to a
UTF-8 terminal or file, so every output passes through :func:`valid_text` (reports) or :func:`safe_message`
(one-line errors).
"""

from __future__ import annotations

from typing import Any

from upstreamkit.core.redact import redact_text

__all__ = ["MESSAGE_LIMIT", "safe_message", "valid_text"]

MESSAGE_LIMIT = 300
"""Characters of an error message kept: quoted input beyond that is cut (after redaction)."""


def valid_text(value: Any) -> Any:
    """``value`` with every lone surrogate in its strings replaced by U+FFFD, in dicts, lists and tuples too."""
    if isinstance(value, str):
        return value if value.isascii() else value.encode("utf-8", "replace").decode("utf-8")
    if isinstance(value, dict):
        return {valid_text(key): valid_text(item) for key, item in value.items()}
    if type(value) in (list, tuple):  # exactly: a named tuple is a value of its own
        return type(value)(valid_text(item) for item in value)
    return value


def safe_message(text: str, limit: int = MESSAGE_LIMIT) -> str:
    """``text`` made fit for one line of stderr: lone surrogates replaced, secrets redacted, whitespace
    (line breaks included) collapsed, cut at ``limit`` characters. Redaction comes before the cut, so a cut
    can never leave a recognisable half of a secret behind."""
    text = " ".join(redact_text(valid_text(text)).split())
    return text if len(text) <= limit else text[: limit - 1] + "…"
