"""``/admin/robots``, ``/admin/tokens`` and ``/admin/lockouts``: machine accounts, every
credential of every account, and the guessing limits' blocks."""

from __future__ import annotations

import re
from collections.abc import Callable

import structlog.testing

from regauth.runtime import Runtime
from tests.console.support import PASSWORDS, Browser, signed_in

BrowserFor = Callable[..., Browser]

_SECRET = re.compile(r'<code id="new-secret">([^<]+)</code>')


async def test_a_robot_is_created_with_its_secret_shown_once(
    runtime: Runtime, browser_for: BrowserFor
) -> None:
    browser = await signed_in(browser_for(), "root")
    await browser.get("/admin/robots")
    answer = await browser.post(
        "/admin/robots",
        {
            "name": "ci",
            "description": "builds",
            "expires": "90d",
            "grants": "ci/* push\n\nlib/* pull",
        },
    )
    assert answer.status_code == 200  # shown on this answer, no redirect
    assert answer.headers["cache-control"] == "no-store"
    found = _SECRET.search(answer.text)
    assert found is not None
    secret = found.group(1)
    robot = runtime.accounts.list_robots()[0]
    assert sorted(robot.grants) == ["pull on lib/*", "push on ci/*"]
    assert robot.created_by == "root" and robot.expires_at is not None
    # the secret logs in at the token endpoint as the robot
    token = await browser.client.get(
        "/token",
        params={"service": "registry", "scope": "repository:ci/app:push"},
        auth=(robot.username, secret),
    )
    assert token.status_code == 200
    again = await browser.get("/admin/robots")
    assert secret not in again.text and 'id="new-secret"' not in again.text
    assert "push on ci/*" in again.text and "builds" in again.text


async def test_robot_forms_refuse_bad_input(runtime: Runtime, browser_for: BrowserFor) -> None:
    runtime.accounts.create_robot("ci")
    browser = await signed_in(browser_for(), "root")
    await browser.get("/admin/robots")
    cases = [
        ({"name": "Bad Name", "expires": "never"}, 400, "name"),
        ({"name": "ok", "expires": "yesterday-ish"}, 400, "expires"),
        ({"name": "ok", "expires": "never", "grants": "ci/*"}, 400, "grants"),
        ({"name": "ok", "expires": "never", "grants": "ci/* owner"}, 400, "grants"),
        ({"name": "ci", "expires": "never"}, 409, "name"),
    ]
    for fields, status, field in cases:
        answer = await browser.post("/admin/robots", fields)
        assert answer.status_code == status, fields
        assert f'id="e-{field}"' in answer.text, fields
        assert 'id="new-secret"' not in answer.text
    assert [r.name for r in runtime.accounts.list_robots()] == ["ci"]


async def test_revoking_and_deleting_a_robot(runtime: Runtime, browser_for: BrowserFor) -> None:
    created = runtime.accounts.create_robot("ci", grants=[("ci/*", "push")])
    browser = await signed_in(browser_for(), "root")
    await browser.get("/admin/robots")
    answer = await browser.post("/admin/robots/ci/revoke")
    assert answer.headers["location"] == "/admin/robots?done=robot-revoked"
    assert runtime.accounts.list_robots()[0].revoked_at is not None
    refused = await browser.client.get(
        "/token",
        params={"service": "registry", "scope": "repository:ci/app:push"},
        auth=(created.view.username, created.secret),
    )
    assert refused.status_code == 401
    assert "revoked" in (await browser.get("/admin/robots")).text
    answer = await browser.post("/admin/robots/ci/delete")
    assert answer.headers["location"] == "/admin/robots?done=robot-deleted"
    assert runtime.accounts.list_robots() == []
    assert (await browser.post("/admin/robots/ci/delete")).status_code == 404


async def test_every_token_of_every_account_is_listed_and_revocable(
    runtime: Runtime, browser_for: BrowserFor
) -> None:
    alice_token = runtime.accounts.create_token("alice", "alice laptop")
    runtime.accounts.create_token("bob", "bob <b>ci</b>", actions=["pull"])
    browser = await signed_in(browser_for(), "root")
    page = await browser.get("/admin/tokens")
    assert "alice laptop" in page.text and "bob &lt;b&gt;ci&lt;/b&gt;" in page.text
    assert alice_token.secret not in page.text
    only_bob = await browser.get("/admin/tokens?user=bob")
    assert "alice laptop" not in only_bob.text and "bob &lt;b&gt;ci" in only_bob.text
    nobody = await browser.get("/admin/tokens?user=nobody")
    assert nobody.status_code == 200 and "Nothing here." in nobody.text
    answer = await browser.post(f"/admin/tokens/{alice_token.view.id}/revoke", {"user": "alice"})
    assert answer.headers["location"] == "/admin/tokens?show=tokens&user=alice&done=token-revoked"
    revoked = runtime.accounts.list_tokens("alice")[0]
    assert revoked.revoked_at is not None
    live = await browser.get("/admin/tokens?state=live")
    assert "alice laptop" not in live.text and "bob &lt;b&gt;ci" in live.text
    refused = await browser.client.get(
        "/token", params={"service": "registry"}, auth=("alice", alice_token.secret)
    )
    assert refused.status_code == 401
    assert (await browser.post("/admin/tokens/999999/revoke")).status_code == 404


