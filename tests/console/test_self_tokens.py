"""``/tokens``: a person's own personal access tokens: list, create (secret once), revoke."""

from __future__ import annotations

import datetime
import re
from collections.abc import Callable
from typing import Any

import httpx
import pytest

from regauth.authn.chain import AuthenticationFailed
from regauth.protocol.secret import Secret
from regauth.runtime import Runtime
from tests.console.support import Browser, signed_in

BrowserFor = Callable[..., Browser]
_SECRET = re.compile(r'id="new-secret"[^>]*><code>([^<]+)</code>')


def token_form(**changes: object) -> dict[str, object]:
    form: dict[str, object] = {
        "name": "laptop",
        "expires": "30d",
        "access": "all",
        "repositories": "",
    }
    form.update(changes)
    return form


def secret_of(page: httpx.Response) -> str:
    found = _SECRET.search(page.text)
    assert found is not None, "the page shows no new secret"
    return found.group(1)


async def test_create_shows_the_secret_once_and_the_token_works(
    runtime: Runtime, browser_for: BrowserFor
) -> None:
    browser = await signed_in(browser_for(), "alice")
    page = await browser.get("/tokens")
    assert page.status_code == 200
    assert '<label for="f-name">' in page.text and "Create token" in page.text
    created = await browser.post("/tokens", token_form())
    assert created.status_code == 200
    assert created.headers["cache-control"] == "no-store"
    secret = secret_of(created)
    assert secret.startswith("regauth_pat_")
    identity = await runtime.authenticators.authenticate("alice", Secret(secret), None)
    assert identity.subject == "alice"
    (token,) = runtime.accounts.list_tokens("alice")
    assert token.name == "laptop" and token.actions is None and token.repositories is None
    assert token.expires_at is not None
    days = (token.expires_at - datetime.datetime.now(datetime.UTC)).total_seconds() / 86400
    assert 29.9 < days <= 30
    again = await browser.get("/tokens")
    assert secret not in again.text and "new-secret" not in again.text
    assert "laptop" in again.text and "active" in again.text


async def test_read_only_and_chosen_actions_and_patterns(
    runtime: Runtime, browser_for: BrowserFor
) -> None:
    browser = await signed_in(browser_for(), "alice")
    await browser.get("/tokens")
    answer = await browser.post("/tokens", token_form(name="ci", access="read"))
    assert answer.status_code == 200
    answer = await browser.post(
        "/tokens",
        token_form(
            name="deploy",
            access="custom",
            actions=["push", "pull"],
            repositories="team/*\n\n  alice/app \n",
            expires="never",
        ),
    )
    assert answer.status_code == 200
    tokens = {t.name: t for t in runtime.accounts.list_tokens("alice")}
    assert tokens["ci"].actions == ["pull"] and tokens["ci"].repositories is None
    assert tokens["deploy"].actions == ["pull", "push"]
    assert tokens["deploy"].repositories == ["team/*", "alice/app"]
    assert tokens["deploy"].expires_at is None
    listing = await browser.get("/tokens")
    assert "read-only" in listing.text and "pull, push on team/*, alice/app" in listing.text


async def test_bad_fields_are_400_beside_the_field_and_nothing_is_made(
    runtime: Runtime, browser_for: BrowserFor
) -> None:
    browser = await signed_in(browser_for(), "alice")
    await browser.get("/tokens")
    cases: list[tuple[dict[str, Any], str]] = [
        ({"name": ""}, "name"),
        ({"name": "bad\x01name"}, "name"),
        ({"expires": "soon"}, "expires"),
        ({"expires": ""}, "expires"),
        ({"expires": "-5"}, "expires"),
        ({"access": "root"}, "access"),
        ({"access": "custom"}, "actions"),
        ({"access": "custom", "actions": ["frob"]}, "actions"),
        ({"repositories": "team/app\nBAD PATTERN["}, "repositories"),
    ]
    for changes, field_name in cases:
        answer = await browser.post("/tokens", token_form(**changes))
        assert answer.status_code == 400, (changes, answer.text)
        assert f'id="e-{field_name}"' in answer.text, (changes, answer.text)
        assert "new-secret" not in answer.text
    assert runtime.accounts.list_tokens("alice") == []
    # what was typed is kept
    answer = await browser.post("/tokens", token_form(name="kept <b>", expires="soon"))
    assert 'value="kept &lt;b&gt;"' in answer.text and 'value="soon"' in answer.text


