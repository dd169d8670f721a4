"""The device sign-in (RFC 8628) in process: a machine asks, a signed-in person approves or
denies on ``/device``, the machine polls; codes are short-lived and single-use, the polling
interval is enforced, and the device session it gets hands out short tokens until it ends."""

from __future__ import annotations

import datetime
from collections.abc import Callable
from typing import Any

import httpx
import jwt

from regauth.runtime import Runtime
from tests.console.support import Browser, signed_in

BrowserFor = Callable[..., Browser]
GRANT = "urn:ietf:params:oauth:grant-type:device_code"


async def ask(machine: httpx.AsyncClient, name: str = "laptop-1") -> dict[str, Any]:
    answer = await machine.post(
        "/device/code", data={"client_id": "docker-credential-regauth", "client_name": name}
    )
    assert answer.status_code == 200, answer.text
    assert answer.headers["cache-control"] == "no-store"
    return dict(answer.json())


async def poll(machine: httpx.AsyncClient, device_code: str) -> httpx.Response:
    return await machine.post(
        "/device/token",
        data={"grant_type": GRANT, "device_code": device_code, "client_id": "x"},
    )


def rewind_polls(runtime: Runtime) -> None:
    """Pretend the machine waited its interval (the clock is not ours to move)."""
    from sqlalchemy import update

    from regauth.store.device_authorizations import DeviceAuthorization

    with runtime.database.write() as session:
        session.execute(update(DeviceAuthorization).values(last_poll_at=None))


async def approve(browser: Browser, user_code: str, *, deny: bool = False) -> httpx.Response:
    page = await browser.get(f"/device?user_code={user_code}")
    assert page.status_code == 200
    confirm = await browser.post("/device", {"user_code": user_code})
    assert confirm.status_code == 200, confirm.text
    return await browser.post(
        "/device/deny" if deny else "/device/approve", {"user_code": user_code}
    )


async def test_approve_then_the_machine_gets_a_session_and_short_tokens(
    runtime: Runtime, browser_for: BrowserFor
) -> None:
    machine = browser_for("198.51.100.7").client
    asked = await ask(machine)
    assert asked["verification_uri"] == runtime.config.server.base_url() + "/device"
    assert asked["verification_uri_complete"].endswith(f"?user_code={asked['user_code']}")
    assert asked["interval"] == 5 and asked["expires_in"] == 600
    pending = await poll(machine, asked["device_code"])
    assert pending.status_code == 400 and pending.json()["error"] == "authorization_pending"
    browser = await signed_in(browser_for(), "alice")
    confirm = await browser.post("/device", {"user_code": asked["user_code"].lower()})
    assert "laptop-1" in confirm.text and "198.51.100.7" in confirm.text
    done = await browser.post("/device/approve", {"user_code": asked["user_code"]})
    assert done.status_code == 200 and "signed in as alice" in done.text
    rewind_polls(runtime)
    granted = await poll(machine, asked["device_code"])
    assert granted.status_code == 200, granted.text
    body = granted.json()
    assert body["token_type"] == "Bearer" and body["username"] == "alice"
    session = body["access_token"]
    assert session.startswith("regauth_ds_")
    # the code is single-use
    rewind_polls(runtime)
    again = await poll(machine, asked["device_code"])
    assert again.json()["error"] == "invalid_grant"
    # the session hands out a short personal access token that the token endpoint takes
    bearer = {"authorization": f"Bearer {session}"}
    issued = await machine.post("/device/credential", headers=bearer)
    assert issued.status_code == 200, issued.text
    credential = issued.json()
    expires = datetime.datetime.fromisoformat(credential["expires_at"])
    left = expires - datetime.datetime.now(datetime.UTC)
    assert datetime.timedelta(minutes=14) < left <= datetime.timedelta(minutes=15)
    token = await machine.get(
        "/auth",
        params={"service": "registry", "scope": "repository:alice/app:push,pull"},
        auth=("alice", credential["secret"]),
    )
    assert token.status_code == 200, token.text
    claims = jwt.decode(token.json()["token"], options={"verify_signature": False})
    assert sorted(claims["access"][0]["actions"]) == ["pull", "push"]
    # listed as alice's device, and ending it stops the machine at once
    (device,) = runtime.accounts.list_console_sessions("alice", kind="device")
    assert device.client_name == "laptop-1"
    assert (await machine.get("/device/session", headers=bearer)).status_code == 200
    sessions = await browser.get("/sessions")
    assert "laptop-1" in sessions.text and ">device<" in sessions.text
    ended_here = await browser.post(f"/sessions/{device.id}/end", {})
    assert ended_here.status_code in (200, 303), ended_here.text
    assert runtime.accounts.list_console_sessions("alice", kind="device") == []
    ended = await machine.post("/device/credential", headers=bearer)
    assert ended.status_code == 401
    assert "docker-credential-regauth login" in ended.json()["error_description"]


