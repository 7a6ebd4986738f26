"""The forwarders ``bench/gateway.py`` measures that are not upstreamkit's command, each run in its own process
as ``gateway.py --serve KIND PORT UPSTREAM``: a bare aiohttp forwarder, and uvicorn with two ASGI apps."""

from __future__ import annotations

from collections.abc import AsyncIterator

HOST = "127.0.0.1"


def serve_aiohttp(port: int, upstream: str, *, uvloop_on: bool) -> None:
    """A bare aiohttp forwarder: the request's method, path, headers and body in; the response out."""
    from aiohttp import ClientSession, TCPConnector, web  # noqa: PLC0415 - the bench extra

    hop = {"connection", "keep-alive", "transfer-encoding", "te", "upgrade", "host", "content-length"}

    async def handler(request: web.Request) -> web.Response:
        session: ClientSession = request.app["session"]
        headers = {k: v for k, v in request.headers.items() if k.lower() not in hop}
        async with session.request(
            request.method, upstream + request.path_qs, headers=headers, data=await request.read()
        ) as answer:
            body = await answer.read()
            out = {k: v for k, v in answer.headers.items() if k.lower() not in hop}
            return web.Response(status=answer.status, body=body, headers=out)

    async def session_context(app: web.Application) -> AsyncIterator[None]:
        app["session"] = ClientSession(connector=TCPConnector(limit=256))
        yield
        await app["session"].close()

    app = web.Application()
    app.cleanup_ctx.append(session_context)
    app.router.add_route("*", "/{tail:.*}", handler)
    if uvloop_on:
        import uvloop  # noqa: PLC0415

        uvloop.install()
    web.run_app(app, host=HOST, port=port, access_log=None, print=None)


async def read_asgi_request(scope: dict, receive) -> tuple[bytes, bytes]:  # type: ignore[no-untyped-def,type-arg]
    """The raw request target and the whole body of an ASGI HTTP request."""
    body = b""
    more = True
    while more:
        message = await receive()
        body += message.get("body", b"")
        more = message.get("more_body", False)
    return scope["raw_path"] + (b"?" + scope["query_string"] if scope["query_string"] else b""), body


def serve_uvicorn_asgi(port: int, upstream: str) -> None:
    """uvicorn (httptools, uvloop) with a raw ASGI app forwarding through upstreamkit's pooled upstream layer."""
    from urllib.parse import urlsplit  # noqa: PLC0415

    import uvicorn  # noqa: PLC0415 - the bench extra

    from upstreamkit.gateway.proxy import HOP_BY_HOP  # noqa: PLC0415
    from upstreamkit.gateway.upstream import UpstreamPool  # noqa: PLC0415

    parts = urlsplit(upstream)
    origin = ("http", parts.hostname or HOST, parts.port or 80)
    host_header = parts.netloc.encode()
    pool = UpstreamPool()
    own = HOP_BY_HOP | {b"host", b"content-length"}

    async def app(scope: dict, receive, send) -> None:  # type: ignore[no-untyped-def,type-arg]
        target, body = await read_asgi_request(scope, receive)
        head = [scope["method"].encode(), b" ", target, b" HTTP/1.1\r\nhost: ", host_header, b"\r\n"]
        for name, value in scope["headers"]:
            if name not in own:
                head += (name, b": ", value, b"\r\n")
        if body:
            head.append(b"content-length: %d\r\n" % len(body))
        head.append(b"\r\n")
        connection = pool.checkout(origin) or await pool.connect(origin, 5.0)
        answer = await connection.request(b"".join(head), body, head_only=False, timeout=30.0, connect_ms=None)
        pool.checkin(origin, connection, reusable=answer.keep_alive)
        headers = [(n.lower(), v) for n, v in answer.headers if n.lower() not in own]
        await send({"type": "http.response.start", "status": answer.status, "headers": headers})
        await send({"type": "http.response.body", "body": answer.body})

    uvicorn.run(
        app, host=HOST, port=port, loop="uvloop", http="httptools", lifespan="off", access_log=False, log_level="error"
    )


def serve_uvicorn_proxy(port: int, upstream: str) -> None:
    """uvicorn (httptools, uvloop) with an ASGI adapter around the gateway's own ``Proxy``: the same work per
    request as ``upstreamkit gateway`` (routing, request ids, header rewriting, judging), only the server differs."""
    import uvicorn  # noqa: PLC0415 - the bench extra

    from upstreamkit.gateway.config import GatewaySettings  # noqa: PLC0415
    from upstreamkit.gateway.proxy import Proxy  # noqa: PLC0415
    from upstreamkit.gateway.routes import parse_route  # noqa: PLC0415
    from upstreamkit.gateway.server import Request  # noqa: PLC0415
    from upstreamkit.gateway.upstream import UpstreamPool  # noqa: PLC0415

    proxy = Proxy(GatewaySettings(routes=(parse_route(f"/={upstream}"),)), UpstreamPool(), None)

    async def app(scope: dict, receive, send) -> None:  # type: ignore[no-untyped-def,type-arg]
        target, body = await read_asgi_request(scope, receive)
        client = scope["client"][0] if scope.get("client") else ""
        request = Request(scope["method"], target, list(scope["headers"]), body, client, keep_alive=True)
        response = await proxy.handle(request)
        await send({"type": "http.response.start", "status": response.status, "headers": response.headers})
        await send({"type": "http.response.body", "body": response.body})

    uvicorn.run(
        app, host=HOST, port=port, loop="uvloop", http="httptools", lifespan="off", access_log=False, log_level="error"
    )


def serve(kind: str, port: int, upstream: str) -> None:
    """Run forwarder ``kind`` (``aiohttp``, ``aiohttp-uvloop``, ``uvicorn-asgi``, ``uvicorn-proxy``) until killed."""
    if kind == "uvicorn-asgi":
        serve_uvicorn_asgi(port, upstream)
    elif kind == "uvicorn-proxy":
        serve_uvicorn_proxy(port, upstream)
    else:
        serve_aiohttp(port, upstream, uvloop_on=kind == "aiohttp-uvloop")