async def test_a_person_sees_only_their_own_tokens(
    runtime: Runtime, browser_for: BrowserFor
) -> None:
    runtime.accounts.create_token("bob", "bobs-secret-token")
    browser = await signed_in(browser_for(), "alice")
    await browser.post("/tokens", token_form(name="alices"))
    page = await browser.get("/tokens")
    assert "alices" in page.text
    assert "bobs-secret-token" not in page.text


async def test_revoke_own_token_and_it_stops_working(
    runtime: Runtime, browser_for: BrowserFor
) -> None:
    browser = await signed_in(browser_for(), "alice")
    secret = secret_of(await browser.post("/tokens", token_form()))
    (token,) = runtime.accounts.list_tokens("alice")
    # used once, so any cache of logins has seen it
    assert (await runtime.authenticators.authenticate("alice", Secret(secret), None)).subject
    page = await browser.get("/tokens")
    assert f'action="/tokens/{token.id}/revoke"' in page.text
    answer = await browser.post(f"/tokens/{token.id}/revoke")
    assert answer.status_code == 303
    assert answer.headers["location"] == "/tokens?done=token-revoked"
    page = await browser.get(answer.headers["location"])
    assert "The token is revoked." in page.text and "revoked" in page.text
    assert f'action="/tokens/{token.id}/revoke"' not in page.text
    (token,) = runtime.accounts.list_tokens("alice")
    assert token.revoked_at is not None
    with pytest.raises(AuthenticationFailed):
        await runtime.authenticators.authenticate("alice", Secret(secret), None)


async def test_revoking_someone_elses_token_is_404_and_revokes_nothing(
    runtime: Runtime, browser_for: BrowserFor
) -> None:
    bobs = runtime.accounts.create_token("bob", "bobs").view
    browser = await signed_in(browser_for(), "alice")
    for token_id in (str(bobs.id), "999999", "abc", "99999999999999999999999"):
        answer = await browser.post(f"/tokens/{token_id}/revoke")
        assert answer.status_code == 404, token_id
    (still,) = runtime.accounts.list_tokens("bob")
    assert still.revoked_at is None


async def test_forms_without_the_csrf_token_are_403_and_change_nothing(
    runtime: Runtime, browser_for: BrowserFor
) -> None:
    token = runtime.accounts.create_token("alice", "old").view
    browser = await signed_in(browser_for(), "alice")
    assert (await browser.post("/tokens", token_form(), csrf="")).status_code == 403
    assert (await browser.post(f"/tokens/{token.id}/revoke", csrf="forged")).status_code == 403
    (only,) = runtime.accounts.list_tokens("alice")
    assert only.revoked_at is None


async def test_a_visitor_is_sent_to_sign_in(browser_for: BrowserFor) -> None:
    browser = browser_for()
    answer = await browser.get("/tokens")
    assert answer.status_code == 303
    assert answer.headers["location"] == "/login?next=/tokens"
    posted = await browser.client.post("/tokens", data=token_form())
    assert posted.status_code == 303


async def test_an_account_without_a_row_holds_no_tokens(
    runtime: Runtime, browser_for: BrowserFor
) -> None:
    browser = await signed_in(browser_for(), "carol")
    page = await browser.get("/tokens")
    assert page.status_code == 200
    assert "cannot hold personal access tokens" in page.text
    assert "Create token" not in page.text
    answer = await browser.post("/tokens", token_form())
    assert answer.status_code == 403
