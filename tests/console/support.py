"""In-process console tests: a browser-like client that signs in and submits forms with CSRF."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest

from regauth.runtime import Runtime
from tests.conftest import RuntimeFactory, bcrypt_hash

ClientFor = Callable[..., httpx.AsyncClient]
_CSRF = re.compile(r'name="csrf" value="([^"]*)"')


def csrf_of(html: str) -> str:
    found = _CSRF.search(html)
    assert found is not None, "the page has no form with a CSRF token"
    return found.group(1)


@dataclass
class Browser:
    """One person's browser: a cookie jar, and the CSRF token of the last page it saw."""

    client: httpx.AsyncClient
    csrf: str = ""
    history: list[httpx.Response] = field(default_factory=list)

    async def get(self, path: str, **kwargs: Any) -> httpx.Response:
        response = await self.client.get(path, **kwargs)
        self.history.append(response)
        found = _CSRF.search(response.text)
        if found is not None:
            self.csrf = found.group(1)
        return response

    async def post(
        self, path: str, data: dict[str, Any] | None = None, *, csrf: str | None = None
    ) -> httpx.Response:
        """Submit a form as the page would (with the CSRF token it carried)."""
        if not self.csrf and csrf is None:
            await self.get("/")
        form = {"csrf": self.csrf if csrf is None else csrf, **(data or {})}
        response = await self.client.post(path, data=form)
        self.history.append(response)
        found = _CSRF.search(response.text)
        if found is not None:
            self.csrf = found.group(1)
        return response

    async def sign_in(
        self, username: str, password: str, *, next_path: str = "/"
    ) -> httpx.Response:
        page = await self.client.get("/login")
        assert page.status_code == 200, page.text
        answer = await self.client.post(
            "/login",
            data={
                "csrf": csrf_of(page.text),
                "username": username,
                "password": password,
                "next": next_path,
            },
        )
        if answer.status_code == 303:
            await self.get(answer.headers["location"])
        return answer


PASSWORDS = {"alice": "alice-password-1", "root": "root-password-1", "bob": "bob-password-1"}


@pytest.fixture
def runtime(make_runtime: RuntimeFactory) -> Runtime:
    """A runtime with database users alice and bob, an administrator root, and a static user
    carol (labels team=blue)."""
    runtime = make_runtime(
        {
            "users": {
                "carol": {"password": bcrypt_hash("carol-password-1"), "labels": {"team": ["blue"]}}
            },
            "registry": {"public_url": "https://registry.example.test"},
        }
    )
    runtime.accounts.create_user("alice", password=PASSWORDS["alice"])
    runtime.accounts.create_user("bob", password=PASSWORDS["bob"])
    runtime.accounts.create_user("root", password=PASSWORDS["root"], is_admin=True)
    return runtime


@pytest.fixture
def browser_for(runtime: Runtime, client_for: ClientFor) -> Callable[..., Browser]:
    """``browser_for()``: a new browser (its own cookies) on the console."""

    def factory(address: str = "127.0.0.1") -> Browser:
        client = client_for(runtime, address)
        client.follow_redirects = False
        return Browser(client)

    return factory


async def signed_in(browser: Browser, username: str) -> Browser:
    answer = await browser.sign_in(username, PASSWORDS.get(username, "carol-password-1"))
    assert answer.status_code == 303, answer.text
    return browser
