"""The console's registry activity: ``/admin/activity`` (filters, cursor paging, 400 on bad
input, administrators only, escaping) and the repository index on the repository pages.

Events go in through the real ingest path (the registry's envelope POSTed to
``/registry/events`` with the secret); the registry's catalog and tags are stood in for (the
repository pages' registry reading has its own tests against the real docker-registry).
"""

from __future__ import annotations

import datetime
import html
import re
from collections.abc import Callable
from typing import Any

import orjson
import pytest
from markupsafe import escape

from regauth.authz.grants import load_snapshot
from regauth.clock import utcnow
from regauth.runtime import Runtime
from regauth.web.console import repositories as console_repositories
from regauth.web.console.registry_client import RegistryNotFound
from regauth.web.console.repositories import Catalog, TagRow
from tests.conftest import RuntimeFactory, bcrypt_hash
from tests.console.support import PASSWORDS, Browser, signed_in

BrowserFor = Callable[..., Browser]
SECRET = "console-activity-secret-1"
HEADERS = {
    "authorization": f"Bearer {SECRET}",
    "content-type": "application/vnd.docker.distribution.events.v1+json",
}
DIGEST_A = "sha256:" + "a" * 64
DIGEST_B = "sha256:" + "b" * 64
HOSTILE_AGENT = '<script>alert("agent")</script>'
HOSTILE_ACTOR = "<b>eve</b>&\"'"
CATALOG = ("alice/app", "public/base", "team/app", "team/quiet")


@pytest.fixture
def runtime(make_runtime: RuntimeFactory) -> Runtime:
    """The console's users (see support.py), with registry events switched on; alice and root
    may pull team/*, everyone public/*."""
    runtime = make_runtime(
        {
            "users": {"carol": {"password": bcrypt_hash("carol-password-1")}},
            "registry": {
                "public_url": "https://registry.example.test",
                "notification_secret": SECRET,
            },
        }
    )
    accounts = runtime.accounts
    for name in ("alice", "bob"):
        accounts.create_user(name, password=PASSWORDS[name])
    accounts.create_user("root", password=PASSWORDS["root"], is_admin=True)
    accounts.add_grant(pattern="team/*", role="pull", user="alice")
    accounts.add_grant(pattern="team/*", role="pull", user="root")
    accounts.add_grant(pattern="public/*", role="pull", public=True)
    runtime.grants.replace(load_snapshot(runtime.database))
    return runtime


@pytest.fixture(autouse=True)
def registry(monkeypatch: pytest.MonkeyPatch) -> None:
    """The registry's catalog and tags, without a registry."""

    async def names(_self: object) -> Catalog:
        return Catalog(CATALOG)

    async def tags(_self: object, name: str) -> list[TagRow]:
        if name not in CATALOG:
            raise RegistryNotFound(name)
        return [TagRow("1", DIGEST_A, 528, ("linux/amd64",))]

    monkeypatch.setattr(console_repositories.Repositories, "names", names)
    monkeypatch.setattr(console_repositories.Repositories, "tags", tags)


def ago(**delta: float) -> str:
    return (utcnow() - datetime.timedelta(**delta)).isoformat().replace("+00:00", "Z")


def event(
    event_id: str,
    action: str = "push",
    *,
    repository: str = "team/app",
    tag: str | None = "1",
    digest: str = DIGEST_A,
    actor: str | None = "alice",
    at: str | None = None,
    agent: str = "skopeo/1.9.3",
) -> dict[str, Any]:
    target: dict[str, Any] = {
        "repository": repository,
        "digest": digest,
        "size": 528,
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "url": f"http://registry:5000/v2/{repository}/manifests/{digest}",
    }
    if tag is not None:
        target["tag"] = tag
    return {
        "id": event_id,
        "timestamp": at or ago(minutes=5),
        "action": action,
        "target": target,
        "request": {"addr": "10.1.2.3:41000", "useragent": agent, "method": "PUT"},
        "actor": {"name": actor} if actor is not None else {},
        "source": {"addr": "registry-1:5000", "instanceID": "i-1"},
    }


