"""``/admin/users``: the list, creating a user, a user's page and what it changes."""

from __future__ import annotations

from collections.abc import Callable

from regauth.runtime import Runtime
from tests.console.support import PASSWORDS, Browser, signed_in

BrowserFor = Callable[..., Browser]

SCRIPT = "<script>alert(1)</script>"


async def test_the_list_shows_every_column_sorts_filters_and_pages(
    runtime: Runtime, browser_for: BrowserFor
) -> None:
    runtime.accounts.create_group("ops")
    runtime.accounts.add_member("ops", "bob")
    for number in range(60):
        runtime.accounts.create_user(f"user{number:02d}")
    browser = await signed_in(browser_for(), "root")
    page = await browser.get("/admin/users?q=bob")
    assert page.status_code == 200
    for heading in ("Name", "Source", "Email", "Administrator", "Enabled", "Created", "Groups"):
        assert f">{heading}" in page.text
    assert ">bob</a>" in page.text and ">ops<" in page.text and ">alice</a>" not in page.text
    assert 'class="stack"' in page.text
    first = await browser.get("/admin/users")
    assert "Page 1 of 2 (63 in all)" in first.text
    assert ">alice</a>" in first.text and ">user59</a>" not in first.text
    second = await browser.get("/admin/users?sort=name&order=asc&page=2")
    assert ">user59</a>" in second.text and ">alice</a>" not in second.text
    by_name_desc = await browser.get("/admin/users?sort=name&order=desc")
    assert by_name_desc.text.index(">user59</a>") < by_name_desc.text.index(">user50</a>")
    assert 'aria-sort="descending"' in by_name_desc.text


async def test_creating_a_user_who_then_signs_in(runtime: Runtime, browser_for: BrowserFor) -> None:
    browser = await signed_in(browser_for(), "root")
    await browser.get("/admin/users")
    answer = await browser.post(
        "/admin/users",
        {"username": "dave", "password": "dave-password-1", "email": "dave@example.test"},
    )
    assert answer.status_code == 303
    assert answer.headers["location"] == "/admin/users/dave?done=user-created"
    page = await browser.get(answer.headers["location"])
    assert "The user is created." in page.text and "dave@example.test" in page.text
    user = runtime.accounts.get_user("dave")
    assert not user.is_admin and user.enabled
    dave = browser_for()
    assert (await dave.sign_in("dave", "dave-password-1")).status_code == 303
    await browser.post(
        "/admin/users", {"username": "erin", "password": "erin-password-1", "is_admin": "1"}
    )
    assert runtime.accounts.get_user("erin").is_admin


async def test_bad_input_is_shown_beside_the_field_and_writes_nothing(
    runtime: Runtime, browser_for: BrowserFor
) -> None:
    browser = await signed_in(browser_for(), "root")
    await browser.get("/admin/users")
    before = [u.username for u in runtime.accounts.list_users()]
    answer = await browser.post(
        "/admin/users", {"username": "no spaces", "password": "", "email": "not-an-email"}
    )
    assert answer.status_code == 400
    for name in ("username", "password", "email"):
        assert f'id="e-{name}"' in answer.text
    assert 'value="not-an-email"' in answer.text  # the form keeps what was typed
    taken = await browser.post("/admin/users", {"username": "alice", "password": "x-password-1"})
    assert taken.status_code == 409
    assert 'id="e-username"' in taken.text and "already exists" in taken.text
    assert [u.username for u in runtime.accounts.list_users()] == before


async def test_names_and_emails_are_escaped(runtime: Runtime, browser_for: BrowserFor) -> None:
    runtime.accounts.create_user("mallory", password="mallory-pw-1", email=f"{SCRIPT}@x.test")
    runtime.accounts.sync_external_groups("mallory", [SCRIPT], "ldap")  # a directory's name
    browser = await signed_in(browser_for(), "root")
    for path in ("/admin/users", "/admin/users/mallory"):
        page = await browser.get(path)
        assert SCRIPT not in page.text
        assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page.text
    invalid = await browser.post("/admin/users", {"username": SCRIPT, "password": "p-1"})
    assert invalid.status_code == 400 and SCRIPT not in invalid.text


async def test_disable_and_enable_end_the_users_sessions(
    runtime: Runtime, browser_for: BrowserFor
) -> None:
    alice = await signed_in(browser_for(), "alice")
    runtime.accounts.create_token("alice", "laptop")
    browser = await signed_in(browser_for(), "root")
    page = await browser.get("/admin/users/alice")
    assert (
        "<h2>Sessions</h2>" in page.text
        and ">browser<" in page.text
        and "/admin/users/alice/sessions/" in page.text
    )
    answer = await browser.post("/admin/users/alice/disable")
    assert answer.status_code == 303
    assert answer.headers["location"] == "/admin/users/alice?done=user-disabled"
    assert not runtime.accounts.get_user("alice").enabled
    assert (await alice.get("/")).status_code == 303  # signed out everywhere
    assert runtime.accounts.list_console_sessions("alice") == []
    assert (await browser.get("/admin/users/alice")).text.count(">Enable<") == 1
    answer = await browser.post("/admin/users/alice/enable")
    assert answer.status_code == 303 and runtime.accounts.get_user("alice").enabled


