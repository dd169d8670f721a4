"""``/sessions``: a person's console sessions and refresh tokens, each ended or revoked alone."""

from __future__ import annotations

from collections.abc import Callable

import httpx

from regauth.runtime import Runtime
from tests.console.support import PASSWORDS, Browser, signed_in

BrowserFor = Callable[..., Browser]


async def refresh_token_of(browser: Browser, username: str, client_id: str) -> str:
    login = await browser.client.get(
        "/auth",
        params={"service": "registry", "offline_token": "true", "client_id": client_id},
        auth=(username, PASSWORDS[username]),
    )
    assert login.status_code == 200, login.text
    token: str = login.json()["refresh_token"]
    return token


async def refresh(browser: Browser, token: str) -> httpx.Response:
    return await browser.client.post(
        "/auth",
        data={
            "grant_type": "refresh_token",
            "refresh_token": token,
            "service": "registry",
            "client_id": "docker",
        },
    )


async def test_lists_own_sessions_with_the_current_one_marked(
    runtime: Runtime, browser_for: BrowserFor
) -> None:
    other = await signed_in(browser_for("10.0.0.7"), "alice")
    await signed_in(browser_for(), "bob")
    browser = await signed_in(browser_for(), "alice")
    page = await browser.get("/sessions", headers={"user-agent": "ignored"})
    assert page.status_code == 200
    sessions = runtime.accounts.list_console_sessions("alice")
    assert len(sessions) == 2
    for session in sessions:
        assert f'action="/sessions/{session.id}/end"' in page.text
    (bobs,) = runtime.accounts.list_console_sessions("bob")
    assert f"/sessions/{bobs.id}/end" not in page.text
    assert page.text.count('<strong class="badge">this session</strong>') == 1
    assert "10.0.0.7" in page.text and "Sign out everywhere else" in page.text
    assert (await other.get("/")).status_code == 200


async def test_end_another_session_of_ones_own(runtime: Runtime, browser_for: BrowserFor) -> None:
    other = await signed_in(browser_for(), "alice")
    browser = await signed_in(browser_for(), "alice")
    await browser.get("/sessions")
    # the newest is this browser's; end the other one
    target = min(runtime.accounts.list_console_sessions("alice"), key=lambda s: s.id)
    answer = await browser.post(f"/sessions/{target.id}/end")
    assert answer.status_code == 303
    assert answer.headers["location"] == "/sessions?done=session-ended"
    assert (await other.get("/")).status_code == 303  # signed out there
    assert (await browser.get("/sessions?done=session-ended")).status_code == 200


async def test_ending_the_current_session_signs_out(
    runtime: Runtime, browser_for: BrowserFor
) -> None:
    browser = await signed_in(browser_for(), "alice")
    (current,) = runtime.accounts.list_console_sessions("alice")
    answer = await browser.post(f"/sessions/{current.id}/end")
    assert answer.status_code == 303
    assert answer.headers["location"] == "/login?done=signed-out"
    assert any(c.startswith("regauth_session=;") for c in answer.headers.get_list("set-cookie"))
    assert runtime.accounts.list_console_sessions("alice") == []


async def test_sign_out_everywhere_else_keeps_this_session(
    runtime: Runtime, browser_for: BrowserFor
) -> None:
    others = [await signed_in(browser_for(), "alice") for _ in range(2)]
    bob = await signed_in(browser_for(), "bob")
    browser = await signed_in(browser_for(), "alice")
    await browser.get("/sessions")
    answer = await browser.post("/sessions/end-others")
    assert answer.status_code == 303
    assert answer.headers["location"] == "/sessions?done=sessions-ended"
    page = await browser.get(answer.headers["location"])
    assert page.status_code == 200 and "Your other sessions are ended." in page.text
    for other in others:
        assert (await other.get("/")).status_code == 303
    assert len(runtime.accounts.list_console_sessions("alice")) == 1
    assert (await bob.get("/")).status_code == 200


