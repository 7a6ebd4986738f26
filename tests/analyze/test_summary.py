"""One access log counted in one scan (analyze/summary.py) gives the document the exact way gives, line for line:
clean logs, every hostile variant of the readers' suite, lists, noise, and files the scan must refuse."""

from __future__ import annotations

import random
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis_settings import FUZZ
from test_sql_format import NOISE, SQL_FORMATS, VARIANTS

from upstreamkit.analyze import analysis, summary
from upstreamkit.analyze.options import AnalyzeOptions, AnalyzeUsageError
from upstreamkit.analyze.sqlformat import sql_format

DOCUMENTS = settings(FUZZ, max_examples=max(FUZZ.max_examples // 6, 20))
"""Each example analyses a file twice: a sixth of the hostile suite's examples."""


def _options(name: str, credential: str | None) -> AnalyzeOptions:
    fmt = SQL_FORMATS[name][0]
    custom = fmt if fmt.name == "nginx-log-format" else None
    return AnalyzeOptions(format="nginx" if custom else fmt.name, custom_format=custom, credential_field=credential)


def _both(path: Path, name: str, monkeypatch: pytest.MonkeyPatch) -> tuple[dict[str, Any], bool]:
    """The document by the scan and by the exact way (asserted equal), and whether the scan read the file."""
    _, _, credential = SQL_FORMATS[name]
    options = _options(name, credential)
    taken: list[bool] = []
    original = summary.summarize

    def watched(*args: Any, **kwargs: Any) -> bool:
        taken.append(original(*args, **kwargs))
        return taken[-1]

    monkeypatch.setattr(analysis, "summarize", watched)
    scanned = _outcome(path, options, summary=True)
    exact = _outcome(path, options, summary=False)
    assert scanned == exact
    assert len(taken) == 1
    return scanned if isinstance(scanned, dict) else {}, taken[0]


def _outcome(path: Path, options: AnalyzeOptions, *, summary: bool) -> dict[str, Any] | str:
    """The document, or the usage error's message (a window too wide for its buckets is one, either way)."""
    try:
        return analysis.analyze([str(path)], options, summary=summary)
    except AnalyzeUsageError as exc:
        return str(exc)


def _clean_lines(base: str, count: int, seed: int = 7) -> list[str]:
    """``count`` lines of ``base`` with other seconds, statuses and ids: what a healthy log looks like."""
    rng = random.Random(seed)
    lines = []
    for index in range(count):
        line = base
        for old, choices in (
            ("14:00:01", [f"14:{minute:02d}:{second:02d}" for minute in range(30) for second in (1, 17, 42)]),
            (" 502 ", [" 200 ", " 200 ", " 200 ", " 502 ", " 504 ", " 401 ", " 429 "]),
            ("/12 ", [f"/{n} " for n in range(1, 40)]),
            ("/123", [f"/{n}" for n in range(100, 140)]),
            ("/99 ", [f"/{n} " for n in range(1, 40)]),
            ("alice", ["alice", "carol", "-"]),
            ("bob", ["bob", "dave"]),
            ("1795874401.250", [f"{1795874401 + index * 7}.{rng.randrange(1000):03d}"]),
        ):
            line = line.replace(old, rng.choice(choices), 1)
        lines.append(line)
    return lines


def test_the_scan_serves_the_common_nginx_formats() -> None:
    for name in ("nginx", "nginx-upstreaminfo"):
        fmt, _, credential = SQL_FORMATS[name]
        plan = sql_format(fmt, credential)
        assert plan is not None
        assert plan.fast is not None


@pytest.mark.parametrize("name", list(SQL_FORMATS))
def test_a_clean_log_is_counted_by_the_scan_to_the_same_document(
    name: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _, base, _ = SQL_FORMATS[name]
    path = tmp_path / "access.log"
    path.write_text("\n".join(_clean_lines(base, 400)) + "\n\n", encoding="utf-8")
    document, scanned = _both(path, name, monkeypatch)
    fmt, _, credential = SQL_FORMATS[name]
    plan = sql_format(fmt, credential)
    assert plan is not None
    # the scan reads every format DuckDB's CSV tokenizer can split (the test would prove nothing otherwise)
    assert scanned == (plan.fast is not None)
    assert (document["lines"], document["parsed"], document["unparsed"]) == (400, 400, 0)
    assert sum(row["failures"] for row in document["series"]) > 0
    assert document["clusters"]["by_endpoint"]  # and the keys came through


SCANNED = [name for name in SQL_FORMATS if getattr(sql_format(*SQL_FORMATS[name][::2]), "fast", None)]
"""The formats the scan reads (the others are read the exact way whatever the lines)."""


@pytest.mark.parametrize("name", SCANNED)
@pytest.mark.parametrize("variant", range(len(VARIANTS) + len(NOISE)))
def test_each_hostile_line_in_a_clean_log_gives_the_same_document(
    name: str, variant: int, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _, base, _ = SQL_FORMATS[name]
    if variant < len(VARIANTS):
        old, new = VARIANTS[variant]
        if old not in base:
            return
        odd = [base.replace(old, new, 1)]
    else:
        odd = [NOISE[variant - len(VARIANTS)]]
    lines = _clean_lines(base, 60)
    lines[30:30] = odd
    path = tmp_path / "access.log"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    _both(path, name, monkeypatch)


@DOCUMENTS
@given(data=st.data())
def test_any_mix_of_hostile_lines_gives_the_same_document(data: st.DataObject) -> None:
    name = data.draw(st.sampled_from(list(SQL_FORMATS)))
    _, base, _ = SQL_FORMATS[name]
    pool = [base.replace(old, new, 1) for old, new in VARIANTS if old in base] + list(NOISE[:-1])
    odd = data.draw(st.lists(st.sampled_from(pool), max_size=6))
    lines = _clean_lines(base, 40, seed=data.draw(st.integers(0, 1000)))
    for line in odd:
        lines.insert(data.draw(st.integers(0, len(lines))), line)
    with pytest.MonkeyPatch.context() as monkeypatch, _scratch() as directory:
        path = directory / "access.log"
        path.write_text("\n".join(lines) + "\n", encoding="utf-8")
        _both(path, name, monkeypatch)


def _scratch() -> Any:
    import tempfile  # noqa: PLC0415 - hypothesis examples cannot take pytest's tmp_path

    class Scratch:
        def __enter__(self) -> Path:
            self.directory = tempfile.TemporaryDirectory()
            return Path(self.directory.name)

        def __exit__(self, *exc: object) -> None:
            self.directory.cleanup()

    return Scratch()


def test_per_attempt_lists_are_read_by_the_scan(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # nginx's "502, 504" lists split into extra tokens: those rows are rebuilt as lines and read the exact way,
    # inside the scan's run (the file is not sent the exact way for them)
    _, base, _ = SQL_FORMATS["nginx-upstreaminfo"]
    single = base.replace("10.0.0.1:8080, 10.0.0.2:8080 0, 0 3.001, 0.002 504, 502", "10.0.0.1:8080 0 3.001 504")
    lines = _clean_lines(single, 100) + _clean_lines(base, 20, seed=3)
    path = tmp_path / "access.log"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    document, scanned = _both(path, "nginx-upstreaminfo", monkeypatch)
    assert scanned
    assert document["parsed"] == 120


@pytest.mark.parametrize(
    ("why", "text"),
    [
        ("a line cut short (too few tokens to rebuild)", "{base}\n{half}\n{base}\n"),
        ("a CR, which ends a line for Python", "{base}\r{base}\n"),
        ("more list tokens than the scan has columns", "{base}\n{long_lists}\n"),
        ("a line over the readers' limit", "{base}\n{base} {pad}\n"),
    ],
)
def test_what_the_scan_cannot_read_exactly_goes_the_exact_way(
    why: str, text: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _, base, _ = SQL_FORMATS["nginx-upstreaminfo"]
    attempts = summary.EXTRA_COLUMNS + 2
    long_lists = base.replace("504, 502", ", ".join(["502"] * attempts)).replace(
        "3.001, 0.002", ", ".join(["0.001"] * attempts)
    )
    path = tmp_path / "access.log"
    path.write_text(
        text.format(base=base, half=base[: len(base) // 2], long_lists=long_lists, pad="x" * 70_000),
        encoding="utf-8",
    )
    _, scanned = _both(path, "nginx-upstreaminfo", monkeypatch)
    assert not scanned, why


def test_gzip_stdin_and_several_files_are_not_scanned(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import gzip  # noqa: PLC0415

    _, base, credential = SQL_FORMATS["nginx"]
    path = tmp_path / "access.log.gz"
    path.write_bytes(gzip.compress(("\n".join(_clean_lines(base, 20)) + "\n").encode()))
    _, scanned = _both(path, "nginx", monkeypatch)
    assert not scanned
    plain = tmp_path / "access.log"
    plain.write_text("\n".join(_clean_lines(base, 20)) + "\n", encoding="utf-8")
    options = _options("nginx", credential)
    two = analysis.analyze([str(plain), str(plain)], options)
    assert two == analysis.analyze([str(plain), str(plain)], options, summary=False)
    assert two["lines"] == 40