async def test_deny_ends_the_flow_with_access_denied(
    runtime: Runtime, browser_for: BrowserFor
) -> None:
    machine = browser_for().client
    asked = await ask(machine)
    browser = await signed_in(browser_for(), "bob")
    denied = await approve(browser, asked["user_code"], deny=True)
    assert denied.status_code == 200 and "denied" in denied.text
    assert (await poll(machine, asked["device_code"])).json()["error"] == "access_denied"
    # a second decision on the same code is refused
    second = await browser.post("/device/approve", {"user_code": asked["user_code"]})
    assert second.status_code in (404, 409)
    assert runtime.accounts.list_console_sessions("bob", kind="device") == []


async def test_polling_too_fast_is_slow_down_and_the_interval_grows(
    browser_for: BrowserFor,
) -> None:
    machine = browser_for().client
    asked = await ask(machine)
    assert (await poll(machine, asked["device_code"])).json()["error"] == "authorization_pending"
    fast = await poll(machine, asked["device_code"])
    assert fast.json()["error"] == "slow_down"
    assert fast.json()["interval"] == 10


async def test_expired_and_unknown_codes(runtime: Runtime, browser_for: BrowserFor) -> None:
    from sqlalchemy import update

    from regauth.store.device_authorizations import DeviceAuthorization

    machine = browser_for().client
    asked = await ask(machine)
    with runtime.database.write() as session:
        session.execute(
            update(DeviceAuthorization).values(
                expires_at=datetime.datetime.now(datetime.UTC) - datetime.timedelta(seconds=1)
            )
        )
    assert (await poll(machine, asked["device_code"])).json()["error"] == "expired_token"
    browser = await signed_in(browser_for(), "alice")
    late = await browser.post("/device", {"user_code": asked["user_code"]})
    assert late.status_code == 404 and "expired" in late.text
    assert (await poll(machine, "regauth_dc_nope")).json()["error"] == "invalid_grant"
    wrong_grant = await machine.post(
        "/device/token", data={"grant_type": "password", "device_code": asked["device_code"]}
    )
    assert wrong_grant.json()["error"] == "unsupported_grant_type"
    malformed = await browser.post("/device", {"user_code": "<script>"})
    assert malformed.status_code == 400 and "<script>" not in malformed.text


async def test_the_device_page_needs_a_signed_in_person_and_csrf(
    runtime: Runtime, browser_for: BrowserFor
) -> None:
    machine = browser_for().client
    asked = await ask(machine)
    visitor = browser_for()
    assert (await visitor.get("/device")).status_code == 303
    browser = await signed_in(browser_for(), "alice")
    forged = await browser.client.post(
        "/device/approve", data={"csrf": "forged", "user_code": asked["user_code"]}
    )
    assert forged.status_code == 403
    rewind_polls(runtime)
    assert (await poll(machine, asked["device_code"])).json()["error"] == "authorization_pending"
    # a static account cannot hold the machine's tokens: told so, nothing approved
    carol = await signed_in(browser_for(), "carol")
    refused = await carol.post("/device/approve", {"user_code": asked["user_code"]})
    assert refused.status_code == 403 and "personal access tokens" in refused.text