async def test_refresh_tokens_and_console_sessions_of_everyone(
    runtime: Runtime, browser_for: BrowserFor
) -> None:
    browser = await signed_in(browser_for(), "root")
    alice = await signed_in(browser_for(), "alice")
    oauth = await browser.client.post(
        "/token",
        data={
            "grant_type": "password",
            "username": "bob",
            "password": PASSWORDS["bob"],
            "service": "registry",
            "client_id": "docker",
            "access_type": "offline",
        },
    )
    assert oauth.status_code == 200 and "refresh_token" in oauth.json()
    refresh = runtime.accounts.list_refresh_tokens("bob")[0]
    page = await browser.get("/admin/tokens?show=refresh")
    assert ">bob</a>" in page.text and "docker" in page.text
    assert oauth.json()["refresh_token"] not in page.text
    answer = await browser.post(f"/admin/refresh-tokens/{refresh.id}/revoke")
    assert answer.headers["location"] == "/admin/tokens?show=refresh&done=refresh-revoked"
    assert runtime.accounts.list_refresh_tokens("bob")[0].revoked_at is not None
    sessions = await browser.get("/admin/tokens?show=sessions")
    assert ">alice</a>" in sessions.text and ">root</a>" in sessions.text
    assert ">browser<" in sessions.text
    session = runtime.accounts.list_console_sessions("alice")[0]
    answer = await browser.post(f"/admin/sessions/{session.id}/end")
    assert answer.headers["location"] == "/admin/tokens?show=sessions&done=session-ended"
    assert (await alice.get("/")).status_code == 303


async def test_lockouts_are_listed_and_cleared(runtime: Runtime, browser_for: BrowserFor) -> None:
    victim = browser_for("192.0.2.7")
    for _ in range(6):  # past the free failures of an account from one address
        await victim.sign_in("alice", "wrong-password")
    browser = await signed_in(browser_for(), "root")
    every = await browser.get("/admin/lockouts?all=1")
    assert every.status_code == 200
    assert "192.0.2.7" in every.text and ">alice<" in every.text
    assert runtime.accounts.list_lockouts(include_all=True)
    bad = await browser.post("/admin/lockouts/clear", {"target": "10.0.0.0/8"})
    assert bad.status_code == 400 and 'id="e-target"' in bad.text
    answer = await browser.post("/admin/lockouts/clear", {"target": "192.0.2.7"})
    assert answer.headers["location"] == "/admin/lockouts?done=lockout-cleared"
    answer = await browser.post("/admin/lockouts/clear", {"target": "ALICE"})
    assert answer.headers["location"] == "/admin/lockouts?done=lockout-cleared"
    assert runtime.accounts.list_lockouts(include_all=True) == []
    answer = await browser.post("/admin/lockouts/clear", {"target": "alice"})
    assert answer.headers["location"] == "/admin/lockouts?done=lockout-none"


async def test_admin_actions_are_logged_with_who_did_what_and_no_secret(
    runtime: Runtime, browser_for: BrowserFor
) -> None:
    browser = await signed_in(browser_for(), "root")
    await browser.get("/admin/robots")
    with structlog.testing.capture_logs() as logs:
        created = await browser.post("/admin/robots", {"name": "ci", "expires": "never"})
        await browser.post("/admin/users/alice/password", {"password": "new-alice-pw-1"})
    found = _SECRET.search(created.text)
    assert found is not None
    actions = [(e["event"], e["admin"], e["action"]) for e in logs if e["event"] == "console admin"]
    assert actions == [
        ("console admin", "root", "create robot"),
        ("console admin", "root", "reset password"),
    ]
    text = repr(logs)
    assert found.group(1) not in text and "new-alice-pw-1" not in text


async def test_a_keyless_robot_shows_its_issuer_and_conditions(
    runtime: Runtime, browser_for: BrowserFor
) -> None:
    from regauth.accounts import check_federation

    federation = check_federation(
        "https://token.actions.githubusercontent.com",
        None,
        {"repository": ["acme/<api>"], "ref": ["refs/heads/main"]},
    )
    runtime.accounts.create_robot("deployer", grants=[("acme/*", "push")], federation=federation)
    browser = await signed_in(browser_for(), "root")
    page = await browser.get("/admin/robots")
    assert page.status_code == 200
    assert ">keyless<" in page.text
    assert "https://token.actions.githubusercontent.com" in page.text
    assert "repository=acme/&lt;api&gt;" in page.text and "acme/<api>" not in page.text
