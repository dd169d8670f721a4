"""``/admin/audit``, ``/admin/policy`` and ``/admin/settings``: the audit trail paged in the
database, the policy tester answering as ``regauth policy explain``, and the configuration with
every secret masked."""

from __future__ import annotations

import datetime
from collections.abc import Callable

import httpx
import yaml

from regauth.audit import AuditRecord, ScopeRecord
from regauth.clock import utcnow
from regauth.config import parse_config
from regauth.explain import explain_scopes
from regauth.runtime import Runtime
from regauth.store.background import BackgroundWriter
from regauth.web.console.pages.admin_settings import effective_yaml
from tests.conftest import RuntimeFactory, bcrypt_hash
from tests.console.support import PASSWORDS, Browser, signed_in

BrowserFor = Callable[..., Browser]


def write_events(runtime: Runtime, count: int) -> datetime.datetime:
    """``count`` events a minute apart, the newest a minute ago: even ones alice's granted
    pulls of a/app, odd ones bob's denied pushes of b/app."""
    writer = BackgroundWriter(runtime.database, interval=60)
    now = utcnow()
    for index in range(count):
        alice = index % 2 == 0
        writer.audit(
            AuditRecord(
                at=now - datetime.timedelta(minutes=count - index),
                status=200,
                outcome="granted" if alice else "denied",
                account="alice" if alice else "<script>bob</script>",
                method="database",
                grant_type="basic",
                service="registry",
                client_ip="192.0.2.1",
                user_agent="skopeo",
                reason=None,
                latency_ms=1.0,
                scopes=[
                    ScopeRecord(
                        "repository",
                        "a/app" if alice else "b/app",
                        "pull" if alice else "push",
                        "pull" if alice else "",
                        "grant",
                    )
                ],
            )
        )
    writer.close()
    return now


async def test_the_audit_trail_is_filtered_and_paged(
    runtime: Runtime, browser_for: BrowserFor
) -> None:
    write_events(runtime, 120)
    browser = await signed_in(browser_for(), "root")
    first = await browser.get("/admin/audit")
    assert first.status_code == 200
    assert first.text.count("<tr>") == 1 + 50
    assert 'rel="next"' in first.text and 'rel="prev"' not in first.text
    assert "&lt;script&gt;bob&lt;/script&gt;" in first.text and "<script>bob" not in first.text
    third = await browser.get("/admin/audit?page=3")
    assert third.text.count("<tr>") == 1 + 20 and 'rel="next"' not in third.text
    assert 'href="?page=2"' in third.text
    alice = await browser.get("/admin/audit?account=alice")
    assert alice.text.count("<tr>") == 1 + 50 and "b/app" not in alice.text
    denied = await browser.get("/admin/audit?outcome=denied&repository=b/app&page=2")
    assert denied.text.count("<tr>") == 1 + 10
    assert 'href="?repository=b%2Fapp&amp;outcome=denied&amp;page=1"' in denied.text
    recent = await browser.get("/admin/audit?since=630s")
    assert recent.text.count("<tr>") == 1 + 10  # 1 to 10 minutes ago
    window = await browser.get("/admin/audit?since=1830s&until=1230s")
    assert window.text.count("<tr>") == 1 + 10
    bad = await browser.get("/admin/audit?since=yesterday&outcome=maybe")
    assert bad.status_code == 400
    assert 'id="e-since"' in bad.text and 'id="e-outcome"' in bad.text
    far = await browser.get("/admin/audit?page=99999999999")
    assert far.status_code == 200


async def test_the_policy_tester_answers_as_policy_explain(
    runtime: Runtime, browser_for: BrowserFor
) -> None:
    runtime.accounts.create_group("team")
    runtime.accounts.add_grant(pattern="team/*", role="push", group="team")
    browser = await signed_in(browser_for(), "root")
    page = await browser.get("/admin/policy")
    assert page.status_code == 200 and "explain-output" not in page.text
    for label in ("f-account", "f-labels", "f-groups", "f-address", "f-service", "f-scopes"):
        assert f'<label for="{label}">' in page.text
    query = {
        "account": "alice",
        "labels": "team=blue\nteam=red",
        "groups": "team",
        "address": "192.0.2.1",
        "service": "registry",
        "scopes": "repository:team/app:pull,push\nrepository:other/app:pull",
    }
    answer = await browser.get("/admin/policy", params=query)
    assert answer.status_code == 200
    report = await explain_scopes(
        runtime.config,
        runtime.data_dir,
        account="alice",
        labels={"team": ["blue", "red"]},
        groups=["team"],
        service="registry",
        client_ip="192.0.2.1",
        scopes=["repository:team/app:pull,push", "repository:other/app:pull"],
    )
    expected = report.render().replace("&", "&amp;").replace('"', "&#34;").replace("'", "&#39;")
    assert expected in answer.text
    assert "granted: pull, push" in answer.text
    assert "Something asked for is denied" in answer.text


