"""``upstreamkit demo --samples``: explain a handful of real-looking failed responses, with no network at all.

The kind a paged engineer is handed: a 600 in a 200 body, an expired bearer token, GitHub's and an IETF
rate limit, nginx and Cloudflare errors, a raw 600 status line, a validation error.
"""

from __future__ import annotations

from dataclasses import dataclass

from rich.console import Console
from rich.table import Table

from upstreamkit.cli.explain import render
from upstreamkit.core.classify import classify
from upstreamkit.knowledge import kind_info

_NOW = 1_767_225_600.0  # 2026-01-01T00:00:00Z, the "Date" of every sample


@dataclass(frozen=True, slots=True)
class Sample:
    """A failed response as it reaches a client."""

    name: str
    status: int
    headers: tuple[tuple[str, str], ...]
    body: str


SAMPLES: tuple[Sample, ...] = (
    Sample(
        "gateway 600 in a 200 body",
        200,
        (("Content-Type", "application/json"), ("X-Request-Id", "req_7Hq2kLm9")),
        '{"code": 600, "error": "gateway_timeout", "message": "upstream did not answer within 30s"}',
    ),
    Sample(
        "expired bearer token",
        401,
        (
            (
                "WWW-Authenticate",
                'Bearer realm="api", error="invalid_token", error_description="The access token expired"',
            ),
            ("Date", "Thu, 01 Jan 2026 00:00:00 GMT"),
        ),
        '{"error": "invalid_token"}',
    ),
    Sample(
        "GitHub primary rate limit",
        403,
        (
            ("x-ratelimit-limit", "5000"),
            ("x-ratelimit-remaining", "0"),
            ("x-ratelimit-reset", str(int(_NOW) + 1800)),
            ("x-github-request-id", "C0DE:1F2E:3A4B5C:6D7E8F:65A1B2C3"),
            ("Date", "Thu, 01 Jan 2026 00:00:00 GMT"),
        ),
        '{"message": "API rate limit exceeded for user ID 1.", '
        '"documentation_url": "https://docs.github.com/rest/overview/rate-limits-for-the-rest-api"}',
    ),
    Sample(
        "429 with Retry-After",
        429,
        (
            ("Retry-After", "30"),
            ("RateLimit-Policy", '"default";q=100;w=60'),
            ("RateLimit", '"default";r=0;t=30'),
        ),
        '{"error": {"code": "rate_limit_exceeded", "message": "Too many requests"}}',
    ),
    Sample(
        "nginx 502 Bad Gateway",
        502,
        (("Server", "nginx/1.25.3"), ("Content-Type", "text/html")),
        "<html>\r\n<head><title>502 Bad Gateway</title></head>\r\n<body>\r\n<center><h1>502 Bad Gateway</h1>"
        "</center>\r\n<hr><center>nginx/1.25.3</center>\r\n</body>\r\n</html>\r\n",
    ),
    Sample(
        "Cloudflare 522",
        522,
        (("Server", "cloudflare"), ("CF-RAY", "8f3a1b2c3d4e5f60-AMS"), ("Content-Type", "text/plain")),
        "error code: 522",
    ),
    Sample(
        "raw 600 status line",
        600,
        (("Content-Type", "application/json"),),
        '{"error": "upstream_error"}',
    ),
    Sample(
        "payload validation",
        422,
        (("Content-Type", "application/problem+json"),),
        '{"type": "about:blank", "title": "Unprocessable Entity", "detail": "amount: must be greater than 0"}',
    ),
)


def explain_samples(console: Console, *, detail: bool) -> None:
    """Explain a handful of real-looking failed upstream responses and what to do about each."""
    table = Table(title="What these failed responses mean", title_justify="left")
    table.add_column("response")
    table.add_column("status", justify="right")
    table.add_column("kind", style="bold", no_wrap=True)
    table.add_column("retry?")
    table.add_column("wait", justify="right")
    table.add_column("what it is")
    for sample in SAMPLES:
        outcome = classify(sample.status, sample.headers, sample.body, now=_NOW)
        table.add_row(
            sample.name,
            str(sample.status),
            str(outcome.kind),
            "yes" if outcome.retryable else "no",
            f"{outcome.retry_after:g} s" if outcome.retry_after is not None else "",
            kind_info(outcome.kind).title if outcome.kind is not None else "not a failure",
        )
        if detail:
            console.print(render(outcome, title=f"{sample.name} (HTTP {sample.status})"))
    console.print(table)
    console.print(
        "Try one of your own: [bold]upstreamkit explain --status 200 --body "
        '\'{"code": 600, "error": "gateway_timeout"}\'[/]'
    )
