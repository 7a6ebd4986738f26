"""Message templates, mined Drain-style (after logpai/Drain3): mask first, then group by a fixed-depth tree.

Variable parts are masked before anything else (addresses, uuids, hex, numbers, quoted strings), so two
messages that differ only in them are one template from the start. Messages are then grouped by their token
count and first token (the tree's two fixed levels); within a group a message joins the most similar
template when at least ``similarity`` of its tokens are equal, and the differing positions become ``<*>``.
Bounded: at most ``max_templates`` templates; messages beyond that are counted in the closest one.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from upstreamkit.core.redact import redact_text

__all__ = ["Template", "TemplateMiner", "mask"]

_MASKS: tuple[tuple[re.Pattern[str], str], ...] = (
    (re.compile(r"[a-z][a-z0-9+.-]{0,15}://[^\s\"',]+"), "<URL>"),
    (re.compile(r"\b[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}\b"), "<UUID>"),
    (re.compile(r"\b(?:[0-9]{1,3}\.){3}[0-9]{1,3}(?::[0-9]{1,5})?\b"), "<IP>"),
    (re.compile(r"\bsha256:[0-9a-f]{8}\b"), "<CRED>"),
    (re.compile(r"\b(?:0x)?[0-9a-fA-F]*[0-9][0-9a-fA-F]*[a-fA-F][0-9a-fA-F]*\b|\b[0-9a-fA-F]{16,}\b"), "<HEX>"),
    (re.compile(r"(?<![A-Za-z])[0-9]+(?:\.[0-9]+)?(?![A-Za-z])"), "<NUM>"),
)
_WILD = "<*>"


def mask(message: str) -> str:
    """``message`` with its variable parts replaced by placeholders."""
    for pattern, placeholder in _MASKS:
        message = pattern.sub(placeholder, message)
    return message


@dataclass(slots=True)
class Template:
    """A group of messages: the shared tokens (``<*>`` where they differ), the count, one example."""

    tokens: list[str]
    count: int
    example: str

    @property
    def text(self) -> str:
        """The template as one string."""
        return " ".join(self.tokens)


class TemplateMiner:
    """Add messages (with a weight: how many times each was seen) and read the templates, biggest first."""

    def __init__(self, *, similarity: float = 0.5, max_templates: int = 1000, max_tokens: int = 64) -> None:
        """``similarity``: the share of equal tokens to join a template; the bounds keep memory flat."""
        self.similarity = similarity
        self.max_templates = max_templates
        self.max_tokens = max_tokens
        self._groups: dict[tuple[int, str], list[Template]] = {}
        self._size = 0

    def add(self, message: str, count: int = 1) -> None:
        """Count ``message`` (``count`` times) into its template."""
        tokens = mask(message).split()[: self.max_tokens]
        if not tokens:
            return
        key = (len(tokens), tokens[0] if not tokens[0].startswith("<") else _WILD)
        group = self._groups.setdefault(key, [])
        best, best_score = None, -1.0
        for template in group:
            same = sum(a == b for a, b in zip(template.tokens, tokens, strict=True))
            score = same / len(tokens)
            if score > best_score:
                best, best_score = template, score
        if best is not None and (best_score >= self.similarity or self._size >= self.max_templates):
            best.tokens = [a if a == b else _WILD for a, b in zip(best.tokens, tokens, strict=True)]
            best.count += count
            return
        if self._size >= self.max_templates:
            return  # a new shape once the bound is reached: counted nowhere rather than growing without end
        group.append(Template(tokens=tokens, count=count, example=message))
        self._size += 1

    def templates(self, limit: int = 20) -> list[dict[str, object]]:
        """The ``limit`` biggest templates: ``template``, ``count``, ``example`` (both redacted: a message seen
        once or always the same is its own template, and masking does not know every credential's shape)."""
        every = [template for group in self._groups.values() for template in group]
        every.sort(key=lambda template: (-template.count, template.text))
        return [
            {"template": redact_text(template.text), "count": template.count, "example": redact_text(template.example)}
            for template in every[:limit]
        ]
