"""Who may use the administration pages: administrators only, and only with the CSRF token.

Every /admin page and form is listed here once; a non-administrator (a database user, a static
user) gets 403 on each, a visitor is sent to sign in, and a form posted without the page's
CSRF token is 403 and changes nothing.
"""

from __future__ import annotations

from collections.abc import Callable

import pytest

from regauth.runtime import Runtime
from regauth.web.console.app import PAGE_MODULES
from tests.console.support import Browser, signed_in

BrowserFor = Callable[..., Browser]

ADMIN_PAGES = [
    "/admin/users",
    "/admin/users/alice",
    "/admin/groups",
    "/admin/groups/team",
    "/admin/grants",
    "/admin/robots",
    "/admin/tokens",
    "/admin/tokens?show=refresh",
    "/admin/tokens?show=sessions",
    "/admin/lockouts",
    "/admin/audit",
    "/admin/activity",
    "/admin/policy",
    "/admin/policy?account=alice&scopes=repository:a/b:pull",
    "/admin/settings",
    "/admin/settings/registry-config?format=yaml",
]

#: every form: (path, fields)
ADMIN_FORMS = [
    ("/admin/users", {"username": "mallory", "password": "mallory-password-1", "is_admin": "1"}),
    ("/admin/users/bob/disable", {}),
    ("/admin/users/bob/enable", {}),
    ("/admin/users/bob/password", {"password": "taken-over-1"}),
    ("/admin/users/bob/delete", {}),
    ("/admin/users/bob/sessions/1/end", {}),
    ("/admin/groups", {"name": "evil"}),
    ("/admin/groups/team/delete", {}),
    ("/admin/groups/team/members/add", {"username": "bob"}),
    ("/admin/groups/team/members/remove", {"username": "alice"}),
    ("/admin/grants", {"subject_kind": "user", "subject": "bob", "pattern": "*", "role": "admin"}),
    ("/admin/grants/1/remove", {}),
    ("/admin/robots", {"name": "evil", "expires": "never", "grants": "* admin"}),
    ("/admin/robots/ci/revoke", {}),
    ("/admin/robots/ci/delete", {}),
    ("/admin/tokens/1/revoke", {}),
    ("/admin/refresh-tokens/1/revoke", {}),
    ("/admin/sessions/1/end", {}),
    ("/admin/lockouts/clear", {"target": "alice"}),
]


@pytest.fixture
def world(runtime: Runtime) -> Runtime:
    """A group, a grant, a robot and a token for the forms to aim at."""
    accounts = runtime.accounts
    accounts.create_group("team")
    accounts.add_member("team", "alice")
    accounts.add_grant(pattern="team/*", role="push", group="team")
    accounts.create_robot("ci", grants=[("ci/*", "push")])
    accounts.create_token("bob", "laptop")
    return runtime


def snapshot(runtime: Runtime) -> tuple[object, ...]:
    """Everything the forms above could change."""
    accounts = runtime.accounts
    return (
        [u.as_dict() for u in accounts.list_users()],
        [g.as_dict() for g in accounts.list_groups()],
        [g.as_dict() for g in accounts.list_grants()],
        [r.as_dict() for r in accounts.list_robots()],
        [t.as_dict() for t in accounts.list_tokens()],
        [(s.id, s.revoked_at) for s in accounts.list_console_sessions(include_ended=True)],
    )


def test_every_admin_page_module_is_in_the_console() -> None:
    for name in ("users", "groups", "grants", "robots", "tokens", "lockouts", "audit"):
        assert f"admin_{name}" in PAGE_MODULES
    for name in ("policy", "settings"):
        assert f"admin_{name}" in PAGE_MODULES


@pytest.mark.parametrize("username", ["alice", "carol"])
async def test_a_non_administrator_gets_403_on_every_admin_page_and_form(
    world: Runtime, browser_for: BrowserFor, username: str
) -> None:
    browser = await signed_in(browser_for(), username)
    await browser.get("/")  # the home page's CSRF token: a valid token of this session
    before = snapshot(world)
    for path in ADMIN_PAGES:
        page = await browser.get(path)
        assert page.status_code == 403, path
        assert "for regauth administrators" in page.text
    for path, fields in ADMIN_FORMS:
        await browser.get("/")
        answer = await browser.post(path, fields)
        assert answer.status_code == 403, path
    assert snapshot(world) == before
    assert "Administration" not in (await browser.get("/")).text.split("<main", 1)[0]


async def test_a_visitor_is_sent_to_sign_in(world: Runtime, browser_for: BrowserFor) -> None:
    browser = browser_for()
    for path in ADMIN_PAGES:
        page = await browser.get(path)
        assert page.status_code == 303, path
        assert page.headers["location"].startswith("/login?next=/admin/")
    before = snapshot(world)
    for path, fields in ADMIN_FORMS:
        answer = await browser.client.post(path, data={"csrf": "x", **fields})
        assert answer.status_code == 303, path
    assert snapshot(world) == before


async def test_every_admin_form_without_the_csrf_token_is_403_and_changes_nothing(
    world: Runtime, browser_for: BrowserFor
) -> None:
    browser = await signed_in(browser_for(), "root")
    bob = await signed_in(browser_for(), "bob")
    assert bob.csrf
    before = snapshot(world)
    for path, fields in ADMIN_FORMS:
        for token in ("", "forged", bob.csrf):  # missing, made up, another session's
            answer = await browser.post(path, fields, csrf=token)
            assert answer.status_code == 403, (path, token)
            assert "security token" in answer.text
    assert snapshot(world) == before


async def test_an_administrator_sees_every_admin_page(
    world: Runtime, browser_for: BrowserFor
) -> None:
    browser = await signed_in(browser_for(), "root")
    for path in ADMIN_PAGES:
        page = await browser.get(path)
        assert page.status_code == 200, (path, page.text[:2000])
        assert page.headers["cache-control"] == "no-store"
        if "registry-config" not in path:
            assert "<main" in page.text and 'aria-current="page"' in page.text, path
