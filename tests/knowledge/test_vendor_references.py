"""The error bodies the vendors document (Envoy, Traefik, S3, Azure Storage, SOAP) are recognised.

Each row is a response as the cited reference shows it (a local reply's text, a documented XML error, a
SOAP fault in the shape its specification gives), with the kind the reference's own words imply and
the producer. No proxy runs: these are the cases the captured fixtures (test_proxy_fixtures.py) cannot
cover because Debian does not package the product, or because the failure lives in an API, not a proxy.
"""

from __future__ import annotations

import pytest

from upstreamkit import classify

ENVOY = "Envoy"
_UCE = "upstream connect error or disconnect/reset before headers. "
_XML_ERROR = (
    '<?xml version="1.0" encoding="UTF-8"?>\n'
    "<Error><Code>{code}</Code><Message>{message}</Message><RequestId>4442587FB7D0A2F9</RequestId></Error>"
)
_SOAP11 = (
    '<?xml version="1.0"?><soap:Envelope xmlns:soap="http://schemas.xmlsoap.org/soap/envelope/"><soap:Body>'
    "<soap:Fault><faultcode>{code}</faultcode><faultstring>{text}</faultstring></soap:Fault></soap:Body></soap:Envelope>"
)
_SOAP12 = (
    '<env:Envelope xmlns:env="http://www.w3.org/2003/05/soap-envelope"><env:Body><env:Fault>'
    "<env:Code><env:Value>env:{code}</env:Value></env:Code>"
    '<env:Reason><env:Text xml:lang="en">{text}</env:Text></env:Reason></env:Fault></env:Body></env:Envelope>'
)

