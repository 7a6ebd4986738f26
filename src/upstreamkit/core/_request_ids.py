"""Which id to quote to the vendor's support: request-id and trace headers, most specific first."""

from __future__ import annotations

import re
from typing import Final

from upstreamkit.core._header_view import HeadersLike, HeaderView, field_lines, header_view

__all__ = ["REQUEST_ID_HEADERS", "find_request_id"]


# --------------------------------------------------------------------------------------------------
# Request ids

#: Response headers that carry an id a vendor's support can look up, most specific first: a
#: vendor's own header names its request unambiguously, a generic ``x-request-id`` may come from
#: any proxy in between, and trace ids identify a whole trace rather than one request.
REQUEST_ID_HEADERS: Final[tuple[str, ...]] = (
    "x-github-request-id",  # GitHub
    "x-amzn-requestid",  # AWS API Gateway, Lambda and most JSON AWS APIs
    "x-amz-request-id",  # Amazon S3
    "x-ms-request-id",  # Azure services
    "apim-request-id",  # Azure API Management, Azure AI services
    "x-ms-correlation-request-id",  # Azure Resource Manager
    "x-goog-request-id",  # Google APIs (Gemini, Google Ads)
    "x-sfdc-request-id",  # Salesforce
    "x-slack-req-id",  # Slack
    "x-request-id",  # OpenAI, Heroku, Shopify, nginx $request_id, Envoy
    "request-id",  # Stripe, Anthropic, Microsoft Graph
    "client-request-id",  # Microsoft Graph (echoes the client's id)
    "x-kong-request-id",  # Kong
    "x-correlation-id",  # common convention (MuleSoft, Spring)
    "x-amz-apigw-id",  # AWS API Gateway extended request id
    "x-amz-cf-id",  # Amazon CloudFront
    "cf-ray",  # Cloudflare
    "x-amzn-trace-id",  # AWS ALB and X-Ray: "Root=1-67891233-abcdef012345678912345678"
    "x-cloud-trace-context",  # Google Cloud load balancers: "TRACE_ID/SPAN_ID;o=1"
    "traceparent",  # W3C Trace Context: the trace-id part
    "x-b3-traceid",  # Zipkin B3
    "x-trace-id",  # common convention
)

_REQUEST_ID_MAX: Final = 200
_TRACEPARENT_RE: Final = re.compile(r"([0-9a-f]{2})-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})(-.*)?")
_AMZN_ROOT_RE: Final = re.compile(r"(?:^|;)\s*Root=([^;\s]+)")


def _request_id(name: str, value: str) -> str | None:
    value = value.strip()
    if name == "traceparent":
        match = _TRACEPARENT_RE.fullmatch(value)
        if match is None:
            return None
        version, trace_id, parent_id, _flags, rest = match.groups()
        if version == "ff" or (version == "00" and rest) or not trace_id.strip("0") or not parent_id.strip("0"):
            return None
        return trace_id
    if name == "x-amzn-trace-id":
        root = _AMZN_ROOT_RE.search(value)
        value = root.group(1) if root else value
    elif name == "x-cloud-trace-context":
        value = value.split("/", 1)[0].strip()
    return value[:_REQUEST_ID_MAX] or None


def find_request_id(headers: HeadersLike | HeaderView) -> tuple[str, str] | None:
    """The first request id found, as ``(name in REQUEST_ID_HEADERS, id)``; ``None`` when there is none.

    Values are stripped and cut to 200 characters; empty or malformed ones are skipped. Of a repeated
    field, only the lines within ``FIELD_VALUE_LIMIT`` characters are read.
    """
    view = header_view(headers)
    for name in REQUEST_ID_HEADERS:
        for value in field_lines(view, name):
            found = _request_id(name, value)
            if found is not None:
                return name, found
    return None
