"""rail/api/listener.py over real sockets on 127.0.0.1: HTTP/1.1 behaviour, every limit, flow control both
ways, shutdown, interop with aiohttp's client and http.client, and memory that stays bounded against hostile
clients (a server in its own process, its /proc/PID/status read)."""

from __future__ import annotations

import asyncio
import http.client
import importlib.util
import signal
import socket
import subprocess
import sys
import time
from email.utils import parsedate_to_datetime
from pathlib import Path

import aiohttp
import pytest

from rail.api.http_types import RequestHead, Response, respond
from rail.api.http_wire import render
from rail.api.listener import FEED_SLICE_BYTES, HEAD_BYTES_MAX, Listener, ListenerLimits

CHILD = Path(__file__).with_name("listener_child.py")
_spec = importlib.util.spec_from_file_location("listener_child", CHILD)
listener_child = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(listener_child)
TinyApp = listener_child.TinyApp
TOKEN = listener_child.TOKEN
AUTH = f"Authorization: Bearer {TOKEN}\r\n"
TIMEOUT_S = 10.0


# Every test runs on asyncio's own loop and on uvloop (what `rail serve` runs): their transports differ in when
# they pause, buffer and half-close. pytest-asyncio deprecates overriding event_loop_policy in favour of a
# conftest-wide hook that would re-parametrize every async test of the suite; the override stays local, and
# test_each_test_runs_on_the_loop_it_names fails the day it stops taking effect.
pytestmark = pytest.mark.filterwarnings('ignore:Overriding the "event_loop_policy" fixture is deprecated')


@pytest.fixture(scope="module", params=["asyncio", "uvloop"])
def event_loop_policy(request):
    if request.param == "uvloop":
        uvloop = pytest.importorskip("uvloop")
        return uvloop.EventLoopPolicy()
    return asyncio.DefaultEventLoopPolicy()


async def test_each_test_runs_on_the_loop_it_names(event_loop_policy):
    loop_module = type(asyncio.get_running_loop()).__module__
    assert loop_module.startswith("uvloop") == (type(event_loop_policy).__module__.startswith("uvloop"))


@pytest.fixture
async def serve():
    """start(app=None, **limits) -> (listener, app): a listener on an OS-chosen port, closed after the test."""
    listeners: list[Listener] = []

    async def start(app: TinyApp | None = None, **limits) -> tuple[Listener, TinyApp]:
        app = app or TinyApp()
        listener = Listener(app, ListenerLimits(**limits))
        await listener.start("127.0.0.1", 0)
        listeners.append(listener)
        return listener, app

    yield start
    for listener in listeners:
        await listener.close(grace_s=0.5)


async def connect(listener: Listener) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    return await asyncio.open_connection("127.0.0.1", listener.port, limit=1 << 22)


async def read_response(reader: asyncio.StreamReader, head_only: bool = False) -> tuple[int, dict, bytes]:
    """One answer off the wire: (status, headers by lower-case name, body), framed by Content-Length."""
    async with asyncio.timeout(TIMEOUT_S):
        head = await reader.readuntil(b"\r\n\r\n")
        status_line, *lines = head.decode("latin-1").split("\r\n")
        headers = {}
        for line in lines:
            if line:
                name, _, value = line.partition(":")
                headers[name.strip().lower()] = value.strip()
        status = int(status_line.split(" ")[1])
        length = int(headers.get("content-length", 0))
        body = b"" if head_only or status == 100 else await reader.readexactly(length)
    return status, headers, body


async def closed_by_server(reader: asyncio.StreamReader) -> bool:
    """True when the server has closed (EOF or reset), with nothing more sent."""
    try:
        async with asyncio.timeout(TIMEOUT_S):
            return await reader.read(1) == b""
    except ConnectionResetError:
        return True


