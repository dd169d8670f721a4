"""/api/v1/docs (Swagger UI) and /api/v1/redoc load only files regauth serves itself, so they
work on a host that cannot reach a CDN."""

from __future__ import annotations

import re

import pytest

from tests.conftest import RuntimeFactory
from tests.integration.test_admin_api import ClientFor

_REFERENCES = re.compile(r"""(?:src|href|url)\s*[=:(]\s*['"]([^'"]+)['"]""")


@pytest.mark.parametrize("prefix", ["", "/regauth"])
@pytest.mark.parametrize(
    ("page", "script"), [("docs", "swagger-ui-bundle.js"), ("redoc", "redoc.standalone.js")]
)
async def test_the_pages_reference_only_files_regauth_serves(
    make_runtime: RuntimeFactory, client_for: ClientFor, prefix: str, page: str, script: str
) -> None:
    runtime = make_runtime({"server": {"path_prefix": prefix}} if prefix else {})
    client = client_for(runtime)  # no credentials: the pages and their files are public
    base = f"{prefix}/api/v1"
    html = await client.get(f"{base}/{page}")
    assert html.status_code == 200
    assert "cdn" not in html.text.lower() and "googleapis" not in html.text
    references = set(_REFERENCES.findall(html.text))
    assert f"{base}/docs-assets/{script}" in references
    assert f"{base}/openapi.json" in references
    for reference in references:
        assert reference.startswith(f"{base}/"), f"{reference} is not served by regauth"
        served = await client.get(reference)
        assert served.status_code == 200, reference
        if reference.endswith(".js"):
            assert served.headers["content-type"].startswith("text/javascript")
            assert len(served.content) > 100_000  # the whole bundle, not a stub
    unknown = await client.get(f"{base}/docs-assets/secrets.txt")
    assert unknown.status_code in (401, 404)
