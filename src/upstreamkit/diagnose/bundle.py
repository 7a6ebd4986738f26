"""The support bundle: one zip to attach to a ticket to the upstream provider, every secret a fingerprint.

Members: ``README.txt`` (what this is), ``report.md`` and ``report.json``, ``request.txt`` and
``response.txt`` (every exchange as sent and received, ``---`` between repeats), ``timings.json``,
``environment.json`` and ``checklist.md``. All are rendered from the redacted document of
:func:`~upstreamkit.diagnose.report.report_to_json` (the environment from
:func:`~upstreamkit.diagnose.environment.collect_environment`, redacted again on the way in), so the bundle
holds nothing the JSON report would not show.

The file is written to a temporary file beside the target and then renamed into place, so a reader never
sees half a zip; without ``overwrite`` an existing file is never replaced, atomically (a hard link fails
when the name is taken). The zip is readable by its owner only (0600), like any file holding an incident's
details should be until someone decides to share it.
"""

from __future__ import annotations

import errno
import io
import os
import tempfile
import time
import zipfile
from collections.abc import Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from upstreamkit.core.redact import redact_json
from upstreamkit.diagnose.environment import collect_environment
from upstreamkit.diagnose.model import Report
from upstreamkit.diagnose.report import document_to_markdown, dumps, report_to_json, request_text, response_text

__all__ = ["MEMBERS", "bundle_name", "write_bundle"]

MEMBERS = (
    "README.txt",
    "report.md",
    "report.json",
    "request.txt",
    "response.txt",
    "timings.json",
    "environment.json",
    "checklist.md",
)

_README = """\
upstreamkit diagnose: support bundle
====================================

What this is: the result of `upstreamkit diagnose` probing {method} {url}
phase by phase (DNS, TCP, TLS, HTTP, response body, credentials, rate limits, proxies, status page,
payload), started {started} UTC. Verdict: {verdict}.

  report.md         the report, ready to paste into a ticket
  report.json       the same as one JSON object (machine-readable)
  request.txt       each request as it was sent: request line, headers, body
  response.txt      each response as it was received: status line, headers, body (or the error)
  timings.json      milliseconds per phase, time to first byte and total per exchange
  environment.json  client side: Python, OS, OpenSSL, library versions, proxy variables, clock
  checklist.md      every step diagnose took, and its result

Secrets were replaced by sha256 fingerprints: a token, key, password or cookie appears as
"sha256:" and the first 8 hex digits of its SHA-256 hash, enough to tell two values apart or to match
one against your own records, never enough to recover it. JWTs keep their header and claims (expiry,
audience, issuer) and lose their signature. Request and response bodies are cut at 64 KiB.

Made by upstreamkit {version}.
"""


def bundle_name(started: float) -> str:
    """``upstreamkit-diagnose-20240610T080001Z.zip`` for a diagnosis started at ``started`` (epoch seconds)."""
    stamp = datetime.fromtimestamp(started or time.time(), tz=UTC).strftime("%Y%m%dT%H%M%SZ")
    return f"upstreamkit-diagnose-{stamp}.zip"


def write_bundle(
    path: str | Path,
    report: Report,
    *,
    environment: Mapping[str, Any] | None = None,
    overwrite: bool = False,
) -> Path:
    """Write the support bundle of ``report`` to ``path``; return the path written.

    ``path`` names a directory (the bundle is ``upstreamkit-diagnose-<UTC timestamp>.zip`` inside) when it
    is an existing directory, ends with a path separator, or has no suffix and does not exist; otherwise it
    is the zip's file name. Missing parent directories are created. An existing file is replaced only with
    ``overwrite=True``; otherwise :class:`FileExistsError` says so. ``environment`` defaults to
    :func:`~upstreamkit.diagnose.environment.collect_environment` for the report's URL.
    """
    target = _target(path, report.started)
    if target.exists() and not overwrite:
        raise _exists(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    data = _zip(report, environment if environment is not None else collect_environment(report.url))
    _write_atomically(target, data, overwrite=overwrite)
    return target


def _target(path: str | Path, started: float) -> Path:
    text = os.fspath(path)
    candidate = Path(text)
    if candidate.is_dir() or text.endswith((os.sep, "/")) or not (candidate.suffix or candidate.exists()):
        return candidate / bundle_name(started)
    return candidate


def _exists(target: Path) -> FileExistsError:
    message = f"{target} already exists; choose another name, a directory, or overwrite it explicitly"
    return FileExistsError(errno.EEXIST, message, str(target))


def _zip(report: Report, environment: Mapping[str, Any]) -> bytes:
    document = report_to_json(report)
    stamp = datetime.fromtimestamp(report.started or time.time(), tz=UTC).timetuple()[:6]
    members = {
        "README.txt": _README.format(
            method=document["method"],
            url=document["url"],
            started=document["started"],
            verdict=document["verdict"],
            version=document["version"],
        ),
        "report.md": document_to_markdown(document),
        "report.json": dumps(document) + "\n",
        "request.txt": _joined([request_text(exchange) for exchange in document["exchanges"]]),
        "response.txt": _joined([response_text(exchange) for exchange in document["exchanges"]]),
        "timings.json": dumps(_timings(document)) + "\n",
        "environment.json": dumps(redact_json(dict(environment))) + "\n",
        "checklist.md": _checklist(document),
    }
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for name in MEMBERS:
            info = zipfile.ZipInfo(name, date_time=stamp)
            info.compress_type = zipfile.ZIP_DEFLATED
            info.external_attr = 0o644 << 16
            archive.writestr(info, members[name].encode("utf-8"))
    return buffer.getvalue()


def _joined(parts: list[str]) -> str:
    if not parts:
        return "(no HTTP exchange was made: an earlier phase failed; see report.md)\n"
    numbered = [f"# exchange {n} of {len(parts)}\n{text}" for n, text in enumerate(parts, start=1)]
    return "---\n".join(numbered)


def _timings(document: Mapping[str, Any]) -> dict[str, Any]:
    return {
        "started": document["started"],
        "total_ms": document["total_ms"],
        "phases": [{"name": p["name"], "status": p["status"], "ms": p["ms"]} for p in document["phases"]],
        "exchanges": [
            {
                "index": index,
                "started": e["started"],
                "status": e["status"],
                "ttfb_ms": e["ttfb_ms"],
                "total_ms": e["total_ms"],
            }
            for index, e in enumerate(document["exchanges"])
        ],
    }


def _checklist(document: Mapping[str, Any]) -> str:
    lines = ["# Checklist: the steps diagnose took", ""]
    lines += [f"{n}. {' '.join(line.split())}" for n, line in enumerate(document["checklist"], start=1)]
    if not document["checklist"]:
        lines.append("(no step recorded)")
    lines += ["", f"Verdict: {document['verdict']}", ""]
    return "\n".join(lines)


def _write_atomically(target: Path, data: bytes, *, overwrite: bool) -> None:
    handle = tempfile.NamedTemporaryFile(  # noqa: SIM115 - closed below, before the rename
        dir=target.parent, prefix=".upstreamkit-bundle-", suffix=".tmp", delete=False
    )
    temporary = Path(handle.name)
    try:
        with handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        if overwrite:
            temporary.replace(target)
            return
        try:
            os.link(temporary, target)  # fails if the name was taken meanwhile: never clobbers
        except FileExistsError:
            raise _exists(target) from None
        except OSError:
            if target.exists():  # a filesystem without hard links: check, then rename
                raise _exists(target) from None
            temporary.replace(target)
    finally:
        temporary.unlink(missing_ok=True)