async def test_the_policy_tester_refuses_bad_input_beside_the_field(
    runtime: Runtime, browser_for: BrowserFor
) -> None:
    browser = await signed_in(browser_for(), "root")
    cases = [
        ({"account": "alice", "scopes": ""}, "scopes"),
        ({"account": "alice", "scopes": "nonsense"}, "scopes"),
        ({"account": "alice", "labels": "no-equals", "scopes": "repository:a:pull"}, "labels"),
        ({"account": "alice", "address": "not-an-ip", "scopes": "repository:a:pull"}, "address"),
        ({"account": "alice", "service": "other", "scopes": "repository:a:pull"}, "service"),
    ]
    for params, field in cases:
        answer = await browser.get("/admin/policy", params=params)
        assert answer.status_code == 400, params
        assert f'id="e-{field}"' in answer.text, (params, answer.text[-3000:])


async def test_settings_show_the_configuration_with_secrets_masked(
    make_runtime: RuntimeFactory, client_for: Callable[..., httpx.AsyncClient]
) -> None:
    notification = "notification-secret-0123456789"
    static_hash = bcrypt_hash("carol-password-1")
    runtime = make_runtime(
        {
            "users": {"carol": {"password": static_hash}},
            "registry": {"notification_secret": notification},
        }
    )
    runtime.accounts.create_user("root", password=PASSWORDS["root"], is_admin=True)
    client = client_for(runtime)
    client.follow_redirects = False
    browser = await signed_in(Browser(client), "root")
    page = await browser.get("/admin/settings")
    assert page.status_code == 200
    assert (
        "Effective configuration" in page.text and "notification_secret: &#39;***&#39;" in page.text
    )
    assert notification not in page.text and static_hash not in page.text
    assert runtime.login_secret.hex() not in page.text
    assert "realm:" in page.text and "REGISTRY_AUTH_TOKEN_REALM=" in page.text
    assert "registry:2" in page.text
    assert (
        "/registry/events" in page.text
        and "Bearer REPLACE-WITH-registry.notification_secret" in page.text
    )
    assert 'href="/admin/settings/registry-config?format=env"' in page.text


def test_the_effective_configuration_masks_every_secret() -> None:
    secrets = {
        "db": "db-password-4242",
        "bind": "bind-password-4242",
        "client": "client-secret-4242",
        "notify": "notification-secret-4242",
    }
    config = parse_config(
        {
            "database": {"url": f"postgresql://regauth:{secrets['db']}@db.example.test/regauth"},
            "ldap": {
                "url": "ldap://ldap.example.test",
                "bind_dn": "cn=regauth",
                "bind_password": secrets["bind"],
                "base_dn": "ou=people,dc=example,dc=test",
            },
            "oidc": {
                "providers": [
                    {
                        "name": "corp",
                        "issuer": "https://id.example.test",
                        "client_id": "regauth",
                        "client_secret": secrets["client"],
                    }
                ]
            },
            "registry": {
                "notification_secret": secrets["notify"],
                "url": "https://puller:url-password-4242@registry.example.test",
            },
            "users": {"carol": {"password": bcrypt_hash("carol-password-1")}},
        }
    )
    text = effective_yaml(config)
    for secret in secrets.values():
        assert secret not in text
    assert "$2" not in text
    document = yaml.safe_load(text)
    assert document["database"]["url"] == "***"
    assert document["ldap"]["bind_password"] == "***"
    assert document["oidc"]["providers"][0]["client_secret"] == "***"
    assert document["registry"]["notification_secret"] == "***"
    assert document["users"]["carol"]["password"] == "***"
    assert document["registry"]["url"] == "https://puller:***@registry.example.test"
    assert "url-password-4242" not in text
    assert document["console"]["idle_lifetime"] == "8h"
    assert document["oidc"]["providers"][0]["client_id"] == "regauth"


async def test_the_registry_configuration_downloads(
    runtime: Runtime, browser_for: BrowserFor
) -> None:
    browser = await signed_in(browser_for(), "root")
    expected = {
        "yaml": ("registry-auth.yml", "auth:"),
        "env": ("registry-auth.env", "REGISTRY_AUTH_TOKEN_SERVICE=registry"),
        "compose": ("docker-compose.yaml", "services:"),
    }
    for chosen, (filename, text) in expected.items():
        answer = await browser.get(f"/admin/settings/registry-config?format={chosen}")
        assert answer.status_code == 200
        assert answer.headers["content-disposition"] == f'attachment; filename="{filename}"'
        assert text in answer.text
        # the trust files: in the data folder, or the compose project's shared volume
        where = "regauth-trust:/certs" if chosen == "compose" else str(runtime.data_dir.path)
        assert where in answer.text
    assert (await browser.get("/admin/settings/registry-config?format=xml")).status_code == 400
