"""``--har FILE``: a request captured in a browser's HAR file (HTTP Archive 1.2) → the request to probe.

Which entry (``log.entries[]``):

1. ``entry=N``: that one, counted from 0 in file order (negative counts from the end, as in Python);
2. ``url_contains=TEXT``: the first entry whose URL contains TEXT;
3. otherwise the LAST failing entry: no response (status 0: blocked, aborted, refused), or a response
   :func:`~upstreamkit.core.classify.classify` calls a failure: a 4xx/5xx, a raw 600, a 200 whose JSON
   body carries a 600 envelope, a vendor's error signature. The last, because a capture usually ends with
   the failure that made someone export it;
4. otherwise the last entry.

Only http and https entries are candidates for 2-4 (``data:``, ``blob:`` and extension URLs are skipped).

The request is rebuilt from ``method``, ``url`` (``queryString`` appended only when the URL has no query),
``headers`` and ``postData`` (``text``, else ``params`` form-encoded; ``mimeType`` becomes the Content-Type
when no header gives one). Dropped headers: HTTP/2 and HTTP/3 pseudo-headers (``:authority``, ``:method``
...), hop-by-hop and framing headers (Connection, Keep-Alive, Proxy-Connection, Transfer-Encoding, TE,
Upgrade, Content-Length: the client recomputes them), and Host when it names the URL's own authority (kept
when it differs: that is a virtual-host request worth reproducing). A Cookie header is built from
``cookies`` only when the headers carry none (Firefox lists them separately).

HAR is JSON with a published schema (w3c-webperf HAR 1.2); reading it needs no library.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Mapping, Sequence
from datetime import datetime
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlsplit

from upstreamkit.core.classify import classify, is_plain_success
from upstreamkit.diagnose.inputs.base import (
    InputError,
    ParsedInput,
    check_header,
    check_method,
    check_url,
    read_limited,
    shown_url,
)
from upstreamkit.diagnose.model import ProbeRequest

__all__ = ["MAX_HAR_BYTES", "parse_har"]

MAX_HAR_BYTES = 256 * 1024 * 1024
"""The largest HAR file read (256 MiB): a browser session's export with its response bodies fits."""

_DROPPED = frozenset(
    {"connection", "keep-alive", "proxy-connection", "transfer-encoding", "te", "upgrade", "content-length"}
)
_DEFAULT_PORTS = {"http": 80, "https": 443}


def parse_har(path: str | Path, entry: int | None = None, url_contains: str | None = None) -> ParsedInput:
    """The request of one entry of the HAR file at ``path`` (see the module docstring for which one).

    Raises :class:`InputError` when the file cannot be read, is larger than :data:`MAX_HAR_BYTES`, is not
    UTF-8 JSON, is not a HAR, has no entries, when ``entry`` is out of range or no entry's URL contains
    ``url_contains``, or when the chosen entry's request cannot be sent as written (a URL the client cannot
    send, a method that is not a token, a header with a line break, text with a lone surrogate escape).
    Nothing else: any file gives a request or this error.
    """
    if entry is not None and url_contains is not None:
        raise InputError("give a HAR entry number or a URL filter, not both")
    entries = _entries(Path(path))
    if entry is not None:
        if not -len(entries) <= entry < len(entries):
            raise InputError(f"HAR entry {entry} is out of range: the file has {len(entries)} (0..{len(entries) - 1})")
        index, why = entry % len(entries), f"entry {entry} as asked"
    else:
        index, why = _pick(entries, url_contains)
    request = _request(entries[index], index)
    status = _status(entries[index])
    outcome = f" → {status}" if status is not None else ""
    where = shown_url(request.url)
    source = f"HAR entry {index} of {len(entries)} ({why}): {request.method} {where}{outcome}"
    return ParsedInput(request=request, source=source)


def _entries(path: Path) -> list[Mapping[str, Any]]:
    raw = read_limited(path, "HAR file", MAX_HAR_BYTES)
    try:
        text = raw.decode("utf-8-sig")  # HAR exports from some tools start with a BOM
    except UnicodeDecodeError:
        raise InputError(f"HAR file {str(path)!r} is not UTF-8 text") from None
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise InputError(
            f"HAR file {str(path)!r} is not valid JSON (line {exc.lineno} column {exc.colno}: {exc.msg})"
        ) from None
    except RecursionError:
        raise InputError(f"HAR file {str(path)!r} nests deeper than JSON can be read here; it is no HAR") from None
    log = data.get("log") if isinstance(data, Mapping) else None
    entries = log.get("entries") if isinstance(log, Mapping) else None
    if not isinstance(entries, list):
        raise InputError(f"{str(path)!r} is not a HAR file: it has no log.entries list")
    if not entries:
        raise InputError(f"HAR file {str(path)!r} has no entries: record the failing request, then export")
    for number, item in enumerate(entries):
        request = item.get("request") if isinstance(item, Mapping) else None
        if not isinstance(request, Mapping) or not isinstance(request.get("url"), str):
            raise InputError(f"HAR entry {number} has no request with a url")
    return entries


def _is_web(request: Mapping[str, Any]) -> bool:
    scheme, colon, _ = str(request["url"]).partition(":")
    return bool(colon) and scheme.lower() in _DEFAULT_PORTS


