"""``/access``, "What may I do": groups, labels, the grants that apply, and the explain form."""

from __future__ import annotations

import html
import re
from collections.abc import Callable

import httpx
import pytest

from regauth.explain import explain_scopes
from regauth.runtime import Runtime
from regauth.web.console.pages.access import scopes_from_text
from tests.conftest import RuntimeFactory, bcrypt_hash
from tests.console.support import Browser, signed_in

BrowserFor = Callable[..., Browser]


def text_of(page: httpx.Response) -> str:
    return html.unescape(re.sub(r"\s+", " ", page.text))


@pytest.fixture
def granted(runtime: Runtime) -> Runtime:
    accounts = runtime.accounts
    accounts.create_group("devs")
    accounts.add_member("devs", "alice")
    accounts.add_grant(pattern="team/*", role="push", group="devs")
    accounts.add_grant(pattern="tools/lint", role="delete", user="alice")
    accounts.add_grant(pattern="pub/*", role="pull", public=True)
    accounts.add_grant(pattern="secret-of-bob/*", role="admin", user="bob")
    return runtime


def test_a_bare_repository_name_asks_for_every_action() -> None:
    (scope,) = scopes_from_text("team/app")
    assert str(scope) == "repository:team/app:pull,push,delete"
    scopes = scopes_from_text("repository:a/b:pull\n registry:catalog:*")
    assert [str(s) for s in scopes] == ["repository:a/b:pull", "registry:catalog:*"]


async def test_groups_and_the_grants_that_apply(granted: Runtime, browser_for: BrowserFor) -> None:
    browser = await signed_in(browser_for(), "alice")
    page = await browser.get("/access")
    assert page.status_code == 200
    text = text_of(page)
    assert "<li>devs</li>" in text
    for pattern, via in (
        ("team/*", "group devs"),
        ("tools/lint", "you"),
        ("pub/*", "everyone"),
        ("alice/*", "you (built in)"),
    ):
        assert f"<code>{pattern}</code>" in text
        assert via in text
    assert "secret-of-bob" not in text  # another person's grant
    assert "4 in all" in text


async def test_a_grant_added_after_the_page_was_built_shows_at_once(
    runtime: Runtime, browser_for: BrowserFor
) -> None:
    browser = await signed_in(browser_for(), "alice")
    assert "late/*" not in (await browser.get("/access")).text
    runtime.accounts.add_grant(pattern="late/*", role="pull", user="alice")
    page = await browser.get("/access?scope=late/app")
    assert "<code>late/*</code>" in page.text
    assert '<dd class="granted">pull</dd>' in page.text


async def test_explain_gives_the_policy_explain_answer(
    granted: Runtime, browser_for: BrowserFor
) -> None:
    browser = await signed_in(browser_for(), "alice")
    scopes = ["team/app", "repository:tools/lint:delete,push", "repository:other/x:pull"]
    page = await browser.get("/access", params={"scope": " ".join(scopes)})
    assert page.status_code == 200
    text = text_of(page)
    await granted.watcher.poll_once()
    report = await explain_scopes(
        granted.config,
        granted.data_dir,
        account="alice",
        labels={},
        service=None,
        client_ip="127.0.0.1",
        scopes=[str(s) for s in scopes_from_text(" ".join(scopes))],
    )
    assert len(report.decisions) == 3
    for decision in report.decisions:
        shown = (
            f"<dt>Scope</dt><dd><code>{decision.scope}</code></dd> "
            f'<dt>Granted</dt><dd class="granted">{", ".join(decision.granted) or "nothing"}</dd> '
            f'<dt>Denied</dt><dd class="denied">{", ".join(decision.denied) or "-"}</dd> '
            f"<dt>Decided by</dt><dd><code>{decision.decided_by}</code>"
        )
        assert shown in text, shown
        assert decision.comment is not None and decision.comment in text
    assert "granted: pull, push" in report.render()  # team/app through the group


async def test_bad_scopes_and_services_are_400_beside_the_field(
    browser_for: BrowserFor,
) -> None:
    browser = await signed_in(browser_for(), "alice")
    for query, field_name in (
        ({"scope": "repository:Bad Name:pull"}, "scope"),
        ({"scope": "repository:a/b:"}, "scope"),
        ({"scope": ""}, "scope"),
        ({"scope": "a/b", "service": "elsewhere"}, "service"),
    ):
        page = await browser.get("/access", params=query)
        assert page.status_code == 400, query
        assert 'class="error"' in page.text, query
        if field_name == "scope":
            assert 'id="e-scope"' in page.text
        assert 'class="decision"' not in page.text


async def test_what_is_typed_is_escaped(browser_for: BrowserFor) -> None:
    browser = await signed_in(browser_for(), "alice")
    page = await browser.get("/access", params={"scope": '"><script>alert(1)</script>'})
    assert page.status_code == 400
    assert "<script>alert" not in page.text
    assert "&lt;script&gt;" in page.text or "&#34;&gt;&lt;script" in page.text


async def test_labels_and_acl_decisions_for_a_static_user(
    make_runtime: RuntimeFactory, client_for: Callable[..., httpx.AsyncClient]
) -> None:
    runtime = make_runtime(
        {
            "users": {
                "carol": {"password": bcrypt_hash("carol-password-1"), "labels": {"team": ["blue"]}}
            },
            "token": {"service": ["registry", "mirror"]},
            "acl": [
                {
                    "match": {"labels": {"team": "blue"}, "service": "mirror", "name": "blue/*"},
                    "actions": ["pull"],
                    "comment": "blue pulls from the mirror",
                }
            ],
        }
    )
    client = client_for(runtime)
    client.follow_redirects = False
    browser = await signed_in(Browser(client), "carol")
    page = await browser.get("/access")
    text = text_of(page)
    assert "<dt>team</dt><dd>blue</dd>" in text
    assert '<select id="f-service" name="service">' in text
    assert "acl:" in text  # ACL rules decide before grants
    page = await browser.get("/access", params={"scope": "blue/app", "service": "mirror"})
    text = text_of(page)
    assert '<dd class="granted">pull</dd>' in text
    assert "<code>acl[0]</code>: blue pulls from the mirror" in text
    assert "on mirror" in text
    page = await browser.get("/access", params={"scope": "blue/app", "service": "registry"})
    assert '<dd class="granted">nothing</dd>' in text_of(page)


async def test_a_visitor_is_sent_to_sign_in(browser_for: BrowserFor) -> None:
    answer = await browser_for().get("/access?scope=a/b")
    assert answer.status_code == 303
    assert answer.headers["location"].startswith("/login?next=/access")
