"""``/admin/groups`` and ``/admin/grants``: groups and members, grants added, filtered, removed."""

from __future__ import annotations

from collections.abc import Callable

import jwt

from regauth.runtime import Runtime
from tests.console.support import PASSWORDS, Browser, signed_in

BrowserFor = Callable[..., Browser]

SCRIPT = "<script>alert(1)</script>"


async def test_a_group_created_with_members_added_and_removed_then_deleted(
    runtime: Runtime, browser_for: BrowserFor
) -> None:
    browser = await signed_in(browser_for(), "root")
    await browser.get("/admin/groups")
    answer = await browser.post("/admin/groups", {"name": "org.team", "description": "the team"})
    assert answer.status_code == 303
    assert answer.headers["location"] == "/admin/groups/org.team?done=group-created"
    page = await browser.get(answer.headers["location"])
    assert page.status_code == 200 and "Group org.team" in page.text
    added = await browser.post("/admin/groups/org.team/members/add", {"username": "alice"})
    assert added.headers["location"].endswith("done=member-added")
    assert runtime.accounts.get_group("org.team").members == ["alice"]
    assert runtime.accounts.get_user("alice").groups == ["org.team"]
    unknown = await browser.post("/admin/groups/org.team/members/add", {"username": "nobody"})
    assert unknown.status_code == 404 and 'id="e-username"' in unknown.text
    assert 'value="nobody"' in unknown.text
    listing = await browser.get("/admin/groups")
    assert ">org.team</a>" in listing.text
    removed = await browser.post("/admin/groups/org.team/members/remove", {"username": "alice"})
    assert removed.headers["location"].endswith("done=member-removed")
    assert runtime.accounts.get_group("org.team").members == []
    deleted = await browser.post("/admin/groups/org.team/delete")
    assert deleted.headers["location"] == "/admin/groups?done=group-deleted"
    assert runtime.accounts.list_groups() == []
    assert (await browser.get("/admin/groups/org.team")).status_code == 404


async def test_group_forms_refuse_bad_input(runtime: Runtime, browser_for: BrowserFor) -> None:
    runtime.accounts.create_group("team")
    browser = await signed_in(browser_for(), "root")
    await browser.get("/admin/groups")
    assert (await browser.post("/admin/groups", {"name": ""})).status_code == 400
    taken = await browser.post("/admin/groups", {"name": "team"})
    assert taken.status_code == 409 and 'id="e-name"' in taken.text
    assert (
        await browser.post("/admin/groups/team/members/add", {"username": ""})
    ).status_code == 400
    assert (await browser.post("/admin/groups/nothing/delete")).status_code == 404
    assert [g.name for g in runtime.accounts.list_groups()] == ["team"]


async def test_group_names_are_escaped(runtime: Runtime, browser_for: BrowserFor) -> None:
    # a directory's group keeps its spelling, so a hostile name can reach the pages
    runtime.accounts.create_user("mallory", password="mallory-pw-1")
    runtime.accounts.sync_external_groups("mallory", [SCRIPT], "ldap")
    runtime.accounts.add_grant(pattern="x/*", role="pull", group=SCRIPT)
    browser = await signed_in(browser_for(), "root")
    for path in (
        "/admin/groups",
        "/admin/groups/%3Cscript%3Ealert(1)%3C%2Fscript%3E",
        "/admin/grants",
    ):
        page = await browser.get(path)
        assert page.status_code == 200, path
        assert SCRIPT not in page.text and "&lt;script&gt;" in page.text


async def test_a_grant_added_from_the_page_lets_the_user_pull(
    runtime: Runtime, browser_for: BrowserFor
) -> None:
    browser = await signed_in(browser_for(), "root")
    page = await browser.get("/admin/grants")
    assert 'name="subject_kind"' in page.text and ">Add grant</button>" in page.text
    answer = await browser.post(
        "/admin/grants",
        {"subject_kind": "user", "subject": "alice", "pattern": "team/*", "role": "push"},
    )
    assert (
        answer.status_code == 303 and answer.headers["location"] == "/admin/grants?done=grant-added"
    )
    grants = runtime.accounts.list_grants()
    assert [(g.subject_type, g.subject, g.pattern, g.role, g.created_by) for g in grants] == [
        ("user", "alice", "team/*", "push", "root")
    ]
    # applied at once in this process: the token endpoint grants it now
    answer = await browser.client.get(
        "/token",
        params={"service": "registry", "scope": "repository:team/app:pull,push"},
        auth=("alice", PASSWORDS["alice"]),
    )
    claims = jwt.decode(answer.json()["token"], options={"verify_signature": False})
    assert claims["access"] == [
        {"type": "repository", "name": "team/app", "actions": ["pull", "push"]}
    ]
    public = await browser.post(
        "/admin/grants",
        {"subject_kind": "public", "subject": "", "pattern": "pub/*", "role": "pull"},
    )
    assert public.status_code == 303
    assert runtime.accounts.list_grants()[-1].subject_type == "public"
    removed = await browser.post(f"/admin/grants/{grants[0].id}/remove")
    assert removed.headers["location"] == "/admin/grants?done=grant-removed"
    assert [g.subject_type for g in runtime.accounts.list_grants()] == ["public"]
    assert (await browser.post(f"/admin/grants/{grants[0].id}/remove")).status_code == 404
    assert (await browser.post(f"/admin/grants/{2**64}/remove")).status_code == 404