async def test_resetting_a_password(runtime: Runtime, browser_for: BrowserFor) -> None:
    alice = await signed_in(browser_for(), "alice")
    browser = await signed_in(browser_for(), "root")
    await browser.get("/admin/users/alice")
    empty = await browser.post("/admin/users/alice/password", {"password": ""})
    assert empty.status_code == 400 and 'id="e-password"' in empty.text
    answer = await browser.post("/admin/users/alice/password", {"password": "new-alice-pw-1"})
    assert answer.headers["location"] == "/admin/users/alice?done=password-reset"
    assert (await alice.get("/")).status_code == 303
    assert (await browser_for().sign_in("alice", PASSWORDS["alice"])).status_code == 401
    assert (await browser_for().sign_in("alice", "new-alice-pw-1")).status_code == 303


async def test_the_last_administrator_cannot_be_disabled_or_deleted(
    runtime: Runtime, browser_for: BrowserFor
) -> None:
    browser = await signed_in(browser_for(), "root")
    await browser.get("/admin/users/root")
    for action in ("disable", "delete"):
        answer = await browser.post(f"/admin/users/root/{action}")
        assert answer.status_code == 409
        assert "the last enabled administrator" in answer.text
        assert 'role="alert"' in answer.text
    root = runtime.accounts.get_user("root")
    assert root.enabled and root.is_admin
    # with another administrator, one does not disable or delete oneself: ask them
    runtime.accounts.create_user("admin2", password="admin2-password-1", is_admin=True)
    answer = await browser.post("/admin/users/root/disable")
    assert answer.status_code == 409 and "ask another administrator" in answer.text
    assert runtime.accounts.get_user("root").enabled


async def test_deleting_a_user_and_unknown_users(runtime: Runtime, browser_for: BrowserFor) -> None:
    browser = await signed_in(browser_for(), "root")
    page = await browser.get("/admin/users/bob")
    assert 'data-confirm="Delete bob for good?"' in page.text
    answer = await browser.post("/admin/users/bob/delete")
    assert answer.headers["location"] == "/admin/users?done=user-deleted"
    assert "bob" not in [u.username for u in runtime.accounts.list_users()]
    assert (await browser.get("/admin/users/bob")).status_code == 404
    assert (await browser.post("/admin/users/bob/disable")).status_code == 404
    assert (await browser.post("/admin/users/bob/delete")).status_code == 404


async def test_ending_one_of_a_users_sessions(runtime: Runtime, browser_for: BrowserFor) -> None:
    alice = await signed_in(browser_for(), "alice")
    other = await signed_in(browser_for(), "alice")
    browser = await signed_in(browser_for(), "root")
    sessions = runtime.accounts.list_console_sessions("alice")
    assert len(sessions) == 2
    await browser.get("/admin/users/alice")
    root_session = runtime.accounts.list_console_sessions("root")[0]
    # a session of another user through this user's page is not found
    assert (
        await browser.post(f"/admin/users/alice/sessions/{root_session.id}/end")
    ).status_code == 404
    too_large = await browser.post(f"/admin/users/alice/sessions/{2**70}/end")
    assert too_large.status_code == 404
    answer = await browser.post(f"/admin/users/alice/sessions/{sessions[0].id}/end")
    assert answer.headers["location"] == "/admin/users/alice?done=session-ended"
    assert [s.id for s in runtime.accounts.list_console_sessions("alice")] == [sessions[1].id]
    assert (await other.get("/")).status_code == 303  # the newest session was sessions[0]
    assert (await alice.get("/")).status_code == 200


async def test_users_sort_search_and_page_in_the_database(
    runtime: Runtime, browser_for: BrowserFor
) -> None:
    from regauth.accounts import ImportedAccount

    runtime.accounts.import_users([ImportedAccount(f"user{n:03d}", None) for n in range(130)])
    runtime.accounts.create_user("percent", password="percent-pw-1", email="a_100%@x.test")
    browser = await signed_in(browser_for(), "root")
    first = await browser.get("/admin/users?sort=name&order=desc")
    assert first.status_code == 200
    assert "user129" in first.text and "user000" not in first.text
    last = await browser.get("/admin/users?sort=name&order=desc&page=3")
    assert "user000" in last.text and "user129" not in last.text
    # search: a case-blind part of the name or email; % and _ are plain characters
    found = await browser.get("/admin/users?q=_100%25")
    assert "percent" in found.text and "user100" not in found.text
    assert "user012" in (await browser.get("/admin/users?q=USER01")).text
    groups = await browser.get("/admin/users?sort=groups&order=desc")
    assert groups.status_code == 200
