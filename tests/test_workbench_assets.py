"""The workbench page's files as the rail serves them (GET /, GET /web/{file}): content types, a
Content-Security-Policy allowing only this origin, revalidation by ETag, nothing outside rail/web/ nameable; and the
files themselves: every module they import ships, no markup is built from strings, nothing is fetched from
another host. The page's behaviour is tested in a real browser (tests/test_workbench_browser.py)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from rail.api.http_types import RequestHead, respond
from rail.api.routes import RailApi
from rail.api.service import RailService
from rail.api.web import CONTENT_SECURITY_POLICY, assets

WEB = Path(__file__).resolve().parents[1] / "rail" / "web"


@pytest.fixture
async def api():
    rail = await RailService.open(None)
    try:
        yield RailApi(rail)
    finally:
        await rail.close()


async def get(api: RailApi, path: str, headers: dict[str, str] | None = None, method: str = "GET"):
    return await respond(api, RequestHead(method, path, "", headers or {}), b"")


async def test_the_page_and_its_files_are_served_with_their_types_and_a_self_only_policy(api):
    page = await get(api, "/")
    assert page.status == 200
    assert page.headers["Content-Type"] == "text/html; charset=utf-8"
    assert b'<script type="module" src="/web/app.js">' in page.body
    for name, media in (
        ("app.js", "text/javascript"),
        ("style.css", "text/css"),
        ("favicon.svg", "image/svg+xml"),
    ):
        file = await get(api, f"/web/{name}")
        assert file.status == 200, name
        assert file.headers["Content-Type"].startswith(media), name
        assert file.body == (WEB / name).read_bytes()
    for answer in (page, file):
        assert answer.headers["Content-Security-Policy"] == CONTENT_SECURITY_POLICY
        assert answer.headers["X-Content-Type-Options"] == "nosniff"
        assert answer.headers["Cache-Control"] == "no-cache"
    directives = dict(d.strip().split(" ", 1) for d in CONTENT_SECURITY_POLICY.split(";"))
    assert directives["default-src"] == directives["script-src"] == directives["style-src"] == "'self'"
    assert directives["frame-ancestors"] == "'none'"


async def test_an_unchanged_file_is_answered_304_by_its_etag_and_head_has_the_same_headers(api):
    first = await get(api, "/web/app.js")
    again = await get(api, "/web/app.js", {"if-none-match": first.headers["ETag"]})
    assert again.status == 304 and again.body == b""
    assert again.headers["ETag"] == first.headers["ETag"]
    listed = await get(api, "/web/app.js", {"if-none-match": f'"other", W/{first.headers["ETag"]}'})
    assert listed.status == 304
    stale = await get(api, "/web/app.js", {"if-none-match": '"stale"'})
    assert stale.status == 200 and stale.body == first.body
    head = await get(api, "/", method="HEAD")
    assert head.status == 200 and head.headers["Content-Type"].startswith("text/html")


@pytest.mark.parametrize(
    "path",
    [
        "/web/nope.js",
        "/web/..%2Fweb.py",
        "/web/%2E%2E%2Fapi%2Fauth.py",
        "/web/",
        "/web/index.html/x",
        "/web/__init__.py",
    ],
)
async def test_nothing_outside_the_page_files_can_be_named(api, path):
    answer = await get(api, path)
    assert answer.status == 404, path
    assert b"def " not in answer.body


async def test_the_page_files_are_public_and_post_is_not_allowed(api):
    assert (await get(api, "/web/app.js", {"authorization": "Bearer nonsense"})).status == 200
    assert (await get(api, "/", method="POST")).status == 405


def test_every_module_the_page_imports_ships_in_the_package():
    shipped = set(assets())
    assert {"index.html", "app.js", "style.css"} <= shipped
    for name in (n for n in shipped if n.endswith(".js")):
        source = (WEB / name).read_text(encoding="utf-8")
        for imported in re.findall(r"""^import .* from '\./([\w-]+\.js)';$""", source, re.MULTILINE):
            assert imported in shipped, f"{name} imports {imported}, which is not in rail/web/"
    for referenced in re.findall(r'(?:src|href)="/web/([^"]+)"', (WEB / "index.html").read_text()):
        assert referenced in shipped, referenced


def test_no_markup_is_built_from_strings_and_nothing_comes_from_another_host():
    """Everything a message holds reaches the page as text nodes (rail/web/dom.js): a remittance text with
    <script> in it stays text (the browser test proves it on a real payment)."""
    for path in sorted(WEB.iterdir()):
        source = path.read_text(encoding="utf-8")
        for banned in (
            "innerHTML",
            "outerHTML",
            "insertAdjacentHTML",
            "document.write",
            "eval(",
            "new Function",
            "localStorage",
            "console.log",
        ):
            assert banned not in source, f"{path.name} uses {banned}"
        hosts = set(re.findall(r"https?://[^\s'\"`)]+", source)) - {"http://www.w3.org/2000/svg"}
        assert not hosts, f"{path.name} names another host: {hosts}"
    index = (WEB / "index.html").read_text(encoding="utf-8")
    assert "<script>" not in index and " style=" not in index and " on" + "click=" not in index
