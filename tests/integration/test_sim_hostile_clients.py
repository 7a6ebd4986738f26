"""Hostile clients on real loopback sockets: the simulator refuses what is too big, closes what is too slow,
and keeps its memory bounded whatever a connection sends.

Sizes use the defaults or small configured limits; times use small configured timeouts (tenths of a second)
and wait for the server's close, never for a fixed time, except where a test shows a connection stays open.
"""

from __future__ import annotations

import contextlib
import select
import socket
import time
import tracemalloc
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import httpx
import pytest

from upstreamkit.simulator import ServerLimits, Simulator, parse_scenario
from upstreamkit.simulator.upstream import Upstream

pytestmark = pytest.mark.integration

MIB = 1024 * 1024
FAST = ServerLimits(header_timeout=0.2, idle_timeout=0.2, linger=0.5)
_STREAM_CAP = 16 * MIB  # a stream the server never refuses stops here, and the test fails


def _read_until_closed(sock: socket.socket, cap: int = MIB) -> bytes:
    """Everything the server sends until it closes (or resets after its answer), at most ``cap`` bytes."""
    chunks: list[bytes] = []
    size = 0
    while size < cap:
        try:
            chunk = sock.recv(65536)
        except ConnectionResetError:
            break
        if not chunk:
            break
        chunks.append(chunk)
        size += len(chunk)
    return b"".join(chunks)


def _stream_until_answered(port: int, head: bytes, filler: bytes) -> tuple[bytes, int]:
    """Send ``head``, then ``filler`` over and over until the server answers (or ``_STREAM_CAP`` bytes)."""
    sent = 0
    with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
        sock.sendall(head)
        while sent < _STREAM_CAP:
            readable, _, _ = select.select([sock], [], [], 0)
            if readable:
                break
            try:
                sock.sendall(filler)
            except (BrokenPipeError, ConnectionResetError):
                break
            sent += len(filler)
        return _read_until_closed(sock), sent


def _exchange(port: int, request: bytes) -> bytes:
    with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
        sock.sendall(request)
        return _read_until_closed(sock)


@contextmanager
def _peak_memory() -> Iterator[list[int]]:
    """The peak of traced Python memory above the start, over the block (all threads: the server's too)."""
    result: list[int] = []
    tracemalloc.start()
    try:
        baseline = tracemalloc.get_traced_memory()[0]
        yield result
        result.append(tracemalloc.get_traced_memory()[1] - baseline)
    finally:
        tracemalloc.stop()


def _status(answer: bytes) -> int:
    assert answer.startswith(b"HTTP/1.1 "), answer[:80]
    return int(answer[9:12])


def _assert_refusal(answer: bytes, status: int) -> None:
    assert _status(answer) == status
    head = answer.partition(b"\r\n\r\n")[0].lower()
    assert b"\r\nconnection: close" in head