async def send(browser: Browser, *events: dict[str, Any]) -> None:
    """Deliver events as the registry does (the client has no console cookie to need)."""
    answer = await browser.client.post(
        "/registry/events", content=orjson.dumps({"events": list(events)}), headers=HEADERS
    )
    assert answer.status_code == 200, answer.text
    assert answer.json()["stored"] == len(events)


def ids(page: str) -> list[str]:
    """The actors of the activity table's rows, in order (the tests give each its own)."""
    return re.findall(r'<td data-label="Actor"><a href="[^"]*">([^<]*)</a>', page)


def listed(page: str) -> list[str]:
    """The repository list's names, in order."""
    return re.findall(r'<td data-label="Repository"><a href="/repositories/([^"]+)">', page)


def rows(page: str) -> int:
    return page.count('<td data-label="Time">')


async def test_the_activity_page_filters_like_regauth_events(browser_for: BrowserFor) -> None:
    root = await signed_in(browser_for(), "root")
    await send(
        root,
        event("e1", actor="alice", at=ago(hours=3)),
        event("e2", "pull", actor="bob", at=ago(minutes=30)),
        event("e3", repository="team/other", digest=DIGEST_B, actor="root", at=ago(minutes=20)),
        event("e4", "pull", actor=None, at=ago(minutes=10)),
        event("e5", "delete", tag=None, actor="root", at=ago(minutes=5)),
    )
    page = await root.get("/admin/activity")
    assert page.status_code == 200, page.text
    assert 'href="/admin/activity" aria-current="page">Activity</a>' in page.text
    assert ids(page.text) == ["root", "(anonymous)", "root", "bob", "alice"]
    assert 'title="sha256:' + "a" * 64 + '"><code>sha256:aaaaaaaaaaaa…</code>' in page.text
    assert "10.1.2.3:41000" in page.text and "skopeo/1.9.3" in page.text
    assert "registry-1:5000" in page.text and "528 B" in page.text

    def listed(**params: str) -> Any:
        return root.get("/admin/activity", params=params)

    assert ids((await listed(repository="team/other")).text) == ["root"]
    assert ids((await listed(actor="bob")).text) == ["bob"]
    assert ids((await listed(actor="(anonymous)")).text) == ["(anonymous)"]
    assert ids((await listed(action="pull")).text) == ["(anonymous)", "bob"]
    assert ids((await listed(action="any", actor="alice")).text) == ["alice"]
    assert ids((await listed(digest=DIGEST_B)).text) == ["root"]
    assert ids((await listed(since="1h", action="push")).text) == ["root"]
    assert ids((await listed(until="2h")).text) == ["alice"]
    assert ids((await listed(since=ago(hours=1), until=ago(minutes=15))).text) == ["root", "bob"]
    assert ids((await listed(tag="1", actor="root")).text) == ["root"]
    nothing = await listed(repository="team/none")
    assert nothing.status_code == 200 and rows(nothing.text) == 0
    assert "No events match" in nothing.text
    # the chosen filters stay in the form
    kept = (await listed(action="pull", since="1h")).text
    assert '<option value="pull" selected>' in kept and 'value="1h"' in kept


@pytest.mark.parametrize(
    ("params", "field", "message"),
    [
        ({"since": "yesterday"}, "since", "not a time"),
        ({"until": "1x"}, "until", "not a time"),
        ({"action": "build"}, "action", "Choose any, or one of push, pull, delete, mount."),
        ({"tag": "t" * 129}, "tag", "At most 128 characters."),
    ],
)
async def test_bad_filters_are_400_beside_the_field(
    browser_for: BrowserFor, params: dict[str, str], field: str, message: str
) -> None:
    root = await signed_in(browser_for(), "root")
    await send(root, event("e1"))
    page = await root.get("/admin/activity", params=params)
    assert page.status_code == 400
    error = re.search(rf'<p class="error" id="e-{field}" role="alert">([^<]*)</p>', page.text)
    assert error is not None, page.text
    assert message in html.unescape(error.group(1))
    assert 'aria-invalid="true"' in page.text
    assert rows(page.text) == 0  # no events under filters that were not understood


