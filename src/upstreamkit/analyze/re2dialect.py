"""Python regexes written for RE2 (DuckDB's regex engine), cut down to printable ASCII.

Over printable ASCII the two engines agree on these patterns: the same classes, leftmost-first alternation, no
lookaround or backreference (refused here), no Unicode-aware ``\\d``/``\\w``/``\\s`` (refused too). Every class
and ``.`` is written as explicit ``\\xHH`` ranges of printable characters, so a line with any other character
does not match.
"""

from __future__ import annotations

import re

__all__ = ["PRINTABLE", "printable_class", "printable_re2"]

PRINTABLE = range(0x20, 0x7F)
_COUNT = re.compile(r"\{[0-9]+(?:,[0-9]*)?\}")


def _class_members(body: str) -> set[int] | None:
    """The characters of a regex class body (without brackets and ``^``); None for what this does not read."""
    members: set[int] = set()
    index = 0
    previous: int | None = None
    while index < len(body):
        char = body[index]
        if char == "\\":
            if index + 1 >= len(body) or body[index + 1].isalnum():
                return None  # \d, \s, \w ...: Unicode-aware in Python, not here
            code = ord(body[index + 1])
            index += 2
        elif char == "-" and previous is not None and index + 1 < len(body):
            end = body[index + 1]
            if end == "\\":
                if index + 2 >= len(body) or body[index + 2].isalnum():
                    return None
                end, index = body[index + 2], index + 3
            else:
                index += 2
            members.update(range(previous, ord(end) + 1))
            previous = None
            continue
        else:
            code = ord(char)
            index += 1
        members.add(code)
        previous = code
    return members


def printable_class(codes: set[int]) -> str:
    """A class of the printable characters among ``codes`` (one that matches nothing when there are none)."""
    chosen = sorted(code for code in codes if code in PRINTABLE)
    if not chosen:
        return "[^\\x00-\\x{10FFFF}]"  # matches nothing
    parts: list[str] = []
    start = last = chosen[0]
    for code in [*chosen[1:], -1]:
        if code == last + 1:
            last = code
            continue
        parts.append(f"\\x{start:02x}" if start == last else f"\\x{start:02x}-\\x{last:02x}")
        start = last = code
    return "[" + "".join(parts) + "]"


def printable_re2(pattern: str) -> str | None:
    """``pattern`` (Python) for RE2, every class and ``.`` cut down to printable ASCII; None when it uses what
    the two engines read differently (lookaround, backreferences, ``\\d``-style classes, flags)."""
    out: list[str] = []
    index = 0
    while index < len(pattern):
        char = pattern[index]
        if char == "\\":
            if index + 1 >= len(pattern) or pattern[index + 1].isalnum():
                return None
            out.append(printable_class({ord(pattern[index + 1])}))
            index += 2
        elif char == "[":
            close = index + 1
            negated = pattern[close : close + 1] == "^"
            close += 1 if negated else 0
            start = close
            close += 1 if pattern[close : close + 1] == "]" else 0  # a "]" first is a member
            while close < len(pattern) and pattern[close] != "]":
                close += 2 if pattern[close] == "\\" else 1
            if close >= len(pattern):
                return None
            members = _class_members(pattern[start:close])
            if members is None:
                return None
            out.append(printable_class(set(PRINTABLE) - members if negated else members))
            index = close + 1
        elif char == ".":
            out.append(printable_class(set(PRINTABLE)))
            index += 1
        elif char == "(" and pattern[index + 1 : index + 2] == "?":
            if pattern.startswith(("(?:", "(?P<"), index) and not pattern.startswith("(?P=", index):
                out.append(char)
                index += 1
            else:
                return None
        elif char == "{":
            count = _COUNT.match(pattern, index)
            if count is None:
                return None
            out.append(count.group(0))
            index = count.end()
        elif char in "]}":
            out.append(printable_class({ord(char)}))
            index += 1
        else:
            out.append(char)  # ( ) | * + ? { ^ $ and repetition counts
            index += 1
    return "".join(out)
