"""Reading a submitted form: ``application/x-www-form-urlencoded``, bounded, repeated keys kept.

Written here instead of Starlette's ``request.form()`` because that needs python-multipart
for every form, and the console's forms are all URL-encoded (no uploads): a bounded read and
the standard library's ``parse_qsl`` are all it takes.
"""

from __future__ import annotations

from urllib.parse import parse_qsl

from starlette.requests import Request

__all__ = ["MAX_FORM_BYTES", "FormTooLarge", "SubmittedForm", "read_form"]

MAX_FORM_BYTES = 64 * 1024


class FormTooLarge(Exception):
    """A form body larger than :data:`MAX_FORM_BYTES`."""


class SubmittedForm:
    def __init__(self, pairs: list[tuple[str, str]]) -> None:
        self._pairs = pairs

    def get(self, name: str, default: str = "") -> str:
        for key, value in self._pairs:
            if key == name:
                return value
        return default

    def text(self, name: str) -> str:
        """A single-line field, stripped."""
        return self.get(name).strip()

    def all(self, name: str) -> list[str]:
        return [value for key, value in self._pairs if key == name]

    def checked(self, name: str) -> bool:
        return self.get(name) not in ("", "0", "false", "off")

    def __contains__(self, name: str) -> bool:
        return any(key == name for key, _ in self._pairs)


async def read_form(request: Request) -> SubmittedForm:
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > MAX_FORM_BYTES:
            raise FormTooLarge
    if content_type != "application/x-www-form-urlencoded":
        return SubmittedForm([])
    text = body.decode("utf-8", "replace")
    return SubmittedForm(parse_qsl(text, keep_blank_values=True, max_num_fields=1000))