# --- sizes ----------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "filler",
    [
        pytest.param(b"X-Filler: " + b"a" * 50 + b"\r\n", id="endless-header-lines"),
        pytest.param(b"a" * 4096, id="one-endless-header-value"),
    ],
)
def test_endless_header_stream_is_431_with_bounded_memory(simulator: Simulator, filler: bytes) -> None:
    head = b"GET /v1/items HTTP/1.1\r\nHost: sim\r\n" + (b"" if filler.startswith(b"X-") else b"X-Endless: ")
    with _peak_memory() as peak:
        answer, sent = _stream_until_answered(simulator.port, head, filler * (65536 // len(filler)))
    _assert_refusal(answer, 431)
    assert sent < _STREAM_CAP
    assert peak[0] < 4 * MIB, f"peak {peak[0]} bytes while streaming {sent} bytes"
    assert simulator.stats()["requests"] == 0  # never reached the scenario, so not in the ledger
    assert simulator.stats()["refused"] == {"431": 1}


def test_endless_request_line_is_414_with_bounded_memory(simulator: Simulator) -> None:
    with _peak_memory() as peak:
        answer, sent = _stream_until_answered(simulator.port, b"GET /", b"a" * 65536)
    _assert_refusal(answer, 414)
    assert sent < _STREAM_CAP
    assert simulator.stats()["refused"] == {"414": 1}
    assert peak[0] < 4 * MIB, f"peak {peak[0]} bytes while streaming {sent} bytes"


def test_request_target_at_the_limit_passes_and_one_byte_more_is_414(simulator: Simulator) -> None:
    limit = simulator.limits.max_request_line
    path = b"/v1/" + b"a" * (limit - 4)
    assert _status(_exchange(simulator.port, b"GET " + path + b" HTTP/1.1\r\nConnection: close\r\n\r\n")) == 200
    _assert_refusal(_exchange(simulator.port, b"GET " + path + b"a HTTP/1.1\r\nConnection: close\r\n\r\n"), 414)


def test_header_count_limit(simulator: Simulator) -> None:
    def request(count: int) -> bytes:
        fields = b"".join(b"X-H%d: v\r\n" % index for index in range(count - 1))
        return b"GET /v1/items HTTP/1.1\r\nConnection: close\r\n" + fields + b"\r\n"

    assert _status(_exchange(simulator.port, request(100))) == 200
    _assert_refusal(_exchange(simulator.port, request(101)), 431)


def test_header_bytes_limit(simulator: Simulator) -> None:
    def request(value_size: int) -> bytes:
        return b"GET /v1/items HTTP/1.1\r\nConnection: close\r\nX-Big: " + b"v" * value_size + b"\r\n\r\n"

    assert _status(_exchange(simulator.port, request(30 * 1024))) == 200
    _assert_refusal(_exchange(simulator.port, request(33 * 1024)), 431)


def test_declared_body_over_the_limit_is_413_before_it_is_sent(simulator: Simulator) -> None:
    too_big = simulator.limits.max_body_bytes + 1
    answer = _exchange(simulator.port, b"POST /v1/items HTTP/1.1\r\nContent-Length: %d\r\n\r\n" % too_big)
    _assert_refusal(answer, 413)


def test_endless_chunked_body_is_413(simulator_factory: Any) -> None:
    sim = simulator_factory(limits=ServerLimits(max_body_bytes=64 * 1024))
    head = b"POST /v1/items HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n"
    answer, sent = _stream_until_answered(sim.port, head, b"1000\r\n" + b"b" * 4096 + b"\r\n")
    _assert_refusal(answer, 413)
    assert sent < _STREAM_CAP


def test_a_body_of_one_byte_chunks_costs_its_bytes_not_an_object_each(simulator_factory: Any) -> None:
    limit = 256 * 1024
    sim = simulator_factory(limits=ServerLimits(max_body_bytes=limit))
    head = b"POST /v1/items HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n"
    body = b"1\r\nb\r\n" * (limit - 1) + b"0\r\n\r\n"
    with _peak_memory() as peak:
        answer = _exchange(sim.port, head.replace(b"\r\n\r\n", b"\r\nConnection: close\r\n\r\n") + body)
    assert _status(answer) == 200
    # Kept as one buffer: about the body's size (twice, briefly, when handed over), not ~40 bytes a chunk.
    assert peak[0] < 4 * MIB, f"peak {peak[0]} bytes for a {limit - 1}-byte body in 1-byte chunks"


def _big_responses(body: str) -> Any:
    return parse_scenario(
        f'name = "big"\n[[phases]]\nname = "p"\n[phases.routes."/v1/*"]\n'
        f'faults = [{{ kind = "status", status = 200, body = "{body}", content_type = "text/plain" }}]\n'
    )


def test_responses_a_client_does_not_read_are_not_buffered(simulator_factory: Any) -> None:
    """200 pipelined requests for 100 KB responses, sent at once, none read: the server answers until its
    write buffer is full, then holds the rest unanswered (20 MB never sit in its memory); once the client
    reads, every response arrives, in order."""
    big = "x" * 100_000
    sim = simulator_factory(_big_responses(big), ledger_size=10)
    count = 200
    requests = b"".join(b"GET /v1/big/%d HTTP/1.1\r\nHost: sim\r\n\r\n" % index for index in range(count))
    with socket.create_connection(("127.0.0.1", sim.port), timeout=5) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 64 * 1024)
        with _peak_memory() as peak:
            sock.sendall(requests)
            # The client reads nothing until the server has stopped answering (its request count settles).
            answered, settled = -1, 0
            for _ in range(200):
                time.sleep(0.01)  # polling the count, not timing: the loop ends when it stops moving
                now = sim.stats()["requests"]
                settled = settled + 1 if now == answered else 0
                answered = now
                if settled >= 5 or answered >= count:
                    break
        assert answered < count, "the server answered every request with nobody reading: it buffered them all"
        assert peak[0] < 4 * MIB, f"peak {peak[0]} bytes with {answered} responses answered and unread"
        sock.shutdown(socket.SHUT_WR)
        received = _read_until_closed(sock, cap=count * (len(big) + 1024))
    assert received.count(b"HTTP/1.1 200 ") == count
    assert sim.stats()["requests"] == count


def test_a_client_that_reads_nothing_is_cut_off_after_the_idle_timeout(simulator_factory: Any) -> None:
    sim = simulator_factory(_big_responses("x" * 100_000), limits=FAST, ledger_size=10)
    requests = b"GET /v1/big HTTP/1.1\r\nHost: sim\r\n\r\n" * 200
    with socket.create_connection(("127.0.0.1", sim.port), timeout=5) as sock:
        sock.sendall(requests)
        stats: dict[str, Any] = {}
        for _ in range(200):  # bounded wait for the server to drop the connection (idle_timeout is 0.2 s)
            stats = sim.stats()
            if stats["requests"] and not stats["connections"]:  # answered some, then dropped it
                break
            time.sleep(0.01)
        assert stats["requests"]
        assert stats["connections"] == 0
        received = _read_until_closed(sock, cap=200 * 101_000)
    assert received.count(b"HTTP/1.1 200 ") < 200


# --- times ----------------------------------------------------------------------------------------------


def test_half_sent_request_gets_408_after_the_header_timeout(simulator_factory: Any) -> None:
    sim = simulator_factory(limits=FAST)
    answer = _exchange(sim.port, b"GET /v1/items HTTP/1.1\r\nHost: sim\r\nX-Half: ")
    _assert_refusal(answer, 408)
    assert sim.stats()["requests"] == 0
    assert sim.stats()["refused"] == {"408": 1}


def test_slowloris_bytes_do_not_extend_the_header_timeout(simulator_factory: Any) -> None:
    sim = simulator_factory(limits=FAST)
    request = b"GET /v1/items HTTP/1.1\r\n" + b"X-Slow: " + b"s" * 100
    with socket.create_connection(("127.0.0.1", sim.port), timeout=5) as sock:
        for byte in request:  # one byte every 20 ms: far slower than the 200 ms allowed for the whole head
            readable, _, _ = select.select([sock], [], [], 0.02)
            if readable:
                break
            sock.sendall(bytes([byte]))
        answer = _read_until_closed(sock)
    _assert_refusal(answer, 408)


def test_half_sent_body_gets_408(simulator_factory: Any) -> None:
    sim = simulator_factory(limits=FAST)
    answer = _exchange(sim.port, b"POST /v1/items HTTP/1.1\r\nContent-Length: 10\r\n\r\n12345")
    _assert_refusal(answer, 408)


def test_idle_keep_alive_connection_is_closed_without_a_reply(simulator_factory: Any) -> None:
    sim = simulator_factory(limits=FAST)
    with socket.create_connection(("127.0.0.1", sim.port), timeout=5) as sock:
        sock.sendall(b"GET /v1/items HTTP/1.1\r\nHost: sim\r\n\r\n")
        first = b""
        while b"\r\n\r\n" not in first:
            first += sock.recv(65536)
        head, _, body = first.partition(b"\r\n\r\n")
        length = int(next(line for line in head.split(b"\r\n") if line.lower().startswith(b"content-length:"))[15:])
        while len(body) < length:
            body += sock.recv(65536)
        assert _status(head) == 200
        assert b"connection: close" not in head.lower()
        assert _read_until_closed(sock) == b""  # the idle timeout's close: no 408 on an idle connection


def test_fresh_connection_that_sends_nothing_is_closed(simulator_factory: Any) -> None:
    sim = simulator_factory(limits=FAST)
    with socket.create_connection(("127.0.0.1", sim.port), timeout=5) as sock:
        assert _read_until_closed(sock) == b""


def test_slow_replies_are_not_cut_by_the_timeouts(simulator_factory: Any) -> None:
    scenario = parse_scenario(
        'name = "slow-reply"\n[[phases]]\nname = "p"\n'
        '[phases.routes."/v1/slow"]\nfaults = [{ kind = "latency", delay = 0.4 }]\n'
        '[phases.routes."/v1/hang"]\nfaults = [{ kind = "hang" }]\n'
    )
    sim = simulator_factory(scenario, limits=ServerLimits(header_timeout=0.1, idle_timeout=0.1))
    with httpx.Client() as client:
        assert client.get(sim.url("/v1/slow")).status_code == 200
        assert client.get(sim.url("/v1/items")).status_code == 200  # same connection, after the delay
    with socket.create_connection(("127.0.0.1", sim.port), timeout=5) as sock:
        sock.sendall(b"GET /v1/hang HTTP/1.1\r\nHost: sim\r\n\r\n")
        readable, _, _ = select.select([sock], [], [], 0.4)  # four timeouts long: the hang must outlast them
        assert readable == []  # no 408, no close: a hang fault hangs until the client gives up


def test_keep_alive_traffic_within_the_limits_is_unaffected(simulator_factory: Any) -> None:
    sim = simulator_factory(limits=FAST)
    with httpx.Client() as client:
        for _ in range(3):
            assert client.get(sim.url("/v1/items"), headers={"X-Pad": "p" * 4096}).status_code == 200
            response = client.post(sim.url("/v1/payments"), content=b"{}" + b" " * MIB)
            assert response.status_code == 201
        time.sleep(0.3)  # past the idle timeout: the pooled connection was closed, the client reconnects
        assert client.get(sim.url("/v1/items")).status_code == 200


def test_a_failing_handler_is_a_500_not_a_bad_request(simulator: Simulator, monkeypatch: pytest.MonkeyPatch) -> None:
    def broken(self: Upstream, request: Any, connection: Any) -> Any:
        raise RuntimeError("simulated bug")

    monkeypatch.setattr(Upstream, "handle", broken)
    answer = _exchange(simulator.port, b"GET /v1/items HTTP/1.1\r\nHost: sim\r\n\r\n")
    _assert_refusal(answer, 500)


def test_limits_are_validated() -> None:
    with pytest.raises(ValueError, match="header_timeout must be a positive finite number"):
        ServerLimits(header_timeout=float("inf"))
    with pytest.raises(ValueError, match="max_headers must be a positive finite number"):
        ServerLimits(max_headers=0)
    with pytest.raises(TypeError, match="idle_timeout must be a number"):
        ServerLimits(idle_timeout="5")  # type: ignore[arg-type]


def test_over_tls_the_same_limits_and_timeouts_hold(simulator_factory: Any) -> None:
    """TLS has no half-close: the refusal is written, the rest read and discarded, the close comes after
    ``linger``."""
    # Roomier timers than FAST: on a loaded machine the TLS handshake alone can outlast 0.2 s of idle time.
    sim = simulator_factory(tls="valid", limits=ServerLimits(header_timeout=1.0, idle_timeout=1.0, linger=0.5))
    # The size limit on a server whose header timer cannot win the race on a loaded machine (a 408 there).
    roomy = simulator_factory(tls="valid", limits=ServerLimits(header_timeout=30.0, idle_timeout=30.0, linger=0.5))
    context = sim.ssl_context()

    def tls_exchange(request: bytes, filler: bytes = b"", port: int = sim.port) -> bytes:
        with (
            socket.create_connection(("127.0.0.1", port), timeout=5) as raw,
            context.wrap_socket(raw, server_hostname="localhost") as sock,
        ):
            sock.sendall(request)
            # Four times the header limit, then read (a TLS socket is readable for the server's session
            # tickets alone, so readiness cannot say "answered" here); the server discards what follows its
            # refusal while it lingers.
            with contextlib.suppress(OSError):
                for _ in range(4 if filler else 0):
                    sock.sendall(filler)
            return _read_until_closed(sock)

    endless = b"GET /v1/items HTTP/1.1\r\nHost: sim\r\nX-Endless: "
    _assert_refusal(tls_exchange(endless, b"a" * 32768, port=roomy.port), 431)
    _assert_refusal(tls_exchange(b"GET /v1/items HTTP/1.1\r\nHost: sim\r\n"), 408)
