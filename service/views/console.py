"""The web console: static files shipped in `service/console/`, served at `/`.

Assets are served under `/console/<version>/` where the version is a digest of every
console file, so they can be cached for a year and a new release is never mixed with
an old one (ES module imports resolve relative to that versioned path). `index.html`
is always revalidated. A Content-Security-Policy forbids inline scripts and any origin
but this one. `vocabulary.js` is not a file: it is generated from the Python vocabulary
as the console loads (service/views/console_vocabulary.py).
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from importlib.resources import files

from aiohttp import web

from service.routing import (
    NOT_FOUND,
    UNAUTHORIZED,
    Access,
    Header,
    PathParam,
    RouteTable,
    empty,
    file_reply,
)
from service.views.console_vocabulary import FILE_NAME as VOCABULARY_FILE
from service.views.console_vocabulary import vocabulary_js

CONSOLE_PACKAGE = "service"
CONSOLE_DIR = "console"
ASSET_PREFIX = "/console"
VERSION_PLACEHOLDER = "__CONSOLE_VERSION__"

CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; connect-src 'self'; "
    "img-src 'self' data:; frame-ancestors 'none'; base-uri 'none'; form-action 'self'"
)
SECURITY_HEADERS = {
    "Content-Security-Policy": CSP,
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "X-Frame-Options": "DENY",
}
INDEX_CACHE = "no-cache"
ASSET_CACHE = "public, max-age=31536000, immutable"
CONTENT_TYPES = {
    ".js": "text/javascript",
    ".css": "text/css",
    ".html": "text/html",
    ".svg": "image/svg+xml",
}
ASSET_NAME = re.compile(r"^[a-z0-9][a-z0-9_-]*\.(js|css|svg)$")


@dataclass(frozen=True, slots=True)
class Asset:
    body: bytes
    content_type: str
    etag: str


@dataclass(frozen=True, slots=True)
class StaticSite:
    """A page and its assets (the console, the API reference), read once at start."""

    version: str
    index: Asset
    assets: dict[str, Asset]


def make_asset(body: bytes, name: str) -> Asset:
    """A file ready to serve: its content type from its suffix, its ETag from its digest."""
    suffix = name[name.rfind("."):]
    digest = hashlib.sha256(body).hexdigest()[:20]
    return Asset(body, CONTENT_TYPES[suffix], f'"{digest}"')


def version_of(raw: dict[str, bytes]) -> str:
    """A digest of every file (names and contents): any change gives every URL a new one."""
    digest = hashlib.sha256()
    for name in sorted(raw):
        digest.update(name.encode() + b"\0" + raw[name] + b"\0")
    return digest.hexdigest()[:12]


def build_site(raw: dict[str, bytes], version_placeholder: str) -> StaticSite:
    """`raw` holds index.html and the assets; the page learns the version its asset URLs
    carry through `version_placeholder`."""
    version = version_of(raw)
    raw = dict(raw)
    index = raw.pop("index.html").replace(version_placeholder.encode(), version.encode())
    return StaticSite(
        version=version,
        index=make_asset(index, "index.html"),
        assets={name: make_asset(body, name) for name, body in raw.items()},
    )


def load_console() -> StaticSite:
    """Read the console's files from the installed package, once."""
    folder = files(CONSOLE_PACKAGE).joinpath(CONSOLE_DIR)
    raw = {
        entry.name: entry.read_bytes()
        for entry in folder.iterdir()
        if entry.is_file() and (ASSET_NAME.match(entry.name) or entry.name == "index.html")
    }
    if "index.html" not in raw:
        # A wheel built without the package-data line for service/console/*.
        raise RuntimeError(f"the console's files are missing from the package ({folder})")
    raw[VOCABULARY_FILE] = vocabulary_js()
    return build_site(raw, VERSION_PLACEHOLDER)


def respond(request: web.Request, asset: Asset, cache_control: str) -> web.Response:
    headers = {**SECURITY_HEADERS, "Cache-Control": cache_control, "ETag": asset.etag}
    if asset.etag in request.headers.get("If-None-Match", ""):
        return web.Response(status=304, headers=headers)
    return web.Response(body=asset.body, content_type=asset.content_type, headers=headers)


@dataclass(frozen=True, slots=True)
class SiteDoc:
    """How the route table names a site's two routes."""

    tag: str
    page_id: str
    page_summary: str
    page_description: str
    asset_id: str
    asset_summary: str
    asset_types: tuple[str, ...]
    version_description: str


CACHED_HEADERS = {
    "Cache-Control": Header("`no-cache` for the page and for an asset asked for under another "
                            "version; a year (`immutable`) otherwise."),
    "ETag": Header("A digest of the file."),
    "Content-Security-Policy": Header("Same origin only, no inline scripts."),
}
NOT_MODIFIED = empty(304, "Not modified (`If-None-Match` matched the ETag).", CACHED_HEADERS)


def serve_site(table: RouteTable, page_path: str, asset_prefix: str, site: StaticSite,
               doc: SiteDoc) -> None:
    """The page at `page_path` (always revalidated), its assets under
    `asset_prefix/<version>/<name>` (cached for a year)."""

    async def index(request: web.Request) -> web.Response:
        return respond(request, site.index, INDEX_CACHE)

    async def asset(request: web.Request) -> web.Response:
        found = site.assets.get(request.match_info["name"])
        if found is None:
            raise web.HTTPNotFound()
        # An old page may still ask for an older version: answer with today's file, but do
        # not let it be cached under the old name.
        fresh = request.match_info["version"] == site.version
        return respond(request, found, ASSET_CACHE if fresh else INDEX_CACHE)

    table.register(
        "GET", page_path, index, operation_id=doc.page_id, tag=doc.tag,
        summary=doc.page_summary, description=doc.page_description, access=Access.PUBLIC,
        replies=(file_reply(doc.page_summary + ".", ("text/html",), headers=CACHED_HEADERS),
                 NOT_MODIFIED),
        errors=(UNAUTHORIZED,))
    table.register(
        "GET", asset_prefix + "/{version}/{name}", asset, operation_id=doc.asset_id,
        tag=doc.tag, summary=doc.asset_summary, access=Access.PUBLIC,
        path_params={"version": PathParam(doc.version_description, {"type": "string"}),
                     "name": PathParam("The file name.", {"type": "string"})},
        replies=(file_reply("The file.", doc.asset_types, headers=CACHED_HEADERS), NOT_MODIFIED),
        errors=(UNAUTHORIZED, NOT_FOUND))


CONSOLE_DOC = SiteDoc(
    tag="console", page_id="console", page_summary="The web console (index.html)",
    page_description="Public; the console signs in through the API.",
    asset_id="consoleAsset", asset_summary="A console asset (JavaScript, CSS, SVG)",
    asset_types=("text/javascript", "text/css", "image/svg+xml"),
    version_description="The console version (a digest of its files).",
)


def register_routes(table: RouteTable) -> None:
    serve_site(table, "/", ASSET_PREFIX, load_console(), CONSOLE_DOC)
