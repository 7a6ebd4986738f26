"""An nginx-family format read by DuckDB's CSV tokenizer: fields split on spaces, ``"`` quoting, no regex per line.

nginx writes its access log as fields separated by spaces, the ones that may hold spaces in double quotes (it
escapes a ``"`` inside them as ``\\x22``), ``$time_local`` in brackets (``[28/Nov/2026:12:00:00 +0000]``, two
tokens). When a format's regex is such a sequence (decided from the compiled format: every piece between literal
spaces is a literal, a bare group, a quoted group or a bracketed group), ``read_csv(delim ' ', quote '"')`` reads
it near the bare query's speed. A row is **fast** when each column holds what the format's group would have
matched (checked without a regex for the usual shapes: no forbidden character), the values read as text are
printable ASCII and the line is not too long (an empty field, NULL here, makes a row not fit); its fields are then
the Python reader's. Every other line goes the exact way: a row whose columns do not fit is rebuilt as its line
(``State.RETRY``), and a row DuckDB rejects (another column count, a quote out of place, a per-attempt list
``502, 502``) is read again from the file at the place ``store_rejects`` names (:mod:`.sqlread` checks those places
and falls back to the regex statement for the whole file when they do not account for every line); both are read
by :mod:`.sqlformat`'s regex statement and, past it, by Python.

The one thing the tokenizer cannot tell: whether a field was quoted. A line with a field nginx writes bare written
in quotes without spaces (``"200"``), or one it quotes written bare (``-`` for ``"-"``), reads as its value here,
where the Python reader counts it unparsed. nginx never writes either.
"""

# S608: the SQL is written from the format definitions; no value of a log line enters the statement text.
# ruff: noqa: S608

from __future__ import annotations

import re
from dataclasses import dataclass, field

from upstreamkit.analyze.formats import MAX_LINE, LogFormat
from upstreamkit.analyze.re2dialect import printable_re2

__all__ = ["CsvLayout", "csv_layout"]

_GROUP_OPEN = re.compile(r"\(\?P<([A-Za-z_][A-Za-z0-9_]*)>")
_NEGATED = re.compile(r"\[\^((?:\\.|[^\]\\])+)\]([*+])")
_QUOTED_BODY = '(?:[^"\\\\]|\\\\.)*'
_LIST_BODY = "[^ ,]*(?:(?:, | : )[^ ,]*){0,32}"
_TIME_TWO_TOKENS = "%d/%b/%Y:%H:%M:%S %z"