ROWS = [
    # Envoy local replies (response flag in the id); https://github.com/envoyproxy/envoy/issues/17484, /15584, ...
    ("envoy-UF-tls-verify", 503, {}, _UCE + "reset reason: connection failure, transport failure reason: TLS error: "
     "268435581:SSL routines:OPENSSL_internal:CERTIFICATE_VERIFY_FAILED", "tls_certificate_error", ENVOY),
    ("envoy-UF-tls-version", 503, {}, _UCE + "reset reason: connection failure, transport failure reason: TLS error: "
     "268435703:SSL routines:OPENSSL_internal:WRONG_VERSION_NUMBER", "tls_protocol_error", ENVOY),
    ("envoy-UF-refused", 503, {}, _UCE + "reset reason: connection failure, transport failure reason: "
     "delayed connect error: 111", "connection_refused", ENVOY),
    ("envoy-URX-remote-connection-failure", 503, {}, _UCE.replace("headers. ", "headers. retried and the latest ")
     + "reset reason: remote connection failure", "connection_refused", ENVOY),
    ("envoy-UR", 503, {}, _UCE + "reset reason: remote reset", "connection_terminated", ENVOY),
    ("envoy-UC", 503, {}, _UCE + "reset reason: connection termination", "connection_terminated", ENVOY),
    ("envoy-UO", 503, {}, _UCE + "reset reason: overflow", "connection_limit_reached", ENVOY),
    ("envoy-UPE", 502, {}, _UCE + "reset reason: protocol error", "http_protocol_error", ENVOY),
    ("envoy-UH", 503, {}, "no healthy upstream", "destination_unavailable", ENVOY),
    ("envoy-UT", 504, {}, "upstream request timeout", "http_response_timeout", ENVOY),
    ("envoy-UMSDR", 504, {}, "upstream max stream duration reached", "http_response_timeout", ENVOY),
    ("envoy-RL-local", 429, {}, "local_rate_limited", "rate_limited", "Envoy (local rate limit filter)"),
    ("envoy-FI", 503, {}, "fault filter abort", "proxy_internal_response", "Envoy (fault injection filter)"),
    # Traefik: pkg/proxy/httputil/proxy.go (bare status text), loadbalancer/wrr/wrr.go
    ("traefik-502", 502, {}, "Bad Gateway", "upstream_outage", "Traefik"),
    ("traefik-504", 504, {}, "Gateway Timeout", "http_response_timeout", "Traefik"),
    ("traefik-no-available-server", 503, {}, "no available server\n", "destination_unavailable", "Traefik"),
    ("traefik-empty-pool", 500, {}, "no servers in the pool\n", "proxy_configuration_error", "Traefik"),
    # Amazon S3: https://docs.aws.amazon.com/AmazonS3/latest/API/ErrorResponses.html
    ("s3-SlowDown", 503, {}, _XML_ERROR.format(code="SlowDown", message="Please reduce your request rate."),
     "rate_limited", "Amazon S3"),
    ("s3-ServiceUnavailable", 503, {}, _XML_ERROR.format(code="ServiceUnavailable",
     message="Reduce your request rate."),
     "rate_limited", "Amazon S3"),
    ("s3-InternalError", 500, {}, _XML_ERROR.format(code="InternalError",
     message="We encountered an internal error. Please try again."), "upstream_outage", "Amazon S3"),
    ("s3-RequestTimeTooSkewed", 403, {}, _XML_ERROR.format(code="RequestTimeTooSkewed",
     message="The difference between the request time and the current time is too large."), "auth_invalid",
     "Amazon S3"),
    ("s3-SignatureDoesNotMatch", 403, {}, _XML_ERROR.format(code="SignatureDoesNotMatch",
     message="The request signature we calculated does not match the signature you provided."), "auth_invalid",
     "Amazon S3"),
    ("s3-RequestTimeout", 400, {}, _XML_ERROR.format(code="RequestTimeout", message="Your socket connection to the "
     "server was not read from or written to within the timeout period."), "request_timeout", "Amazon S3"),
    ("s3-ExpiredToken", 400, {}, _XML_ERROR.format(code="ExpiredToken", message="The provided token has expired."),
     "auth_expired", "AWS APIs"),
    # Azure Storage: https://learn.microsoft.com/rest/api/storageservices/common-rest-api-error-codes
    ("azure-ServerBusy", 503, {"x-ms-error-code": "ServerBusy"}, _XML_ERROR.format(code="ServerBusy",
     message="Ingress is over the account limit."), "rate_limited", "Azure Storage"),
    ("azure-ServerBusy-HEAD", 503, {"x-ms-error-code": "ServerBusy"}, "", "rate_limited", "Azure Storage"),
    ("azure-OperationTimedOut", 500, {"x-ms-error-code": "OperationTimedOut"}, "", "http_response_timeout",
     "Azure Storage"),
    ("azure-AuthenticationFailed", 403, {"x-ms-error-code": "AuthenticationFailed"}, "", "auth_invalid",
     "Azure Storage"),
    # SOAP 1.1 (https://www.w3.org/TR/2000/NOTE-SOAP-20000508/) and 1.2 (https://www.w3.org/TR/soap12-part1/)
    ("soap11-Server", 500, {}, _SOAP11.format(code="soap:Server", text="Server was unable to process request."),
     "upstream_outage", "SOAP service"),
    ("soap11-Client", 500, {}, _SOAP11.format(code="soap:Client", text="Invalid request."), "payload_rejected",
     "SOAP service"),
    ("soap12-Receiver", 500, {}, _SOAP12.format(code="Receiver", text="Processing error"), "upstream_outage",
     "SOAP service"),
    ("soap12-Sender", 400, {}, _SOAP12.format(code="Sender", text="Malformed message"), "payload_rejected",
     "SOAP service"),
    # WS-Security: https://docs.oasis-open.org/wss-m/wss/v1.1.1/os/wss-SOAPMessageSecurity-v1.1.1-os.html
    ("soap-wsse-FailedAuthentication", 500, {}, _SOAP11.format(code="wsse:FailedAuthentication",
     text="The security token could not be authenticated or authorized"), "auth_invalid",
     "SOAP service (WS-Security)"),
]  # fmt: skip


@pytest.mark.parametrize(
    ("status", "headers", "body", "kind", "producer"), [row[1:] for row in ROWS], ids=[r[0] for r in ROWS]
)
def test_documented_bodies_are_recognised(
    status: int, headers: dict[str, str], body: str, kind: str, producer: str
) -> None:
    outcome = classify(status, headers, body)
    assert outcome.kind is not None
    assert (outcome.kind.value, outcome.producer) == (kind, producer), outcome.signature


@pytest.mark.parametrize(
    ("status", "body"),
    [
        # The signatures ask for their own words, not any XML or any short text: these are not the vendors'.
        (503, "<Error><Code>SlowDownPlease</Code></Error>"),
        (500, "<soap:Envelope><soap:Body><result>Server</result></soap:Body></soap:Envelope>"),
        (503, "no available servers were configured by the application"),
        (502, '{"error": "bad_gateway"}'),
    ],
)
def test_lookalikes_are_not_attributed(status: int, body: str) -> None:
    assert classify(status, {}, body).signature is None
