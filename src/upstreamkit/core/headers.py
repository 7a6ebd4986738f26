"""What an upstream's response headers say about a failure: the public face of the header parsers.

Each concern lives in its own module; this one re-exports their public names, so that
``from upstreamkit.core.headers import parse_retry_after`` keeps working:

- :mod:`~upstreamkit.core._header_view`: :class:`HeaderView`, :data:`HeadersLike`, HTTP dates;
- :mod:`~upstreamkit.core._rate_limit_headers`: ``Retry-After`` and the rate-limit families;
- :mod:`~upstreamkit.core._auth_headers`: ``WWW-Authenticate`` challenges and the Bearer error;
- :mod:`~upstreamkit.core._proxy_status`: ``Proxy-Status`` (RFC 9209), parsed and formatted;
- :mod:`~upstreamkit.core._request_ids`: the request id to quote to a vendor's support.

Every parser is total: any text gives a value or ``None``/``[]``, never an exception, because these
parsers run on the error path, where a crash would hide the failure being reported. Nothing here reads
the clock: callers pass ``now`` (epoch seconds) where a header carries an absolute time.
"""

from __future__ import annotations

from upstreamkit.core._auth_headers import BearerError, Challenge, bearer_error, parse_www_authenticate
from upstreamkit.core._header_view import HeadersLike, HeaderView, header_view, parse_http_date
from upstreamkit.core._proxy_status import ProxyStatusEntry, format_proxy_status, parse_proxy_status
from upstreamkit.core._rate_limit_headers import (
    RETRY_AFTER_CEILING,
    RateLimit,
    parse_rate_limit,
    parse_rate_limits,
    parse_retry_after,
)
from upstreamkit.core._request_ids import REQUEST_ID_HEADERS, find_request_id

__all__ = [
    "REQUEST_ID_HEADERS",
    "RETRY_AFTER_CEILING",
    "BearerError",
    "Challenge",
    "HeaderView",
    "HeadersLike",
    "ProxyStatusEntry",
    "RateLimit",
    "bearer_error",
    "find_request_id",
    "format_proxy_status",
    "header_view",
    "parse_http_date",
    "parse_proxy_status",
    "parse_rate_limit",
    "parse_rate_limits",
    "parse_retry_after",
    "parse_www_authenticate",
]