def _pick(entries: Sequence[Mapping[str, Any]], url_contains: str | None) -> tuple[int, str]:
    web = [i for i, item in enumerate(entries) if _is_web(item["request"])]
    if url_contains is not None:
        matches = [i for i in web if url_contains in str(entries[i]["request"]["url"])]
        if not matches:
            raise InputError(f"no http(s) entry has a URL containing {url_contains!r}")
        return matches[0], f"the first URL containing {url_contains!r}"
    if not web:
        raise InputError("the HAR file has no http or https entry")
    last_failing = next((i for i in reversed(web) if _failed(entries[i])), None)  # from the end: stops early
    if last_failing is not None:
        return last_failing, "the last failing one"
    return web[-1], "no entry failed; the last one"


def _status(item: Mapping[str, Any]) -> int | None:
    response = item.get("response")
    status = response.get("status") if isinstance(response, Mapping) else None
    return status if isinstance(status, int) and not isinstance(status, bool) else None


def _failed(item: Mapping[str, Any]) -> bool:
    status = _status(item)
    if not status:  # 0 or absent: the browser got no response
        return True
    response = item["response"]
    headers = _pairs(response.get("headers"))
    content = response.get("content")
    body = _content_text(content) if isinstance(content, Mapping) else ""
    if not 100 <= status <= 999:
        return True
    names = [str(name).lower() for name, _ in headers]
    if "content-length" not in names and is_plain_success(status, names, body):
        return False  # the cheap test classify agrees with (tested): thousands of entries in milliseconds
    try:
        return not classify(status, headers, _valid(body), now=_started(item)).ok
    except Exception:  # noqa: BLE001 - a response nothing can read is no clean success: a candidate
        return True


def _valid(text: str) -> str:
    """``text`` with lone surrogates (``"\\ud800"`` escapes in the JSON) replaced."""
    return text.encode("utf-8", "replace").decode("utf-8")


def _content_text(content: Mapping[str, Any]) -> str:
    text = content.get("text")
    if not isinstance(text, str):
        return ""
    if content.get("encoding") == "base64":
        try:
            return base64.b64decode(text, validate=False).decode("utf-8", "replace")
        except (binascii.Error, ValueError):
            return ""
    return text


def _started(item: Mapping[str, Any]) -> float | None:
    value = item.get("startedDateTime")
    if not isinstance(value, str):
        return None
    try:
        return datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp()
    except (ValueError, OverflowError, OSError):
        return None


def _pairs(value: object) -> list[tuple[str, str]]:
    if not isinstance(value, list):
        return []
    return [
        (item["name"], _scalar(item.get("value", "")))
        for item in value
        if isinstance(item, Mapping) and isinstance(item.get("name"), str)
    ]


def _scalar(value: object) -> str:
    """A HAR value as text: strings as they are, numbers and booleans written out, anything else empty."""
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value) if isinstance(value, int | float) else ""


def _request(item: Mapping[str, Any], index: int) -> ProbeRequest:
    try:
        return _rebuild(item["request"], index)
    except UnicodeEncodeError:
        raise InputError(
            f"HAR entry {index}: its request holds text that is not valid Unicode (a lone surrogate escape "
            "such as \\ud800 in the JSON)"
        ) from None


def _rebuild(har_request: Mapping[str, Any], index: int) -> ProbeRequest:
    url = str(har_request["url"]).split("#", 1)[0]
    if not _is_web(har_request):
        raise InputError(f"HAR entry {index} is not an http(s) request: {url[:600]!r}")
    check_url(url, f"HAR entry {index}'s URL")
    parts = urlsplit(url)
    query = _pairs(har_request.get("queryString"))
    if query and not parts.query:
        url += "?" + "&".join(f"{quote(k, safe='')}={quote(v, safe='')}" for k, v in query)
        check_url(url, f"HAR entry {index}'s URL")
    method = har_request.get("method") or "GET"
    if not isinstance(method, str):
        raise InputError(f"HAR entry {index}'s method is not text")
    method = check_method(method.upper())
    headers = [(k, v) for k, v in _pairs(har_request.get("headers")) if _keep(k, v, parts.scheme, parts.netloc)]
    names = {name.lower() for name, _ in headers}
    cookies = _pairs(har_request.get("cookies"))
    if cookies and "cookie" not in names:
        headers.append(("Cookie", "; ".join(f"{k}={v}" for k, v in cookies)))
    body = None
    post = har_request.get("postData")
    if isinstance(post, Mapping):
        text = post.get("text")
        params = _pairs(post.get("params"))
        if isinstance(text, str):
            body = text.encode()  # a lone surrogate raises UnicodeEncodeError: see _request
        elif params:
            body = "&".join(f"{quote(k, safe='')}={quote(v, safe='')}" for k, v in params).encode()
        mime = post.get("mimeType")
        if body is not None and isinstance(mime, str) and mime and "content-type" not in names:
            headers.append(("Content-Type", mime))
    return ProbeRequest(url=url, method=method, headers=tuple(check_header(k, v) for k, v in headers), body=body)


def _keep(name: str, value: str, scheme: str, netloc: str) -> bool:
    lower = name.lower()
    if lower.startswith(":") or lower in _DROPPED:
        return False
    if lower == "host":
        return _authority(value, scheme) != _authority(netloc.rpartition("@")[2], scheme)
    return True


def _authority(value: str, scheme: str) -> str:
    host = value.strip().lower()
    default = f":{_DEFAULT_PORTS.get(scheme.lower(), 0)}"
    return host.removesuffix(default)