async def test_bad_grants_are_refused_beside_the_field(
    runtime: Runtime, browser_for: BrowserFor
) -> None:
    browser = await signed_in(browser_for(), "root")
    await browser.get("/admin/grants")
    cases = [
        ({"subject_kind": "user", "subject": "", "pattern": "a/*", "role": "pull"}, 400, "subject"),
        (
            {"subject_kind": "user", "subject": "nobody", "pattern": "a/*", "role": "pull"},
            404,
            "subject",
        ),
        (
            {"subject_kind": "user", "subject": "alice", "pattern": "a//b", "role": "pull"},
            400,
            "pattern",
        ),
        (
            {"subject_kind": "user", "subject": "alice", "pattern": "a/*", "role": "owner"},
            400,
            "role",
        ),
        ({"subject_kind": "public", "subject": "", "pattern": "a/*", "role": "push"}, 400, "role"),
        (
            {"subject_kind": "world", "subject": "x", "pattern": "a/*", "role": "pull"},
            400,
            "subject_kind",
        ),
    ]
    for fields, status, field in cases:
        answer = await browser.post("/admin/grants", fields)
        assert answer.status_code == status, fields
        assert f'id="e-{field}"' in answer.text, fields
    assert runtime.accounts.list_grants() == []


async def test_grants_are_filtered_and_sorted(runtime: Runtime, browser_for: BrowserFor) -> None:
    runtime.accounts.create_group("team")
    runtime.accounts.add_grant(pattern="alpha/*", role="pull", user="alice")
    runtime.accounts.add_grant(pattern="beta/*", role="push", group="team")
    runtime.accounts.add_grant(pattern="gamma/*", role="admin", user="bob")
    browser = await signed_in(browser_for(), "root")
    by_user = await browser.get("/admin/grants?subject_kind=user&subject=alice")
    assert (
        "alpha/*" in by_user.text and "beta/*" not in by_user.text and "gamma/*" not in by_user.text
    )
    by_role = await browser.get("/admin/grants?role=push")
    assert "beta/*" in by_role.text and "alpha/*" not in by_role.text
    by_pattern = await browser.get("/admin/grants?pattern=GAM")
    assert "gamma/*" in by_pattern.text and "alpha/*" not in by_pattern.text
    sorted_page = await browser.get("/admin/grants?sort=pattern&order=desc")
    assert sorted_page.text.index("gamma/*") < sorted_page.text.index("alpha/*")


async def test_grants_sort_filter_and_page_in_the_database(
    runtime: Runtime, browser_for: BrowserFor
) -> None:
    for number in range(120):
        runtime.accounts.add_grant(pattern=f"team/app{number:03d}", role="pull", user="alice")
    runtime.accounts.add_grant(pattern="team/zz_x", role="pull", authenticated=True)
    runtime.accounts.create_group("admins")
    runtime.accounts.add_grant(pattern="team/zzax", role="push", group="admins")
    browser = await signed_in(browser_for(), "root")
    first = await browser.get("/admin/grants?sort=pattern&order=desc")
    assert first.status_code == 200
    assert (
        first.text.index("team/zzax")
        < first.text.index("team/zz_x")
        < first.text.index("team/app119")
    )
    assert "team/app072" in first.text and "team/app071" not in first.text  # 50 a page
    third = await browser.get("/admin/grants?sort=pattern&order=desc&page=3")
    assert "team/app000" in third.text and "team/app100" not in third.text
    beyond = await browser.get("/admin/grants?sort=pattern&page=99")
    assert beyond.status_code == 200 and "team/zzax" in beyond.text  # the last page
    # filters: a case-blind part of the pattern (_ is a plain character), a kind, a role
    found = await browser.get("/admin/grants?pattern=ZZ_")
    assert "team/zz_x" in found.text and "team/zzax" not in found.text
    assert "every signed-in user" in found.text and "team/app0" not in found.text
    kind = await browser.get("/admin/grants?subject_kind=authenticated")
    assert "team/zz_x" in kind.text and "team/app0" not in kind.text
    role = await browser.get("/admin/grants?role=push&subject=admins")
    assert "team/zzax" in role.text and "team/app0" not in role.text
    assert "team/zz_x" not in role.text


async def test_a_grant_for_every_signed_in_user_from_the_page(
    runtime: Runtime, browser_for: BrowserFor
) -> None:
    browser = await signed_in(browser_for(), "root")
    await browser.get("/admin/grants")
    answer = await browser.post(
        "/admin/grants",
        {"subject_kind": "authenticated", "subject": "", "pattern": "shared/*", "role": "pull"},
    )
    assert answer.status_code == 303, answer.text
    (grant,) = [g for g in runtime.accounts.list_grants() if g.pattern == "shared/*"]
    assert grant.subject_type == "authenticated"