def _quote(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


@dataclass(frozen=True, slots=True)
class _Piece:
    shape: str  # "literal", "bare", "quoted", "bracket"
    name: str | None
    body: str  # the group's regex, or the literal text


@dataclass(frozen=True, slots=True)
class CsvLayout:
    """One format as CSV columns: ``front`` selects ``line``, ``_valid`` and every ``f_NAME`` from ``{source}``."""

    columns: int
    front: str
    line: str
    """The line rebuilt from the columns (an expression over ``column00`` ...), for the rows read again."""
    fields: dict[str, str] = field(default_factory=dict)
    """Each group's value, an expression over the columns."""
    checks: tuple[str, ...] = ()
    """What ``_valid`` is made of, each condition on one or two columns, but the line's length and :attr:`texts`."""
    texts: tuple[str, ...] = ()
    """The conditions that the values read as text are printable ASCII (one per such field)."""
    lists_last: bool = True
    """Whether every quoted column comes before every list column: then a row with a list's extra tokens (the
    tokenizer splits ``502, 502`` in two) is rebuilt as its line by :attr:`line` and the extra columns."""
    list_start: int = 0
    """The first list's column (:attr:`columns` when there is none): the columns before it hold the same
    tokens in a row with a list's extra tokens."""

    @property
    def names(self) -> list[str]:
        """The CSV columns, which the front passes through for :attr:`line`."""
        return [f"column{index:02d}" for index in range(self.columns)]


def _split(pattern: str) -> list[str] | None:
    """``pattern`` cut at its top-level literal spaces (``" "`` or ``"\\ "``)."""
    pieces, current, depth, in_class, index = [], "", 0, False, 0
    while index < len(pattern):
        char = pattern[index]
        if char == "\\" and index + 1 < len(pattern):
            if pattern[index + 1] == " " and depth == 0 and not in_class:
                pieces.append(current)
                current, index = "", index + 2
                continue
            current += pattern[index : index + 2]
            index += 2
            continue
        if in_class:
            in_class = char != "]"
        elif char == "[":
            in_class = True
            if pattern[index + 1 : index + 3] in ("^]", "]"):
                return None
        elif char == "(":
            depth += 1
        elif char == ")":
            depth -= 1
        elif char == " " and depth == 0:
            pieces.append(current)
            current, index = "", index + 1
            continue
        current += char
        index += 1
    pieces.append(current)
    return pieces if depth == 0 and not in_class else None


def _piece(text: str) -> _Piece | None:
    for shape, before, after in (("quoted", '"', '"'), ("bracket", "\\[", "\\]"), ("bare", "", "")):
        if not (text.startswith(before) and text.endswith(after)):
            continue
        inner = text[len(before) : len(text) - len(after)]
        match = _GROUP_OPEN.match(inner)
        if match is None or not inner.endswith(")"):
            continue
        depth = 0
        for position, char in enumerate(inner):  # the group must close at the piece's end
            depth += {"(": 1, ")": -1}.get(char, 0) if position == 0 or inner[position - 1] != "\\" else 0
            if depth == 0 and position != len(inner) - 1:
                return None
        return _Piece(shape, match.group(1), inner[match.end() : -1])
    if re.fullmatch(r"(?:\\.|[A-Za-z0-9_\-:/@.,=#%])+", text):
        return _Piece("literal", None, re.sub(r"\\(.)", r"\1", text))
    return None


def _fits(value: str, body: str) -> str | None:
    """SQL: ``value`` (one token, printable) is what the group ``body`` matches whole; None when unsure."""
    if body == _QUOTED_BODY:
        return f"(strpos({value}, '\"') = 0 AND strpos({value}, '\\') = 0)"
    if body == ".*":  # Python's "." is anything but a newline
        return f"(strpos({value}, chr(10)) = 0)"
    if body == _LIST_BODY:
        return f"(strpos({value}, ',') = 0 AND strpos({value}, ' ') = 0)"
    negated = _NEGATED.fullmatch(body)
    if negated is not None:
        chars = sorted({*re.sub(r"\\(.)", r"\1", negated.group(1))})
        checks = [f"strpos({value}, {_quote(char)}) = 0" for char in chars]
        if negated.group(2) == "+":
            checks.append(f"strlen({value}) > 0")
        return "(" + " AND ".join(checks) + ")"
    restricted = printable_re2(body)
    return None if restricted is None else f"regexp_full_match({value}, {_quote(restricted)})"


def csv_layout(fmt: LogFormat, texts: set[str]) -> CsvLayout | None:
    """``fmt`` as space-separated CSV columns, or None when its regex is not such a sequence. ``texts``: the
    fields read as text (checked printable)."""
    if fmt.regex is None:
        return None
    pieces = _split(fmt.regex.pattern)
    if pieces is None:
        return None
    parsed = [_piece(text) for text in pieces]
    if any(piece is None for piece in parsed):
        return None
    columns: list[str] = []  # per CSV column: its text rebuilt as the line had it
    checks: list[str] = []
    fields: dict[str, str] = {}
    for piece in parsed:
        assert piece is not None  # noqa: S101 - checked above
        column = f"column{len(columns):02d}"
        if piece.name == fmt.time_field and piece.shape == "bracket" and fmt.time_format == _TIME_TWO_TOKENS:
            second = f"column{len(columns) + 1:02d}"
            columns += [column, second]
            checks += [f"starts_with({column}, '[')", f"ends_with({second}, ']')"]
            fields[piece.name] = f"substr({column}, 2) || ' ' || left({second}, strlen({second}) - 1)"
            checks.append(f"strpos({column} || {second}, ']') = strlen({column}) + strlen({second})")
            continue
        columns.append(column)
        if piece.shape == "literal":
            checks.append(f"{column} = {_quote(piece.body)}")
            continue
        value = column
        if piece.shape == "bracket":
            checks += [f"starts_with({column}, '[')", f"ends_with({column}, ']')", f"strlen({column}) >= 2"]
            value = f"substr({column}, 2, strlen({column}) - 2)"
        fits = _fits(value, piece.body)
        if fits is None:
            return None
        checks.append(fits)
        assert piece.name is not None  # noqa: S101 - a group has a name
        fields[piece.name] = value
    if len(columns) > 64:
        return None
    rebuilt = [
        f"'\"' || replace(coalesce({column}, ''), '\"', '\"\"') || '\"'"
        if piece == "quoted"
        else f"coalesce({column}, '')"
        for column, piece in zip(columns, _shapes(parsed, fmt), strict=True)
    ]
    line = " || ' ' || ".join(rebuilt)
    structural = tuple(checks)
    length = " + ".join(f"strlen({column})" for column in columns)
    checks.append(f"{length} + {len(columns) + 32} <= {MAX_LINE}")
    # the values the steps read as text: printable ASCII, as the regex statement requires (Python's steps
    # replace other characters); numbers and the time are checked digit by digit after this
    texts_checks = tuple(f"regexp_full_match({fields[name]}, '[ -~]*')" for name in sorted(texts & set(fields)))
    checks += list(texts_checks)
    passed = ", ".join(f"column{index:02d}" for index in range(len(columns)))
    front = (
        f"SELECT {passed}, coalesce({' AND '.join(checks)}, false) AS _valid, "
        + ", ".join(f"{value} AS f_{name}" for name, value in fields.items())
        + " FROM {source}"
    )
    shapes = [piece.shape for piece in parsed if piece is not None]
    bodies = [piece.body for piece in parsed if piece is not None]
    first_list = next((index for index, body in enumerate(bodies) if body == _LIST_BODY), len(bodies))
    # the piece's column: a two-token time before it takes two
    list_column = first_list + sum(
        1 for piece in parsed[:first_list] if piece is not None and _shapes([piece], fmt) == [piece.shape, piece.shape]
    )
    return CsvLayout(
        columns=len(columns),
        front=front,
        line=line,
        fields=fields,
        checks=structural,
        texts=texts_checks,
        lists_last="quoted" not in shapes[first_list:],
        list_start=list_column,
    )


def _shapes(parsed: list[_Piece | None], fmt: LogFormat) -> list[str]:
    """Each CSV column's shape (the two-token time is two bracket halves)."""
    shapes: list[str] = []
    for piece in parsed:
        assert piece is not None  # noqa: S101 - checked by the caller
        two = piece.name == fmt.time_field and piece.shape == "bracket" and fmt.time_format == _TIME_TWO_TOKENS
        shapes += [piece.shape, piece.shape] if two else [piece.shape]
    return shapes
