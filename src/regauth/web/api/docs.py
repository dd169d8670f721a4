"""The admin API's interactive documentation, Swagger UI (``/docs``) and ReDoc (``/redoc``),
with their scripts and styles served by regauth itself, so the pages work on a host that
cannot reach a CDN.

The files come from the ``fastapi-offline`` package (Swagger UI 5 and ReDoc 2, as FastAPI's
own pages would load them from a CDN); only the files named in :data:`ASSETS` are served.
"""

from __future__ import annotations

from importlib.resources import files

from fastapi import FastAPI
from fastapi.openapi.docs import get_redoc_html, get_swagger_ui_html
from starlette.responses import HTMLResponse, Response

__all__ = ["ASSETS", "install_docs", "public_doc_paths"]

#: the files the two pages load, with their media types
ASSETS = {
    "swagger-ui-bundle.js": "text/javascript; charset=utf-8",
    "swagger-ui.css": "text/css; charset=utf-8",
    "redoc.standalone.js": "text/javascript; charset=utf-8",
    "favicon.png": "image/png",
}
_ASSETS_DIR = "docs-assets"


def public_doc_paths(base: str) -> frozenset[str]:
    """The paths anyone may GET: the pages and their files (the document holds no secrets)."""
    return frozenset(
        {f"{base}/docs", f"{base}/redoc"} | {f"{base}/{_ASSETS_DIR}/{name}" for name in ASSETS}
    )


def install_docs(app: FastAPI, *, base: str, openapi_url: str, title: str) -> None:
    """Add ``{base}/docs``, ``{base}/redoc`` and their files to ``app``."""
    assets = f"{base}/{_ASSETS_DIR}"
    source = files("fastapi_offline") / "static"
    contents = {name: (source / name).read_bytes() for name in ASSETS}

    @app.get(f"{base}/docs", include_in_schema=False)
    async def swagger_ui() -> HTMLResponse:
        return get_swagger_ui_html(
            openapi_url=openapi_url,
            title=f"{title} - Swagger UI",
            swagger_js_url=f"{assets}/swagger-ui-bundle.js",
            swagger_css_url=f"{assets}/swagger-ui.css",
            swagger_favicon_url=f"{assets}/favicon.png",
        )

    @app.get(f"{base}/redoc", include_in_schema=False)
    async def redoc() -> HTMLResponse:
        return get_redoc_html(
            openapi_url=openapi_url,
            title=f"{title} - ReDoc",
            redoc_js_url=f"{assets}/redoc.standalone.js",
            redoc_favicon_url=f"{assets}/favicon.png",
            with_google_fonts=False,
        )

    @app.get(assets + "/{name}", include_in_schema=False)
    async def asset(name: str) -> Response:
        if name not in contents:
            return Response(status_code=404)
        return Response(contents[name], media_type=ASSETS[name])