async def test_another_persons_session_is_404_and_stays(
    runtime: Runtime, browser_for: BrowserFor
) -> None:
    bob = await signed_in(browser_for(), "bob")
    (bobs,) = runtime.accounts.list_console_sessions("bob")
    browser = await signed_in(browser_for(), "alice")
    for session_id in (str(bobs.id), "424242", "x1"):
        answer = await browser.post(f"/sessions/{session_id}/end")
        assert answer.status_code == 404, session_id
    assert (await bob.get("/")).status_code == 200


async def test_refresh_tokens_are_listed_and_revoked_one_by_one(
    runtime: Runtime, browser_for: BrowserFor
) -> None:
    browser = await signed_in(browser_for(), "alice")
    kept = await refresh_token_of(browser, "alice", "podman")
    revoked = await refresh_token_of(browser, "alice", "docker")
    await refresh_token_of(browser, "bob", "bobs-client")
    page = await browser.get("/sessions")
    assert "podman" in page.text and "docker" in page.text
    assert "bobs-client" not in page.text
    tokens = {t.client_id: t for t in runtime.accounts.list_refresh_tokens("alice")}
    answer = await browser.post(f"/refresh-tokens/{tokens['docker'].id}/revoke")
    assert answer.status_code == 303
    assert answer.headers["location"] == "/sessions?done=refresh-revoked"
    assert (await refresh(browser, revoked)).status_code != 200
    assert (await refresh(browser, kept)).status_code == 200
    page = await browser.get("/sessions")
    assert f"/refresh-tokens/{tokens['docker'].id}/revoke" not in page.text
    assert f"/refresh-tokens/{tokens['podman'].id}/revoke" in page.text


async def test_another_persons_refresh_token_is_404_and_stays(
    runtime: Runtime, browser_for: BrowserFor
) -> None:
    browser = await signed_in(browser_for(), "alice")
    bobs = await refresh_token_of(browser, "bob", "docker")
    (view,) = runtime.accounts.list_refresh_tokens("bob")
    await browser.get("/sessions")
    for token_id in (str(view.id), "999", "-1"):
        answer = await browser.post(f"/refresh-tokens/{token_id}/revoke")
        assert answer.status_code == 404, token_id
    assert (await refresh(browser, bobs)).status_code == 200


async def test_forms_without_the_csrf_token_are_403_and_end_nothing(
    runtime: Runtime, browser_for: BrowserFor
) -> None:
    other = await signed_in(browser_for(), "alice")
    browser = await signed_in(browser_for(), "alice")
    await refresh_token_of(browser, "alice", "docker")
    (token,) = runtime.accounts.list_refresh_tokens("alice")
    first = min(s.id for s in runtime.accounts.list_console_sessions("alice"))
    for path in (f"/sessions/{first}/end", "/sessions/end-others"):
        assert (await browser.post(path, csrf="")).status_code == 403
    assert (await browser.post(f"/refresh-tokens/{token.id}/revoke", csrf="x")).status_code == 403
    assert (await other.get("/")).status_code == 200
    (token,) = runtime.accounts.list_refresh_tokens("alice")
    assert token.revoked_at is None


async def test_the_two_tables_page_and_sort_apart(
    runtime: Runtime, browser_for: BrowserFor
) -> None:
    browser = await signed_in(browser_for(), "alice")
    await refresh_token_of(browser, "alice", "docker")
    page = await browser.get("/sessions?sort=address&rt-sort=client&rt-order=desc")
    assert page.status_code == 200
    # the refresh tokens' sort links keep the sessions' order, and the other way round
    assert "sort=address" in page.text and "rt-sort=client" in page.text
    assert 'href="?rt-sort=client&amp;rt-order=desc&amp;sort=seen&amp;' in page.text
    assert 'href="?sort=address&amp;rt-sort=created&amp;rt-order=asc&amp;rt-page=1"' in page.text


async def test_an_account_without_a_row_has_sessions_but_no_refresh_tokens(
    runtime: Runtime, browser_for: BrowserFor
) -> None:
    browser = await signed_in(browser_for(), "carol")
    page = await browser.get("/sessions")
    assert page.status_code == 200
    assert '<strong class="badge">this session</strong>' in page.text
    assert "cannot hold personal access tokens or refresh tokens" in page.text
    assert (await browser.post("/refresh-tokens/1/revoke")).status_code == 404