async def test_pages_follow_the_cursor_and_stay_put_while_events_arrive(
    browser_for: BrowserFor,
) -> None:
    root = await signed_in(browser_for(), "root")
    # 120 events, actor n000 the oldest ... n119 the newest, one second apart
    await send(
        root, *(event(f"p{n}", actor=f"n{n:03}", at=ago(seconds=200 - n)) for n in range(120))
    )
    first = await root.get("/admin/activity")
    assert ids(first.text) == [f"n{n:03}" for n in range(119, 69, -1)]
    assert "Page 1" in first.text and 'rel="prev"' not in first.text
    older = re.search(r'<a href="([^"]*)" rel="next">Older</a>', first.text)
    assert older is not None
    # new events do not move the pages already handed out
    await send(root, *(event(f"q{n}", actor=f"late{n}", at=ago(seconds=1)) for n in range(5)))
    second = await root.get(html.unescape(older.group(1)))
    assert ids(second.text) == [f"n{n:03}" for n in range(69, 19, -1)]
    assert "Page 2" in second.text
    older = re.search(r'<a href="([^"]*)" rel="next">Older</a>', second.text)
    assert older is not None
    third = await root.get(html.unescape(older.group(1)))
    assert ids(third.text) == [f"n{n:03}" for n in range(19, -1, -1)]
    assert "Page 3" in third.text and "Older</a>" not in third.text
    assert '<a href="/admin/activity">Newest</a>' in third.text
    newer = re.search(r'<a href="([^"]*)" rel="prev">Newer</a>', third.text)
    assert newer is not None
    back = await root.get(html.unescape(newer.group(1)))
    assert ids(back.text) == ids(second.text)
    # the filters ride along with the pages
    filtered = await root.get("/admin/activity", params={"repository": "team/app"})
    link = re.search(r'<a href="([^"]*)" rel="next">Older</a>', filtered.text)
    assert link is not None and "repository=team%2Fapp" in link.group(1)
    # a cursor this server did not give out
    stale = await root.get("/admin/activity", params={"cursor": "yesterday"})
    assert stale.status_code == 400 and "out of date" in stale.text


async def test_the_activity_page_is_for_administrators_only(browser_for: BrowserFor) -> None:
    visitor = browser_for()
    answer = await visitor.get("/admin/activity")
    assert answer.status_code == 303
    assert answer.headers["location"] == "/login?next=/admin/activity"
    for name in ("alice", "carol"):
        person = await signed_in(browser_for(), name)
        await send(person, event(f"seen-by-{name}"))
        page = await person.get("/admin/activity", headers={"accept": "text/html"})
        assert page.status_code == 403
        assert "seen-by" not in page.text and "10.1.2.3" not in page.text
        home = await person.get("/")
        assert "/admin/activity" not in home.text


async def test_what_the_registry_echoes_is_escaped(browser_for: BrowserFor) -> None:
    root = await signed_in(browser_for(), "root")
    await send(root, event("x1", actor=HOSTILE_ACTOR, agent=HOSTILE_AGENT))
    page = await root.get("/admin/activity")
    assert page.status_code == 200
    assert HOSTILE_AGENT not in page.text and "<b>eve</b>" not in page.text
    assert str(escape(HOSTILE_AGENT)) in page.text
    assert "&lt;b&gt;eve&lt;/b&gt;&amp;" in page.text
    # a hostile filter value is shown back escaped too
    reflected = await root.get("/admin/activity", params={"repository": '"><script>x</script>'})
    assert "<script>x</script>" not in reflected.text
    assert 'value="&#34;&gt;&lt;script&gt;x&lt;/script&gt;"' in reflected.text
    # and on the repository page's recent activity
    await send(root, event("x2", repository="team/app", actor=HOSTILE_ACTOR, agent=HOSTILE_AGENT))
    repository = await root.get("/repositories/team/app")
    assert repository.status_code == 200
    assert HOSTILE_AGENT not in repository.text and "<b>eve</b>" not in repository.text
    assert str(escape(HOSTILE_AGENT)) in repository.text


