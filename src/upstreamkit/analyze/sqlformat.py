"""nginx-family formats compiled to SQL: the same regex and steps, as DuckDB expressions over one line.

Python's reader (:func:`~.formats.parse_line` then :mod:`.steps`) stays the definition; this module writes the
same format as SQL for the lines where the two provably agree, and says which lines must go to Python:

- **valid**: the line matches the format's regex with every character class cut down to printable ASCII and
  nginx's ``a : b`` lists (internal redirects) left out: RE2 (DuckDB's regex engine) and Python's ``re`` then
  read the line the same way, so the fields are the same;
- **plain**: the line is printable ASCII of at most :data:`~.formats.MAX_LINE` characters, without `` : `` and
  with at most 32 list separators (nginx's bound): when such a line is not valid, Python's regex cannot match it
  either (it is unparsed);
- every other line (other bytes, control characters, an odd time or number) is read by Python.

Fields are pulled three at a time: RE2's one-pass matcher (linear, no backtracking state) serves only a few
submatches, and past that RE2 falls back to a matcher several times slower on every line (measured: 3 groups
per call is the most that stays fast).
"""

# S608: the SQL here is written from the format definitions (formats.toml, an nginx log_format compiled by
# logformat.py), every regex and literal quoted by _quote; no value of a log line ever enters the statement text.
# ruff: noqa: S608

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field

from upstreamkit.analyze.csvformat import CsvLayout, csv_layout
from upstreamkit.analyze.formats import MAX_LINE, LogFormat
from upstreamkit.analyze.re2dialect import PRINTABLE, printable_class, printable_re2
from upstreamkit.analyze.steps import status_kinds

__all__ = ["SqlFormat", "State", "sql_format"]

_GROUP = re.compile(r"\(\?P<([A-Za-z_][A-Za-z0-9_]*)>")
# logformat.py writes nginx's per-attempt lists so; without the " : " branch the list is one-pass in RE2
_LIST_SEPARATORS = "(?:, | : )"
_TEXT_LIMIT = 512
_PER_CALL = 3
_TIME_SHAPES: Mapping[str, tuple[str, str]] = {
    "%d/%b/%Y:%H:%M:%S %z": (
        (
            r"(?:0[1-9]|[12][0-9]|3[01])/(?:Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec)/[1-9][0-9]{3}"
            r":(?:[01][0-9]|2[0-3]):[0-5][0-9]:[0-5][0-9] [+-](?:[01][0-9]|2[0-3])[0-5][0-9]"
        ),
        "%d/%b/%Y:%H:%M:%S %z",
    ),
    "rfc3339": (
        (
            r"[1-9][0-9]{3}-(?:0[1-9]|1[0-2])-(?:0[1-9]|[12][0-9]|3[01])T(?:[01][0-9]|2[0-3]):[0-5][0-9]:[0-5][0-9]"
            r"[+-](?:[01][0-9]|2[0-3]):[0-5][0-9]"
        ),
        "%Y-%m-%dT%H:%M:%S%z",
    ),
}
_ID = (
    r"/(?:[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}|[0-9]+|[0-9a-fA-F]{16,}"
    r"|[A-Za-z0-9_-]{24,})(/|$)"
)


class State:
    """What became of a line (the ``state`` column of ``event_rows``)."""

    OK = 0
    PYTHON = 1
    UNPARSED = 2
    OUTSIDE = 3
    BLANK = 4
    RETRY = 5
    """Read by the CSV tokenizer, not fitting the format there: read again by the regex statement."""