async def send_an_endless_field_value(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    """4 KiB pieces of one header (or trailer) value, until the server gives up on it or well past its limit."""
    for _ in range(2 * (HEAD_BYTES_MAX + 2 * FEED_SLICE_BYTES) // 4096):
        if reader.at_eof() or writer.is_closing():
            return
        writer.write(b"v" * 4096)
        await asyncio.sleep(0.001)


def request(method: str, path: str, body: bytes = b"", headers: str = "") -> bytes:
    length = f"Content-Length: {len(body)}\r\n" if body or method == "POST" else ""
    return f"{method} {path} HTTP/1.1\r\nHost: test\r\n{headers}{length}\r\n".encode() + body


# ---- HTTP/1.1 behaviour ----------------------------------------------------------------------------------------


async def test_keep_alive_answers_carry_content_length_date_and_the_participant(serve):
    listener, app = await serve()
    reader, writer = await connect(listener)
    writer.write(request("GET", "/hello"))
    status, headers, body = await read_response(reader)
    assert (status, body) == (200, b"hello /hello")
    assert headers["content-length"] == str(len(body))
    assert abs(parsedate_to_datetime(headers["date"]).timestamp() - time.time()) < 5
    assert "connection" not in headers  # HTTP/1.1 keeps the connection by default
    writer.write(request("POST", "/echo", b"pacs.008", AUTH))
    status, headers, body = await read_response(reader)
    assert (status, body, headers["participant"]) == (200, b"pacs.008", "BANKPKKA")
    assert app.handled == [("/hello", b""), ("/echo", b"pacs.008")]
    writer.close()


async def test_pipelined_requests_are_answered_in_order(serve):
    listener, _ = await serve()
    reader, writer = await connect(listener)
    writer.write(
        request("GET", "/slow?ms=150")
        + request("POST", "/echo", b"second", AUTH)
        + request("GET", "/nowhere")
        + request("GET", "/slow?ms=10")
    )
    answers = [await read_response(reader) for _ in range(4)]
    assert [(status, body) for status, _, body in answers] == [
        (200, b"hello /slow"),
        (200, b"second"),
        (404, answers[2][2]),
        (200, b"hello /slow"),
    ]
    assert b"no route /nowhere" in answers[2][2]
    writer.close()


async def test_a_request_sent_one_byte_at_a_time_is_served(serve):
    listener, _ = await serve()
    reader, writer = await connect(listener)
    for byte in request("POST", "/echo", b"slowly", AUTH):
        writer.write(bytes([byte]))
        await writer.drain()
        await asyncio.sleep(0)
    assert (await read_response(reader))[2] == b"slowly"
    writer.close()


async def test_chunked_request_body_is_assembled(serve):
    listener, app = await serve()
    reader, writer = await connect(listener)
    writer.write(
        f"POST /echo HTTP/1.1\r\nHost: t\r\n{AUTH}Transfer-Encoding: chunked\r\n\r\n".encode()
        + b"5\r\nhello\r\n7\r\n, world\r\n0\r\n\r\n"
    )
    assert (await read_response(reader))[:3:2] == (200, b"hello, world")
    assert app.handled == [("/echo", b"hello, world")]
    writer.close()


async def test_trailer_fields_are_dropped_and_bounded(serve):
    listener, app = await serve()
    reader, writer = await connect(listener)
    head = f"POST /echo HTTP/1.1\r\nHost: t\r\n{AUTH}Transfer-Encoding: chunked\r\n\r\n".encode()
    writer.write(head + b"2\r\nok\r\n0\r\nAuthorization: Bearer other\r\nX-Trailer: t\r\n\r\n")
    assert (await read_response(reader))[:3:2] == (200, b"ok")
    writer.write(head + b"2\r\nok\r\n0\r\nX-Endless: ")
    await send_an_endless_field_value(reader, writer)
    assert (await read_response(reader))[0] == 431
    assert await closed_by_server(reader)
    assert app.handled == [("/echo", b"ok")]


async def test_connection_close_is_honoured(serve):
    listener, _ = await serve()
    reader, writer = await connect(listener)
    writer.write(request("GET", "/hello", headers="Connection: close\r\n") + request("GET", "/hello"))
    status, headers, _ = await read_response(reader)
    assert (status, headers["connection"]) == (200, "close")
    assert await closed_by_server(reader)  # the request after it is not answered


async def test_http10_closes_unless_keep_alive_is_asked(serve):
    listener, _ = await serve()
    reader, writer = await connect(listener)
    writer.write(b"GET /hello HTTP/1.0\r\n\r\n")
    status, headers, _ = await read_response(reader)
    assert (status, headers["connection"]) == (200, "close")
    assert await closed_by_server(reader)
    reader, writer = await connect(listener)
    writer.write(b"GET /hello HTTP/1.0\r\nConnection: keep-alive\r\n\r\n" * 2)
    for _ in range(2):
        status, headers, _ = await read_response(reader)
        assert (status, headers["connection"]) == (200, "keep-alive")
    writer.close()


async def test_head_answer_has_the_length_but_no_body(serve):
    listener, _ = await serve()
    reader, writer = await connect(listener)
    writer.write(request("HEAD", "/hello") + request("GET", "/hello"))
    status, headers, _ = await read_response(reader, head_only=True)
    assert (status, headers["content-length"]) == (200, str(len(b"hello /hello")))
    assert (await read_response(reader))[2] == b"hello /hello"  # the next answer starts right after the head
    writer.close()


async def test_expect_100_continue_only_once_the_head_is_admitted(serve):
    listener, app = await serve()
    reader, writer = await connect(listener)
    head = f"POST /echo HTTP/1.1\r\nHost: t\r\n{AUTH}Expect: 100-continue\r\nContent-Length: 4\r\n\r\n"
    writer.write(head.encode())
    assert (await read_response(reader))[0] == 100
    writer.write(b"body")
    assert (await read_response(reader))[:3:2] == (200, b"body")
    writer.close()

    reader, writer = await connect(listener)
    writer.write(b"POST /echo HTTP/1.1\r\nHost: t\r\nExpect: 100-continue\r\nContent-Length: 4\r\n\r\n")
    status, headers, _ = await read_response(reader)  # refused at once: no 100, the body is never wanted
    assert (status, headers["connection"]) == (401, "close")
    assert await closed_by_server(reader)
    assert app.handled == [("/echo", b"body")]


async def test_an_unknown_expectation_gets_417(serve):
    listener, _ = await serve()
    reader, writer = await connect(listener)
    writer.write(request("GET", "/hello", headers="Expect: teapot\r\n"))
    assert (await read_response(reader))[0] == 417
    assert await closed_by_server(reader)


async def test_upgrade_requests_are_refused(serve):
    listener, app = await serve()
    reader, writer = await connect(listener)
    writer.write(
        request("GET", "/hello", headers="Connection: Upgrade\r\nUpgrade: websocket\r\n") + b"\x81\x00"
    )
    status, _, body = await read_response(reader)
    assert status == 400 and b"upgrade_unsupported" in body
    assert await closed_by_server(reader)
    assert app.handled == []


@pytest.mark.parametrize(
    "raw",
    [
        b"GARBAGE\r\n\r\n",
        b"GET /hello HTTP/1.1\r\nBad Header: x\r\n\r\n",
        b"POST /echo HTTP/1.1\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
        b"POST /echo HTTP/1.1\r\nContent-Length: 3\r\nContent-Length: 4\r\n\r\nabcd",
        f"POST /echo HTTP/1.1\r\n{AUTH}Transfer-Encoding: chunked\r\n\r\nZZ\r\n".encode(),
        b"GET /h\x00llo HTTP/1.1\r\n\r\n",
    ],
    ids=["not-http", "space-in-name", "length-and-chunked", "two-lengths", "bad-chunk", "nul-in-target"],
)
async def test_malformed_requests_get_400_and_close(serve, raw):
    listener, app = await serve()
    reader, writer = await connect(listener)
    writer.write(raw)
    status, headers, body = await read_response(reader)
    assert (status, headers["connection"]) == (400, "close"), body
    assert await closed_by_server(reader)
    assert app.handled == []


async def test_other_http_versions_are_refused(serve):
    listener, _ = await serve()
    reader, writer = await connect(listener)
    writer.write(b"GET /hello HTTP/2.0\r\n\r\n")
    assert (await read_response(reader))[0] in (400, 505)
    assert await closed_by_server(reader)


async def test_an_application_error_is_a_500_and_the_connection_lives_on(serve):
    listener, _ = await serve()
    reader, writer = await connect(listener)
    writer.write(request("GET", "/boom") + request("GET", "/badheader") + request("GET", "/hello"))
    assert [(await read_response(reader))[0] for _ in range(3)] == [500, 500, 200]
    writer.close()


# ---- limits ----------------------------------------------------------------------------------------------------


async def test_an_unauthenticated_small_body_is_dropped_and_the_connection_kept(serve):
    listener, app = await serve()
    reader, writer = await connect(listener)
    writer.write(request("POST", "/echo", b"x" * 4_000) + request("POST", "/echo", b"ok", AUTH))
    status, headers, _ = await read_response(reader)
    assert status == 401 and headers["www-authenticate"] == "Bearer" and "connection" not in headers
    assert (await read_response(reader))[2] == b"ok"
    assert app.handled == [("/echo", b"ok")]  # the refused body never reached the application
    writer.close()


async def test_an_unauthenticated_large_body_gets_its_401_not_a_reset(serve):
    """The client (http.client: send all, then read) sends 1 MiB the rail will not read: it still gets the
    answer, because the listener half-closes and drops the rest instead of resetting the connection."""
    listener, app = await serve()

    def post() -> tuple[int, str]:
        connection = http.client.HTTPConnection("127.0.0.1", listener.port, timeout=TIMEOUT_S)
        connection.request("POST", "/echo", body=b"x" * (1 << 20))
        answer = connection.getresponse()
        return answer.status, answer.getheader("Connection")

    assert await asyncio.to_thread(post) == (401, "close")
    assert app.handled == []


async def test_a_declared_body_over_the_route_limit_gets_413_before_it_is_sent(serve):
    listener, app = await serve()
    reader, writer = await connect(listener)
    writer.write(f"POST /echo HTTP/1.1\r\nHost: t\r\n{AUTH}Content-Length: 10000000\r\n\r\n".encode())
    status, headers, body = await read_response(reader)  # no body byte sent yet
    assert (status, headers["connection"]) == (413, "close") and b"too_large" in body
    writer.close()
    assert app.handled == []


async def test_a_chunked_body_past_the_route_limit_gets_413_and_close(serve):
    listener, app = await serve()
    reader, writer = await connect(listener)
    chunk = b"%x\r\n%s\r\n" % (16_384, b"y" * 16_384)
    writer.write(
        f"POST /echo HTTP/1.1\r\nHost: t\r\n{AUTH}Transfer-Encoding: chunked\r\n\r\n".encode() + chunk * 8
    )
    status, headers, _ = await read_response(reader)
    assert (status, headers["connection"]) == (413, "close")
    assert await closed_by_server(reader)
    assert app.handled == []


async def test_a_long_target_gets_414(serve):
    listener, _ = await serve(url_bytes_max=100)
    reader, writer = await connect(listener)
    writer.write(request("GET", "/hello?" + "q" * 200))
    assert (await read_response(reader))[0] == 414
    assert await closed_by_server(reader)


@pytest.mark.parametrize("shape", ["many-headers", "long-headers", "one-endless-header"])
async def test_an_oversized_head_gets_431(serve, shape):
    listener, app = await serve()
    reader, writer = await connect(listener)
    if shape == "many-headers":
        writer.write(request("GET", "/hello", headers="".join(f"X-{i}: {i}\r\n" for i in range(100))))
    elif shape == "long-headers":
        writer.write(request("GET", "/hello", headers="".join(f"X-{i}: {'v' * 4000}\r\n" for i in range(5))))
    else:  # a header that never ends, in pieces: refused once past the limit, not gathered without bound
        writer.write(b"GET /hello HTTP/1.1\r\nX-Endless: ")
        await send_an_endless_field_value(reader, writer)
    assert (await read_response(reader))[0] == 431
    assert await closed_by_server(reader)
    assert app.heads_seen == 0


async def test_a_slow_request_gets_408(serve):
    listener, _ = await serve(request_read_timeout_s=0.3)
    reader, writer = await connect(listener)
    writer.write(b"GET /hello HTTP/1.1\r\nHost: t\r\n")  # and never the blank line
    status, headers, _ = await read_response(reader)
    assert (status, headers["connection"]) == (408, "close")
    assert await closed_by_server(reader)


async def test_a_connection_that_never_sends_is_closed_after_the_read_timeout(serve):
    listener, _ = await serve(request_read_timeout_s=0.3)
    reader, _ = await connect(listener)
    assert (await read_response(reader))[0] == 408


async def test_an_idle_keep_alive_connection_is_closed(serve):
    listener, _ = await serve(keep_alive_timeout_s=0.3)
    reader, writer = await connect(listener)
    writer.write(request("GET", "/hello"))
    await read_response(reader)
    started = time.monotonic()
    assert await closed_by_server(reader)
    assert 0.2 < time.monotonic() - started < 3
    assert listener.connection_count == 0


async def test_connections_above_the_limit_get_503(serve):
    listener, _ = await serve(connections_max=2)
    kept = [await connect(listener) for _ in range(2)]
    for reader, writer in kept:
        writer.write(request("GET", "/hello"))
        await read_response(reader)
    reader, writer = await connect(listener)
    writer.write(request("GET", "/hello"))
    status, headers, _ = await read_response(reader)
    assert (status, headers["retry-after"], headers["connection"]) == (503, "1", "close")
    assert await closed_by_server(reader)
    assert listener.connection_count == 2


async def test_pipelining_past_the_queue_limit_pauses_reading(serve):
    """While the first request waits, the listener reads no more than its queue holds: the heads it has seen
    stay at the limit (each request is one feed slice long, so the count is exact), the rest waits in the
    socket; when the first is answered, all are."""
    listener, app = await serve(pipeline_requests_max=4)
    reader, writer = await connect(listener)
    padding = f"X-Pad: {'p' * FEED_SLICE_BYTES}\r\n"
    writer.write(request("GET", "/gate", headers=padding) + request("GET", "/hello", headers=padding) * 40)
    await asyncio.sleep(0.3)
    assert app.heads_seen <= 4 + 1
    app.gate.set()
    statuses = [(await read_response(reader))[0] for _ in range(41)]
    assert statuses == [200] * 41 and app.heads_seen == 41
    writer.close()


async def test_requests_sent_before_a_half_close_are_all_answered(serve):
    """A client may send its pipelined requests and shut its side before it reads: every request it sent is
    answered (most waited in the socket while the queue was full), then the listener closes."""
    listener, _ = await serve(pipeline_requests_max=4)
    reader, writer = await connect(listener)
    padding = f"X-Pad: {'p' * FEED_SLICE_BYTES}\r\n"  # one request per feed slice
    writer.write(request("GET", "/slow?ms=50") + request("GET", "/hello", headers=padding) * 40)
    writer.write_eof()
    statuses = [(await read_response(reader))[0] for _ in range(41)]
    assert statuses == [200] * 41
    assert await closed_by_server(reader)


async def test_a_client_that_does_not_read_stops_the_handlers_until_it_does(serve):
    """Write flow control: with answers piling up unread, no further queued request is started (the handler
    count stops), so memory stays bounded; once the client reads, every answer arrives, in order."""
    listener, app = await serve()
    sock = socket.create_connection(("127.0.0.1", listener.port))
    sock.setblocking(False)
    loop = asyncio.get_running_loop()
    count = 600  # 37.5 MiB of answers: more than the kernel's socket buffers take in
    await loop.sock_sendall(sock, request("GET", "/big", headers=AUTH) * count)
    await asyncio.sleep(0.5)
    handled_while_unread = len(app.handled)
    await asyncio.sleep(0.3)
    assert len(app.handled) == handled_while_unread < count // 3
    reader, writer = await asyncio.open_connection(sock=sock, limit=1 << 22)
    for _ in range(count):
        status, _, body = await read_response(reader)
        assert status == 200 and body == listener_child.BIG_BODY
    assert len(app.handled) == count
    writer.close()


async def test_a_client_that_never_reads_is_cut_off_after_the_write_stall_timeout(serve):
    listener, _ = await serve(write_stall_timeout_s=0.4)
    sock = socket.create_connection(("127.0.0.1", listener.port))
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    sock.sendall(request("GET", "/big", headers=AUTH) * 200)
    deadline = time.monotonic() + TIMEOUT_S
    while listener.connection_count and time.monotonic() < deadline:
        await asyncio.sleep(0.05)
    assert listener.connection_count == 0
    sock.close()


async def test_listeners_share_a_port_with_reuse_port_or_take_a_bound_socket():
    """What edge workers need: several processes on one port (SO_REUSEPORT), or a socket handed over."""
    first = Listener(TinyApp())
    await first.start("127.0.0.1", 0, reuse_port=True)
    second = Listener(TinyApp())
    await second.start("127.0.0.1", first.port, reuse_port=True)
    bound = socket.socket()
    bound.bind(("127.0.0.1", 0))
    third = Listener(TinyApp())
    await third.start(sock=bound)
    try:
        assert second.port == first.port and third.port == bound.getsockname()[1]
        for listener in (first, third):
            reader, writer = await connect(listener)
            writer.write(request("GET", "/hello"))
            assert (await read_response(reader))[0] == 200
            writer.close()
    finally:
        for listener in (first, second, third):
            await listener.close(grace_s=0.5)


# ---- shutdown --------------------------------------------------------------------------------------------------


async def test_graceful_close_answers_what_is_in_flight_and_closes_the_idle(serve):
    listener, _ = await serve()
    idle_reader, idle_writer = await connect(listener)
    busy_reader, busy_writer = await connect(listener)
    busy_writer.write(request("GET", "/slow?ms=300"))
    await asyncio.sleep(0.1)
    closing = asyncio.create_task(listener.close(grace_s=3))
    status, headers, _ = await read_response(busy_reader)
    assert (status, headers["connection"]) == (200, "close")
    assert await closed_by_server(idle_reader) and await closed_by_server(busy_reader)
    idle_writer.close()
    busy_writer.close()
    started = time.monotonic()
    await closing
    assert time.monotonic() - started < 1  # nothing left to wait for once the clients are gone
    with pytest.raises(OSError):
        await connect(listener)


async def test_close_cuts_a_handler_that_outlives_the_grace(serve):
    listener, _ = await serve()
    reader, writer = await connect(listener)
    writer.write(request("GET", "/gate"))
    await asyncio.sleep(0.1)
    started = time.monotonic()
    await listener.close(grace_s=0.2)
    assert time.monotonic() - started < 2
    assert await closed_by_server(reader)


# ---- the seam and interop --------------------------------------------------------------------------------------


async def test_respond_takes_the_listeners_steps_for_a_whole_body():
    app = TinyApp()
    head = RequestHead("POST", "/echo", "", {"authorization": f"Bearer {TOKEN}"})
    assert (await respond(app, head, b"in-process")).body == b"in-process"
    assert (await respond(app, head, b"x" * (listener_child.ECHO_BODY_BYTES_MAX + 1))).status == 413
    assert (await respond(app, RequestHead("POST", "/echo", "", {}), b"x")).status == 401
    assert (await respond(app, RequestHead("GET", "/boom", "", {}), b"")).status == 500
    assert app.handled == [("/echo", b"in-process"), ("/boom", b"")]


def test_render_refuses_a_header_that_would_break_the_framing():
    with pytest.raises(ValueError):
        render(Response(200, {"X": "a\r\nb: c"}), keep_alive=True, http10=False, head_only=False)
    with pytest.raises(ValueError):
        render(Response(99), keep_alive=True, http10=False, head_only=False)
    wire = render(Response(204, {"Content-Length": "9"}), keep_alive=True, http10=False, head_only=False)
    assert b"Content-Length" not in wire and wire.endswith(b"\r\n\r\n")


async def test_aiohttp_client_interoperates(serve):
    listener, app = await serve()
    base = f"http://127.0.0.1:{listener.port}"

    async def chunks():
        for part in (b"chunked ", b"upload"):
            yield part

    async with aiohttp.ClientSession(headers={"Authorization": f"Bearer {TOKEN}"}) as session:
        for _ in range(3):  # one pooled keep-alive connection
            async with session.get(f"{base}/hello") as answer:
                assert answer.status == 200 and await answer.text() == "hello /hello"
        async with session.post(f"{base}/echo", data=b"plain") as answer:
            assert await answer.read() == b"plain"
        async with session.post(f"{base}/echo", data=chunks()) as answer:
            assert await answer.read() == b"chunked upload"
        async with session.post(f"{base}/echo", data=b"e" * 10, expect100=True) as answer:
            assert await answer.read() == b"e" * 10
        async with session.get(f"{base}/big") as answer:
            assert await answer.read() == listener_child.BIG_BODY
        async with session.delete(f"{base}/hello") as answer:
            assert answer.status == 405 and answer.headers["Allow"] == "GET, HEAD"
    assert len(app.handled) == 7


async def test_http_client_interoperates(serve):
    listener, _ = await serve()

    def exchanges() -> list[tuple[int, bytes]]:
        connection = http.client.HTTPConnection("127.0.0.1", listener.port, timeout=TIMEOUT_S)
        seen = []
        for method, path, body in [
            ("GET", "/hello", None),
            ("HEAD", "/hello", None),
            ("POST", "/echo", b"from http.client"),
            ("GET", "/big", None),
        ]:
            connection.request(method, path, body=body, headers={"Authorization": f"Bearer {TOKEN}"})
            answer = connection.getresponse()
            seen.append((answer.status, answer.read()))
        connection.close()
        return seen

    assert await asyncio.to_thread(exchanges) == [
        (200, b"hello /hello"),
        (200, b""),
        (200, b"from http.client"),
        (200, listener_child.BIG_BODY),
    ]


# ---- memory against hostile clients (the server in its own process) --------------------------------------------

# Growth of the server's peak resident memory (VmHWM) allowed under each attack. Buffering what the clients
# send or fail to read would cost 200 MiB (bodies) and 640 MiB (answers) respectively.
HOSTILE_GROWTH_BYTES_MAX = 24 << 20


@pytest.fixture
def child_server():
    process = subprocess.Popen(
        [sys.executable, str(CHILD)], stdout=subprocess.PIPE, text=True, cwd=CHILD.parents[1]
    )
    try:
        line = process.stdout.readline()
        assert line.startswith("port "), line
        yield process, int(line.split()[1])
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(5)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def peak_rss_bytes(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) * 1024
    raise AssertionError("no VmHWM in /proc status")


async def warm_up(port: int) -> None:
    """Every code path the attack takes, once, so that first-use allocations are not counted as growth."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port, limit=1 << 22)
    writer.write(request("GET", "/big", headers=AUTH) + request("POST", "/echo", b"w" * 1000))
    await read_response(reader)
    await read_response(reader)
    writer.close()


@pytest.mark.slow
@pytest.mark.skipif(not Path("/proc/self/status").exists(), reason="reads /proc/PID/status")
async def test_memory_stays_bounded_with_unauthenticated_bodies(child_server):
    """200 connections each send a 1 MiB body without a valid token: each gets its 401, no body is kept."""
    process, port = child_server
    await warm_up(port)
    before = peak_rss_bytes(process.pid)
    body_piece = b"z" * 65_536

    async def attack() -> int:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(f"POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: {1 << 20}\r\n\r\n".encode())
        try:
            for _ in range(16):
                writer.write(body_piece)
                await writer.drain()
        except ConnectionError:
            pass  # the server may be done with us before the whole body is out
        status = (await read_response(reader))[0]
        writer.close()
        return status

    statuses = await asyncio.gather(*(attack() for _ in range(200)))
    assert statuses == [401] * 200
    growth = peak_rss_bytes(process.pid) - before
    assert growth < HOSTILE_GROWTH_BYTES_MAX, f"peak RSS grew {growth / 2**20:.1f} MiB"


@pytest.mark.slow
@pytest.mark.skipif(not Path("/proc/self/status").exists(), reason="reads /proc/PID/status")
async def test_memory_stays_bounded_with_pipelined_unread_answers(child_server):
    """A client pipelines 10,000 requests for a 64 KiB answer and never reads: the server's memory does not
    follow, and it keeps serving everyone else meanwhile."""
    process, port = child_server
    await warm_up(port)
    before = peak_rss_bytes(process.pid)
    _reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.transport.get_extra_info("socket").setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    writer.write(request("GET", "/big", headers=AUTH) * 10_000)
    await asyncio.sleep(1.5)
    other_reader, other_writer = await asyncio.open_connection("127.0.0.1", port)
    other_writer.write(request("GET", "/hello"))
    assert (await read_response(other_reader))[0] == 200
    growth = peak_rss_bytes(process.pid) - before
    assert growth < HOSTILE_GROWTH_BYTES_MAX, f"peak RSS grew {growth / 2**20:.1f} MiB"
    other_writer.close()
    writer.transport.abort()