async def test_the_repository_pages_show_the_index(browser_for: BrowserFor) -> None:
    alice = await signed_in(browser_for(), "alice")
    await send(
        alice,
        event("r1", actor="bob", at=ago(days=2)),
        event("r2", actor="alice", tag="2", digest=DIGEST_B, at=ago(hours=3)),
        event("r3", "pull", actor="carol", at=ago(minutes=30)),
        event("r4", "pull", repository="public/base", actor=None, at=ago(days=3)),
        *(event(f"old{n}", "pull", actor="bob", at=ago(days=5, seconds=n)) for n in range(12)),
    )
    listing = await alice.get("/repositories")
    assert listing.status_code == 200, listing.text
    assert ">Last push" in listing.text and ">Last pull" in listing.text
    row = re.search(
        r'<a href="/repositories/team/app">team/app</a></td>(.*?)</tr>', listing.text, re.S
    )
    assert row is not None
    assert ">3 hours ago</time>" in row.group(1) and ">30 minutes ago</time>" in row.group(1)
    quiet = re.search(
        r'<a href="/repositories/team/quiet">team/quiet</a></td>(.*?)</tr>', listing.text, re.S
    )
    assert quiet is not None and quiet.group(1).count('<span class="rel">-</span>') == 2
    by_push = await alice.get("/repositories", params={"sort": "push", "order": "desc"})
    assert listed(by_push.text) == ["team/app", "alice/app", "public/base", "team/quiet"]
    by_pull = await alice.get("/repositories", params={"sort": "pull", "order": "desc"})
    assert listed(by_pull.text) == ["team/app", "public/base", "alice/app", "team/quiet"]
    by_pull = await alice.get("/repositories", params={"sort": "pull", "order": "asc"})
    assert listed(by_pull.text) == ["alice/app", "team/quiet", "public/base", "team/app"]

    page = await alice.get("/repositories/team/app")
    assert page.status_code == 200, page.text
    facts = re.search(r'<dl class="facts">(.*?)</dl>', page.text, re.S)
    assert facts is not None
    assert "<dt>Pushes</dt><dd>2</dd>" in facts.group(1)
    assert "<dt>Pulls</dt><dd>13</dd>" in facts.group(1)
    assert "by alice" in facts.group(1)
    assert "Recent activity" in page.text
    actors = re.findall(r'<td data-label="Actor">([^<]*)</td>', page.text)
    assert actors == ["carol", "alice", "bob"] + ["bob"] * 7  # the last ten, newest first
    # people's addresses and clients are for administrators
    assert "10.1.2.3" not in page.text and "skopeo/1.9.3" not in page.text
    assert "/admin/activity?repository=" not in page.text

    root = await signed_in(browser_for(), "root")
    as_admin = await root.get("/repositories/team/app")
    assert "10.1.2.3:41000" in as_admin.text and "skopeo/1.9.3" in as_admin.text
    assert 'href="/admin/activity?repository=team/app"' in as_admin.text

    # who may not pull it sees nothing of it
    bob = await signed_in(browser_for(), "bob")
    hidden = await bob.get("/repositories/team/app", headers={"accept": "text/html"})
    assert hidden.status_code == 404 and "carol" not in hidden.text
    # a visitor sees a public repository's counters, not who did what
    visitor = browser_for()
    public = await visitor.get("/repositories/public/base")
    assert public.status_code == 200
    assert "<dt>Pulls</dt><dd>1</dd>" in public.text
    assert "Recent activity" not in public.text and "(anonymous)" not in public.text


async def test_without_events_the_repository_pages_look_as_before(
    browser_for: BrowserFor,
) -> None:
    alice = await signed_in(browser_for(), "alice")
    listing = await alice.get("/repositories")
    assert listing.status_code == 200
    assert "Last push" not in listing.text and "Last pull" not in listing.text
    page = await alice.get("/repositories/team/app")
    assert page.status_code == 200
    assert "Activity" not in page.text.split("<main", 1)[1].split("</main>")[0]
    assert "Pushes" not in page.text