def _quote(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def _text(raw: str) -> str:
    """steps._text: at most 512 characters; "" and "-" are no value (the line is printable ASCII here)."""
    # strlen counts bytes: at most 512 of them is at most 512 characters, and left() (per character) is skipped
    return (
        f"CASE WHEN {raw} IN ('', '-') THEN NULL WHEN strlen({raw}) <= {_TEXT_LIMIT} THEN {raw}"
        f" ELSE left({raw}, {_TEXT_LIMIT}) END"
    )


def _digits(text: str, most: int) -> str:
    """``text`` is 1 to ``most`` ASCII digits (what ``str.isdigit`` says of an ASCII string), without a regex."""
    return f"(strlen({text}) BETWEEN 1 AND {most} AND ltrim({text}, '0123456789') = '')"


def _int(raw: str) -> str:
    """steps._int: the last attempt of an nginx list (``502, 200``; ``a : b``), when it is 1 to 3 digits."""
    last = f"trim(string_split(trim(string_split({raw}, ',')[-1]), ':')[-1])"
    return (
        f"CASE WHEN {_digits(raw, 3)} THEN CAST({raw} AS INTEGER)"
        f" WHEN {_digits(last, 3)} THEN CAST({last} AS INTEGER) END"
    )


def _is_number(text: str) -> str:
    """``text`` is digits with at most one inner dot, at most 32 characters: what SQL and Python read alike."""
    return (
        f"(strlen({text}) BETWEEN 1 AND 32 AND ltrim({text}, '0123456789.') = ''"
        f" AND NOT starts_with({text}, '.') AND NOT ends_with({text}, '.')"
        f" AND strlen({text}) - strlen(replace({text}, '.', '')) <= 1)"
    )


def status_ranges(*, by_kind: bool) -> list[tuple[int, int, str]]:
    """The failing statuses (steps.status_kinds) as runs of consecutive codes: of one kind each (``by_kind``), or
    whatever their kinds (then each run names its first code's kind)."""
    ranges: list[tuple[int, int, str]] = []
    for code, kind in sorted(status_kinds().items()):
        if ranges and ranges[-1][1] == code - 1 and (not by_kind or ranges[-1][2] == kind):
            ranges[-1] = (ranges[-1][0], code, ranges[-1][2])
        else:
            ranges.append((code, code, kind))
    return ranges


def _kind(status: str) -> str:
    """The kind a status gives (steps._status_kind), as ranges of statuses with one kind."""
    ranges = status_ranges(by_kind=True)
    whens = " ".join(
        f"WHEN {status} = {low} THEN {_quote(kind)}"
        if low == high
        else f"WHEN {status} BETWEEN {low} AND {high} THEN {_quote(kind)}"
        for low, high, kind in ranges
    )
    return f"CASE {whens} END"


def time_value(raw: str, time_format: str) -> tuple[str, list[str]]:
    """The epoch seconds of the time text ``raw`` (steps._parse_time), and what ``raw`` must be for SQL and Python
    to read it alike (else the line goes the exact way)."""
    if time_format == "epoch":
        number = f"trim(string_split({raw}, ',')[-1])"
        return (
            f"CASE WHEN {_is_number(number)} AND CAST({number} AS DOUBLE) < 1e11 THEN CAST({number} AS DOUBLE) END",
            [f"{raw} <> ''"],
        )
    shape, strformat = _TIME_SHAPES[time_format]
    shaped = f"regexp_full_match({raw}, {_quote(shape)})"
    return f"epoch(try_strptime({raw}, {_quote(strformat)}))", [f"{raw} <> ''", shaped]


def number_value(raw: str, scale: float) -> tuple[str, str]:
    """steps._float of one value (no list) times ``scale``, and the condition that SQL reads it as Python does."""
    return (
        f"CASE WHEN {_is_number(raw)} THEN CAST({raw} AS DOUBLE) * {scale!r} END",
        f"({raw} IN ('', '-') OR {_is_number(raw)})",
    )


def normalized_path(endpoint: str) -> str:
    """steps.normalize_path of the (printable, at most 512 characters) path ``endpoint``."""
    # one pass over the path with every "/" doubled, so that consecutive ids each keep the "/" before them
    # (RE2 has no lookaround: a match takes the "/" after its id)
    doubled = f"replace(split_part(split_part({endpoint}, '?', 1), '#', 1), '/', '//')"
    return (
        f"CASE WHEN strlen({endpoint}) < 17 AND translate({endpoint}, '0123456789', '') = {endpoint}"
        f" THEN split_part(split_part({endpoint}, '?', 1), '#', 1)"  # no digit, no long segment: no id to mask
        f" ELSE replace(regexp_replace({doubled}, {_quote(_ID)}, '/{{id}}\\1', 'g'), '//', '/') END"
    )


def origin(upstream: str) -> str:
    """The upstream's origin when nginx names a URL (``http://pay:8080/v1`` -> ``http://pay:8080``)."""
    at = f"strpos({upstream}, '://')"
    return (
        f"CASE WHEN {at} > 0 THEN left({upstream}, {at} + 2) || split_part(substr({upstream}, {at} + 3), '/', 1)"
        f" ELSE {upstream} END"
    )


def credential_value(raw: str) -> str:
    """steps' credential: the value's fingerprint unless it is one already; None for no value."""
    return (
        f"CASE WHEN {raw} IN ('', '-') THEN NULL"
        f" WHEN starts_with({raw}, 'sha256:') AND length({raw}) <= 40 THEN {raw}"
        f" ELSE 'sha256:' || left(sha256({raw}), 8) END"
    )


def text_fields(fields: Mapping[str, str]) -> set[str]:
    """The format's groups that the steps read as text (``fields``: event column -> group)."""
    return {
        fields[column]
        for column in ("request", "endpoint", "method", "upstream", "credential", "gateway", "client")
        if column in fields
    }


text_value = _text
int_value = _int
kind_of = _kind


@dataclass(frozen=True, slots=True)
class SqlFormat:
    """One format as SQL: ``select`` reads a relation with a ``line`` column into the event rows."""

    name: str
    select: str
    """``SELECT <COLUMNS>, state, line`` over ``{source}`` (a relation with a ``line`` column), with parameters
    ``$since`` and ``$until`` (NULL when not given) and ``$file``."""
    fast: str | None = None
    """The same over ``{source}`` read by the CSV tokenizer (:mod:`.csvformat`), when the format splits so."""
    csv_columns: int = 0
    layout: CsvLayout | None = None
    """The CSV layout :attr:`fast` reads (None when there is none)."""
    fields: Mapping[str, str] = field(default_factory=dict)
    """Event column -> the format's group, the credential field included."""


def _cut(text: str, last_open: int) -> str:
    """``text`` up to the end of the group opened at ``last_open`` and the one literal character after it (which
    stops the group: with it the pattern stays one-pass)."""
    depth = 0
    for position in range(last_open, len(text)):  # no escaped parentheses: printable_re2 writes classes
        depth += {"(": 1, ")": -1}.get(text[position], 0)
        if depth == 0:
            after = text[position + 1 :]
            if after.startswith("[\\x"):
                return text[: position + 1 + after.index("]") + 1]
            if after[:1] and after[0] not in "()|*+?{^$":
                return text[: position + 2]
            return text[: position + 1]
    return text


def _keep_groups(pattern: str, names: list[str]) -> str:
    """``pattern`` with every named group but ``names`` made non-capturing."""
    return _GROUP.sub(lambda match: match.group(0) if match.group(1) in names else "(?:", pattern)


def _extractions(names: list[str], time_field: str, pattern: str) -> list[tuple[str, list[str]]]:
    """The regexp_extract calls: up to three of ``names`` each. The last call matches the whole line (the pattern,
    then any printable rest to the end), with the time among its groups: its time is "" exactly when the line is
    not valid (a valid line's time is never empty), so no other call validates; the others end after their last
    group. nginx's list bound ``{0,32}`` becomes ``*`` (counted repetitions leave RE2's one-pass matcher): the
    caller sends lines with more than 32 list separators to Python."""
    fast = pattern.replace("{0,32}", "*")
    last = [time_field, *[name for name in names if name != time_field][-(_PER_CALL - 1) :]]
    rest = [name for name in names if name not in last]
    calls = []
    for start in range(0, len(rest), _PER_CALL):
        chosen = rest[start : start + _PER_CALL]
        text = _keep_groups(fast, chosen)
        calls.append(("^" + _cut(text, [match.start() for match in _GROUP.finditer(text)][-1]), chosen))
    text = _keep_groups(fast, last)
    calls.append(("^" + text + _to_end(text), [name for name in names if name in last]))
    return calls


def _to_end(text: str) -> str:
    """What ends the validating pattern: the end of the line, after any printable rest (Python's ``match`` does
    not read past the pattern); a pattern ending in ``.*`` already takes that rest (and stays one-pass)."""
    return "$" if text.endswith(printable_class(set(PRINTABLE)) + "*)") else printable_class(set(PRINTABLE)) + "*$"


def _layers(*selects: str) -> str:
    """Each SELECT reads the one before it (``{prev}``); the first reads ``{source}``."""
    query = "{source}"
    for select in selects:
        query = "(" + select.replace("{prev}", query) + ")"
    return query[1:-1]


def sql_format(  # noqa: PLR0915 - one format's columns, in the steps' order
    fmt: LogFormat, credential_field: str | None = None, layout: CsvLayout | None = None
) -> SqlFormat | None:
    """``fmt`` as SQL, or None when it is not an nginx-family format this module can read exactly. With
    ``layout``, the statement reads the CSV columns its ``front`` names (a line that does not fit is ``RETRY``)."""
    if (
        fmt.kind != "regex"
        or fmt.regex is None
        or fmt.flags is not None
        or fmt.submatch
        or fmt.message_cut is not None
        or fmt.request_when is not None
        or not fmt.request
        or fmt.time_format not in (*_TIME_SHAPES, "epoch")
    ):
        return None
    pattern = fmt.regex.pattern.replace(_LIST_SEPARATORS, ", ")
    has_lists = pattern != fmt.regex.pattern
    restricted = printable_re2(pattern)
    if restricted is None or _LIST_SEPARATORS in restricted:
        return None
    fields = dict(fmt.fields)
    if credential_field:
        fields["credential"] = credential_field.lstrip("$")
    groups = list(fmt.regex.groupindex)
    if fmt.time_field not in groups or {"message", "kind", "region"} & set(fields):
        return None
    wanted = [name for name in groups if name in {*fields.values(), fmt.time_field}]
    calls = _extractions(wanted, fmt.time_field, restricted)

    def raw(column: str) -> str | None:
        name = fields.get(column)
        return f"f_{name}" if name in wanted else None

    # layer 1: the regex calls; layer 2: their fields as columns
    extract = ", ".join(
        f"regexp_extract(line, {_quote(call)}, [{', '.join(_quote(name) for name in names)}]) AS m{index}"
        for index, (call, names) in enumerate(calls)
    )
    layer1 = f"SELECT line, {extract} FROM {{prev}}"
    unpack = ", ".join(f'm{index}."{name}" AS f_{name}' for index, (_, names) in enumerate(calls) for name in names)
    layer2 = f"SELECT line, {unpack} FROM {{prev}}"
    if layout is not None:
        layer1, layer2 = layout.front.replace("{source}", "{prev}"), "SELECT * FROM {prev}"
    # layer 3: values read once (time, request, numbers' last list values)
    time_raw = f"f_{fmt.time_field}"
    third = {"line": "line"} if layout is None else {"_valid": "_valid"} | {name: name for name in layout.names}
    third.update({f"f_{name}": f"f_{name}" for name in wanted})
    checks = [f"{time_raw} <> ''"]
    third["ts"], time_checks = time_value(time_raw, fmt.time_format)
    checks += [*time_checks[1:], "ts IS NOT NULL"]
    endpoint, method, request = raw("endpoint"), raw("method"), raw("request")
    third["_request"] = _text(request) if request and not endpoint else "NULL::VARCHAR"
    for column in ("duration_ms", "upstream_ms"):
        source = raw(column)
        if source is not None:
            # the CSV reader's rows hold no list (no comma: checked), the value is the last attempt's already
            third[f"_{column}"] = source if layout is not None else f"trim(string_split({source}, ',')[-1])"
            checks.append(number_value(f"_{column}", 1.0)[1])
    layer3 = "SELECT " + ", ".join(f"{expr} AS {name}" for name, expr in third.items()) + " FROM {prev}"
    # layer 4: the request line split once
    # the request line's first two words (Python's split(" ")[:2]), without a list per row
    layer4 = (
        "SELECT *, strpos(_request, ' ') > 0 AS _two, split_part(_request, ' ', 1) AS _word1,"
        " split_part(_request, ' ', 2) AS _word2 FROM {prev}"
    )
    # layer 5: the columns, as steps.values() makes them
    fifth: dict[str, str] = {"ts": "ts", "line": "line"} if layout is None else {"ts": "ts"}
    if layout is not None:
        fifth |= {name: name for name in layout.names}
    method_text = _text(method) if method else "NULL::VARCHAR"
    if endpoint is not None:
        fifth["_endpoint"] = _text(endpoint)
        fifth["method"] = method_text
    elif request is not None:
        target = "_word2"
        after = f"substr({target}, strpos({target}, '://') + 3)"
        path = f"'/' || CASE WHEN strpos({after}, '/') > 0 THEN substr({after}, strpos({after}, '/') + 1) ELSE '' END"
        whole = f"CASE WHEN strpos({target}, '://') > 0 THEN {path} ELSE {target} END"
        fifth["method"] = f"CASE WHEN _two THEN {_text('_word1')} ELSE {method_text} END"
        fifth["_endpoint"] = f"CASE WHEN _two THEN {_text(whole)} END"
    else:
        fifth["_endpoint"] = "NULL::VARCHAR"
        fifth["method"] = method_text
    upstream = raw("upstream")
    fifth["_upstream"] = _text(upstream) if upstream else "NULL::VARCHAR"
    for column in ("status", "upstream_status"):
        source = raw(column)
        fifth[column] = _int(source) if source else "NULL::INTEGER"
    for column in ("duration_ms", "upstream_ms"):
        if f"_{column}" in third:
            fifth[column] = number_value(f"_{column}", fmt.scale.get(column, 1.0))[0]
        else:
            fifth[column] = "NULL::DOUBLE"
    credential = raw("credential")
    fifth["credential"] = credential_value(credential) if credential else "NULL::VARCHAR"
    for column in ("gateway", "client"):
        source = raw(column)
        fifth[column] = _text(source) if source else "NULL::VARCHAR"
    # what makes a line "plain" (see the module docstring); a valid line is printable already
    short = f"strlen(line) <= {MAX_LINE} AND strpos(line, chr(0)) = 0"  # RE2 is handed text up to a NUL
    if has_lists:  # no " : " lists, at most 32 list separators in all
        short += " AND strpos(line, ' : ') = 0 AND strlen(line) - strlen(replace(line, ', ', '')) <= 64"
    plain = f"{short} AND regexp_full_match(line, '[ -~]*')"
    fifth["state"] = (
        f"CASE WHEN line IS NULL OR trim(line) = '' THEN {State.BLANK}"
        f" WHEN {time_raw} = '' AND NOT regexp_matches(line, {_quote(calls[-1][0])}) THEN"
        f" CASE WHEN {plain} THEN {State.UNPARSED} ELSE {State.PYTHON} END"
        f" WHEN NOT ({short}) OR NOT ({' AND '.join(checks)}) THEN {State.PYTHON}"
        f" WHEN ts < $since OR ts >= $until THEN {State.OUTSIDE} ELSE {State.OK} END"
    )
    if layout is not None:
        fifth["state"] = (
            f"CASE WHEN NOT _valid OR NOT ({' AND '.join(checks)}) THEN {State.RETRY}"
            f" WHEN ts < $since OR ts >= $until THEN {State.OUTSIDE} ELSE {State.OK} END"
        )
    layer5 = "SELECT " + ", ".join(f"{expr} AS {name}" for name, expr in fifth.items()) + " FROM {prev}"
    # layer 6: what needs a column of layer 5 (the normalised path, the upstream's origin, the kind)
    line = "line" if layout is None else layout.line
    layer6 = (
        f"SELECT ts, {normalized_path('_endpoint')} AS endpoint, method,"
        f" {origin('_upstream')} AS upstream, status, upstream_status, {_kind('status')} AS kind,"
        " true AS is_request, duration_ms, upstream_ms, credential,"
        " gateway, client, NULL::VARCHAR AS message, $file AS file, state,"
        f" CASE WHEN state IN ({State.PYTHON}, {State.RETRY}) THEN {line} END AS line FROM {{prev}}"
    )
    layer7 = (
        "SELECT ts, endpoint, method, upstream, status, upstream_status, kind, kind IS NOT NULL AS failed, is_request,"
        " duration_ms, upstream_ms, credential, gateway, client, message, file, state, line FROM {prev}"
    )
    select = _layers(layer1, layer2, layer3, layer4, layer5, layer6, layer7)
    if layout is not None:
        return SqlFormat(name=fmt.name, select=select)
    csv = csv_layout(fmt, text_fields(fields))
    fast = sql_format(fmt, credential_field, csv) if csv is not None else None
    return SqlFormat(
        name=fmt.name,
        select=select,
        fast=fast.select if fast is not None else None,
        csv_columns=csv.columns if csv is not None else 0,
        layout=csv,
        fields=fields,
    )
