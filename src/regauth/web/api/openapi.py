"""The admin API's OpenAPI document: FastAPI's, with our 400 instead of its 422 and the two
credential schemes (an administrator's personal access token as Bearer, or Basic)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi

__all__ = ["openapi_builder"]

_SECURITY_SCHEMES = {
    "bearer": {
        "type": "http",
        "scheme": "bearer",
        "description": "an administrator's unrestricted personal access token",
    },
    "basic": {
        "type": "http",
        "scheme": "basic",
        "description": "username and personal access token",
    },
}


def openapi_builder(app: FastAPI) -> Callable[[], dict[str, Any]]:
    """A replacement for ``app.openapi``: builds the document once, then serves it."""

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            schema = get_openapi(
                title=app.title,
                version=app.version,
                description=app.description,
                routes=app.routes,
            )
            for path in schema.get("paths", {}).values():
                for operation in path.values():
                    operation.get("responses", {}).pop("422", None)
            schemas = schema.get("components", {}).get("schemas", {})
            for name in ("HTTPValidationError", "ValidationError"):
                schemas.pop(name, None)
            components = schema.setdefault("components", {})
            components["securitySchemes"] = {
                name: dict(scheme) for name, scheme in _SECURITY_SCHEMES.items()
            }
            schema["security"] = [{"bearer": []}, {"basic": []}]
            app.openapi_schema = schema
        return app.openapi_schema

    return openapi
