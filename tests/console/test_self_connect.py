"""``/connect``: login commands for the registry's public address, with a new token on request."""

from __future__ import annotations

import datetime
import html
import re
from collections.abc import Callable

import httpx

from regauth.accounts import SessionStart
from regauth.authn.database import load_user_identity
from regauth.protocol.secret import Secret
from regauth.runtime import Runtime
from regauth.web.console.pages.connect import lifetime_text, login_commands
from tests.conftest import RuntimeFactory
from tests.console.support import PASSWORDS, Browser, signed_in

BrowserFor = Callable[..., Browser]
_SECRET = re.compile(r'id="new-secret"[^>]*><code>([^<]+)</code>')
HOST = "registry.example.test"


def commands_of(page: httpx.Response) -> str:
    return html.unescape(page.text)


def test_commands_fill_in_the_secret_or_prompt() -> None:
    filled = {c.key: c.text for c in login_commands(HOST, "alice", "regauth_pat_abc")}
    assert filled["docker"] == (
        f"echo regauth_pat_abc | docker login --username alice --password-stdin {HOST}"
    )
    assert filled["podman"].endswith(f"podman login --username alice --password-stdin {HOST}")
    assert filled["skopeo"].endswith(f"skopeo login --username alice --password-stdin {HOST}")
    assert filled["kubernetes"] == (
        f"kubectl create secret docker-registry regcred --docker-server={HOST} "
        "--docker-username=alice --docker-password=regauth_pat_abc"
    )
    prompting = {c.key: c.text for c in login_commands(HOST, "a b", None)}
    assert prompting["docker"] == f"docker login --username 'a b' {HOST}"
    assert "--password-stdin" not in prompting["podman"]
    assert prompting["kubernetes"].startswith("read -rs -p 'Password: ' REGISTRY_PASSWORD")
    assert '--docker-password="$REGISTRY_PASSWORD"' in prompting["kubernetes"]
    # shell quoting: nothing a name holds runs
    odd = login_commands(HOST, "x;rm -rf /", "s'ecret")[0].text
    assert "'x;rm -rf /'" in odd and "'s'\"'\"'ecret'" in odd


def test_lifetime_in_words() -> None:
    assert lifetime_text(datetime.timedelta(days=30)) == "30 days"
    assert lifetime_text(datetime.timedelta(hours=1)) == "1 hour"
    assert lifetime_text(datetime.timedelta(minutes=90)) == "90 minutes"


async def test_get_shows_prompting_commands_and_the_create_button(
    browser_for: BrowserFor,
) -> None:
    browser = await signed_in(browser_for(), "alice")
    page = await browser.get("/connect")
    assert page.status_code == 200
    text = commands_of(page)
    assert f"docker login --username alice {HOST}" in text
    assert f"podman login --username alice {HOST}" in text
    assert f"skopeo login --username alice {HOST}" in text
    assert f"--docker-server={HOST}" in text
    assert "Create a token and fill it in" in text
    assert "new-secret" not in text


async def test_post_makes_a_token_and_fills_it_in(
    runtime: Runtime, browser_for: BrowserFor
) -> None:
    browser = await signed_in(browser_for(), "alice")
    await browser.get("/connect")
    answer = await browser.post("/connect")
    assert answer.status_code == 200
    assert answer.headers["cache-control"] == "no-store"
    found = _SECRET.search(answer.text)
    assert found is not None
    secret = found.group(1)
    text = commands_of(answer)
    assert f"echo {secret} | docker login --username alice --password-stdin {HOST}" in text
    assert f"| podman login --username alice --password-stdin {HOST}" in text
    assert f"| skopeo login --username alice --password-stdin {HOST}" in text
    assert (
        f"kubectl create secret docker-registry regcred --docker-server={HOST} "
        f"--docker-username=alice --docker-password={secret}"
    ) in text
    (token,) = runtime.accounts.list_tokens("alice")
    assert token.name.startswith("console connect ") and token.name.endswith(" UTC")
    assert token.actions is None and token.repositories is None
    assert token.expires_at is not None
    lifetime = token.expires_at - token.created_at
    assert abs(lifetime - runtime.config.console.connect_token_lifetime).total_seconds() < 5
    identity = await runtime.authenticators.authenticate("alice", Secret(secret), None)
    assert identity.subject == "alice" and identity.credential == "token"
    # shown once: the page itself never shows it again
    again = await browser.get("/connect")
    assert secret not in again.text


async def test_post_without_the_csrf_token_is_403_and_makes_nothing(
    runtime: Runtime, browser_for: BrowserFor
) -> None:
    browser = await signed_in(browser_for(), "alice")
    answer = await browser.post("/connect", csrf="")
    assert answer.status_code == 403
    assert runtime.accounts.list_tokens("alice") == []


async def test_an_account_without_a_row_gets_prompting_commands_and_why(
    runtime: Runtime, browser_for: BrowserFor
) -> None:
    browser = await signed_in(browser_for(), "carol")
    page = await browser.get("/connect")
    assert page.status_code == 200
    text = commands_of(page)
    assert f"docker login --username carol {HOST}" in text
    assert "cannot hold personal access tokens" in text
    assert "Create a token and fill it in" not in text
    answer = await browser.post("/connect")
    assert answer.status_code == 403
    assert "cannot hold personal access tokens" in answer.text
    assert "new-secret" not in answer.text


async def test_without_a_public_url_the_page_says_how_to_set_it(
    make_runtime: RuntimeFactory, client_for: Callable[..., httpx.AsyncClient]
) -> None:
    runtime = make_runtime()
    runtime.accounts.create_user("alice", password=PASSWORDS["alice"])
    client = client_for(runtime)
    client.follow_redirects = False
    browser = await signed_in(Browser(client), "alice")
    page = await browser.get("/connect")
    assert page.status_code == 200
    text = commands_of(page)
    assert "public_url: https://registry.example.com" in text
    assert "docker login --username alice <registry>" in text


async def test_a_visitor_is_sent_to_sign_in(browser_for: BrowserFor) -> None:
    answer = await browser_for().get("/connect")
    assert answer.status_code == 303
    assert answer.headers["location"] == "/login?next=/connect"


async def test_a_single_sign_on_session_is_pointed_at_a_token(
    runtime: Runtime, browser_for: BrowserFor
) -> None:
    stored = load_user_identity(runtime.database, "alice", method="oidc:github")
    assert stored is not None
    secret, _ = runtime.accounts.start_console_session(
        SessionStart(username="alice", method="oidc:github", user_id=stored.user_id),
        absolute_lifetime=datetime.timedelta(hours=1),
        max_per_user=20,
    )
    browser = browser_for()
    browser.client.cookies.set("regauth_session", secret)
    page = await browser.get("/connect")
    assert page.status_code == 200
    assert "You signed in with single sign-on" in page.text
    assert "Create a token and fill it in" in page.text
