"""HttpTransport with several rail URLs (active first, then standbys) switches over by itself: on a refused
connection, and on a 503 from a rail whose /healthz says it is not serving; not on a 503 that only sheds load.
Real sockets, small aiohttp servers standing in for the rails.
"""

from __future__ import annotations

import socket

import pytest
from aiohttp import web

from participants.transport import BASE_URLS_MAX, HttpTransport, RailUnreachable


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


async def serve_rail(name: str, *, submit_status: int = 202, healthy: bool = True, port: int = 0):
    """A stand-in rail: POST /v1/messages answers `submit_status` with its name; /healthz 200 or 503."""
    seen: list[str] = []

    async def submit(request: web.Request) -> web.Response:
        seen.append(await request.text())
        return web.Response(status=submit_status, body=name.encode(), content_type="application/xml")

    async def healthz(request: web.Request) -> web.Response:
        return web.json_response({"ok": healthy}, status=200 if healthy else 503)

    app = web.Application()
    app.router.add_post("/v1/messages", submit)
    app.router.add_get("/healthz", healthz)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", port)
    await site.start()
    return runner, f"http://127.0.0.1:{runner.addresses[0][1]}", seen


@pytest.mark.parametrize("client", ["lean", "aiohttp"])
async def test_a_refused_active_rail_sends_the_call_to_the_standby_and_the_transport_stays_there(client):
    runner, standby_url, seen = await serve_rail("standby")
    down_url = f"http://127.0.0.1:{free_port()}"
    transport = HttpTransport(f"{down_url}, {standby_url}/", "tok", client=client)
    try:
        status, _, body = await transport.send(b"<first/>")
        assert (status, body) == (202, b"standby")
        assert transport.base_url == standby_url and transport.switches == 1
        status, _, body = await transport.send(b"<second/>")  # straight to the standby now
        assert (status, body, transport.switches) == (202, b"standby", 1)
        assert seen == ["<first/>", "<second/>"]
        # A participant's transport made from this one starts on the rail in use.
        assert transport.with_token("other").base_url == standby_url
    finally:
        await transport.close()
        await runner.cleanup()


async def test_a_503_from_a_rail_that_is_not_serving_moves_on_but_load_shedding_does_not():
    stopping, stopping_url, stopping_seen = await serve_rail("stopping", submit_status=503, healthy=False)
    shedding, shedding_url, shedding_seen = await serve_rail("shedding", submit_status=503, healthy=True)
    serving, serving_url, serving_seen = await serve_rail("serving")
    try:
        moving = HttpTransport([stopping_url, serving_url], "tok")
        status, _, body = await moving.send(b"<pay/>")
        assert (status, body, moving.base_url) == (202, b"serving", serving_url)
        assert (
            stopping_seen == serving_seen == ["<pay/>"]
        )  # resent: the rail answers a resend with its outcome
        await moving.close()

        staying = HttpTransport([shedding_url, serving_url], "tok")
        status, _, body = await staying.send(b"<pay/>")
        assert (status, body, staying.base_url) == (503, b"shedding", shedding_url)  # the caller's to retry
        assert shedding_seen == ["<pay/>"] and serving_seen == ["<pay/>"]
        await staying.close()
    finally:
        for runner in (stopping, shedding, serving):
            await runner.cleanup()


async def test_when_no_rail_answers_the_call_fails_once_each_and_the_next_call_tries_again():
    ports = [free_port(), free_port()]
    transport = HttpTransport([f"http://127.0.0.1:{port}" for port in ports], "tok")
    try:
        with pytest.raises(RailUnreachable) as info:
            await transport.send(b"<pay/>")
        assert f"127.0.0.1:{ports[1]}" in str(info.value) and "\n" not in str(info.value)
        assert transport.switches == 1  # each URL tried once, then the caller decides (the harness retries)
        # A rail comes up on the first address (a standby took over there): the same transport finds it.
        runner, _url, seen = await serve_rail("back", port=ports[0])
        try:
            assert (await transport.send(b"<again/>"))[0] == 202 and seen == ["<again/>"]
            assert transport.base_url == f"http://127.0.0.1:{ports[0]}"
        finally:
            await runner.cleanup()
    finally:
        await transport.close()


def test_the_url_list_is_checked():
    with pytest.raises(ValueError, match="no rail URL"):
        HttpTransport(" , ")
    with pytest.raises(ValueError, match=f"at most {BASE_URLS_MAX}"):
        HttpTransport(",".join(f"http://127.0.0.1:{8000 + i}" for i in range(BASE_URLS_MAX + 1)))
    assert HttpTransport(["http://a:1/", "http://b:2"]).base_urls == ["http://a:1", "http://b:2"]
