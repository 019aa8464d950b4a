"""The sandbox workbench's files (rail/web/: index.html, plain ES modules, one stylesheet), served by `GET /` and
`GET /web/{file}` from the route table, public: the page holds no data, it asks the API with the token its user
signs in with (docs/workbench.md).

No build step: the files ship in the package as they are written and are read once, at the first request. Only
names found in rail/web/ are served (a path parameter is one segment, so nothing outside it can be named).
Every answer carries a Content-Security-Policy allowing only this origin (no inline script or style, no other
host, no framing): whatever a message holds, the page can run only its own code. The files are not versioned by
name, so a browser revalidates each time (`no-cache` with an ETag, answered 304 when unchanged): an upgraded
rail never runs with a stale module.
"""

from __future__ import annotations

import hashlib
from functools import cache
from importlib import resources

from rail.api.http_types import Request, Response, error_response

INDEX = "index.html"
CONTENT_TYPES = {
    ".html": "text/html; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".svg": "image/svg+xml",
}
CONTENT_SECURITY_POLICY = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self'; connect-src 'self'; "
    "font-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
)
_SECURITY_HEADERS = {
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-cache",
}


class Asset:
    __slots__ = ("body", "etag", "headers")

    def __init__(self, name: str, body: bytes) -> None:
        self.body = body
        self.etag = '"' + hashlib.sha256(body).hexdigest()[:32] + '"'
        suffix = name[name.rfind(".") :]
        self.headers = {"Content-Type": CONTENT_TYPES[suffix], "ETag": self.etag, **_SECURITY_HEADERS}


@cache
def assets() -> dict[str, Asset]:
    """The workbench's files by name, read once from the installed package."""
    folder = resources.files("rail") / "web"
    found = {}
    for entry in folder.iterdir():
        suffix = entry.name[entry.name.rfind(".") :]
        if entry.is_file() and suffix in CONTENT_TYPES:
            found[entry.name] = Asset(entry.name, entry.read_bytes())
    return found


def _answer(asset: Asset, request: Request) -> Response:
    # If-None-Match may list several tags (RFC 9110 13.1.2); a weak comparison is the one it asks for.
    wanted = request.head.headers.get("if-none-match", "")
    if wanted and (
        wanted.strip() == "*" or asset.etag in (t.strip().removeprefix("W/") for t in wanted.split(","))
    ):
        return Response(304, asset.headers)
    return Response(200, asset.headers, asset.body)


async def get_page(rail: object, request: Request) -> Response:
    """GET /: the workbench page."""
    return _answer(assets()[INDEX], request)


async def get_file(rail: object, request: Request) -> Response:
    """GET /web/{file}: one of the page's modules or its stylesheet."""
    asset = assets().get(request.admit.params["file"])
    if asset is None:
        return error_response(404, "not_found", "no such workbench file (the page is at /)")
    return _answer(asset, request)
