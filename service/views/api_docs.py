"""The interactive API reference at `GET /api/docs`: Swagger UI on `/api/v1/openapi.json`.

Served like the console (service/views/console.py), with its helpers and its
Content-Security-Policy: the page and our start-up script live in `service/docs_ui/`,
Swagger UI's files unchanged in `service/docs_ui/vendor/swagger-ui/` (see the README
there). Nothing is fetched from elsewhere. The page is always revalidated; the assets are
served under `/api/docs/<version>/`, where the version is a digest of every file, and
cached for a year. Public, like the document it shows.
"""

from __future__ import annotations

import functools
from importlib.resources import files

from service.routing import RouteTable
from service.views.console import ASSET_NAME, SiteDoc, StaticSite, build_site, serve_site

DOCS_PACKAGE = "service"
DOCS_DIR = "docs_ui"
VENDOR_DIR = ("vendor", "swagger-ui")
DOCS_PATH = "/api/docs"
VERSION_PLACEHOLDER = "__DOCS_VERSION__"
# The files the page cannot work without (a wheel built without the package-data lines).
REQUIRED = ("index.html", "init.js", "swagger-ui-bundle.js", "swagger-ui.css")


@functools.cache
def load_api_docs() -> StaticSite:
    """Read the page, our script and Swagger UI's bundle (1.9 MB) from the installed
    package, once per process (the files do not change while it runs)."""
    folder = files(DOCS_PACKAGE).joinpath(DOCS_DIR)
    raw: dict[str, bytes] = {}
    for directory in (folder, folder.joinpath(*VENDOR_DIR)):
        if not directory.is_dir():
            continue
        for entry in directory.iterdir():
            if not entry.is_file():
                continue
            if ASSET_NAME.match(entry.name) or (directory is folder and entry.name == "index.html"):
                if entry.name in raw:
                    raise RuntimeError(f"two API docs files are named {entry.name}")
                raw[entry.name] = entry.read_bytes()
    missing = [name for name in REQUIRED if name not in raw]
    if missing:
        raise RuntimeError(f"the API docs' files {missing} are missing from the package ({folder})")
    return build_site(raw, VERSION_PLACEHOLDER)


API_DOCS_DOC = SiteDoc(
    tag="service", page_id="apiDocs",
    page_summary="This document as an interactive reference (Swagger UI)",
    page_description="Public. Swagger UI is shipped in the package; nothing is fetched from "
                     "elsewhere. The page reads `/api/v1/openapi.json`.",
    asset_id="apiDocsAsset", asset_summary="An asset of the API reference (JavaScript, CSS)",
    asset_types=("text/javascript", "text/css"),
    version_description="The reference's version (a digest of its files).",
)


def register_routes(table: RouteTable) -> None:
    serve_site(table, DOCS_PATH, DOCS_PATH, load_api_docs(), API_DOCS_DOC)
