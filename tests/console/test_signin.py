"""Signing in and out of the console: the form, CSRF, cookies, headers, and sessions that end."""

from __future__ import annotations

from collections.abc import Callable

import httpx

from regauth.runtime import Runtime
from tests.conftest import RuntimeFactory
from tests.console.support import PASSWORDS, Browser, csrf_of, signed_in

BrowserFor = Callable[..., Browser]


def set_cookies(response: httpx.Response) -> list[str]:
    return response.headers.get_list("set-cookie")


async def test_home_sends_a_visitor_to_the_sign_in_form(browser_for: BrowserFor) -> None:
    browser = browser_for()
    home = await browser.get("/")
    assert home.status_code == 303
    assert home.headers["location"] == "/login?next=/"
    page = await browser.get("/login?next=/")
    assert page.status_code == 200
    assert 'name="username"' in page.text and 'name="password"' in page.text
    assert '<label for="f-username">' in page.text and '<label for="f-password">' in page.text
    csp = page.headers["content-security-policy"]
    assert "unsafe-inline" not in csp and "frame-ancestors 'none'" in csp
    assert page.headers["x-content-type-options"] == "nosniff"
    assert page.headers["cache-control"] == "no-store"


async def test_sign_in_with_a_password_gives_a_strict_session_cookie(
    browser_for: BrowserFor,
) -> None:
    browser = browser_for()
    answer = await browser.sign_in("alice", PASSWORDS["alice"], next_path="/tokens")
    assert answer.status_code == 303
    assert answer.headers["location"] == "/tokens"
    session = next(c for c in set_cookies(answer) if c.startswith("regauth_session="))
    for attribute in ("HttpOnly", "SameSite=Lax", "Path=/"):
        assert attribute in session
    assert "Secure" not in session  # plain http here; see the HTTPS test below
    home = await browser.get("/")
    assert home.status_code == 200
    assert "Hello, alice" in home.text


async def test_over_https_the_cookie_is_secure_and_host_prefixed(
    make_runtime: RuntimeFactory, client_for: Callable[..., httpx.AsyncClient]
) -> None:
    runtime = make_runtime({"server": {"public_url": "https://auth.example.test"}})
    runtime.accounts.create_user("alice", password=PASSWORDS["alice"])
    client = client_for(runtime)
    page = await client.get("/login")
    csrf_cookie = next(c for c in set_cookies(page) if "regauth_csrf=" in c)
    assert csrf_cookie.startswith("__Host-regauth_csrf=") and "Secure" in csrf_cookie
    client.cookies.set("__Host-regauth_csrf", page.cookies["__Host-regauth_csrf"])
    answer = await client.post(
        "/login",
        data={"csrf": csrf_of(page.text), "username": "alice", "password": PASSWORDS["alice"]},
    )
    assert answer.status_code == 303, answer.text
    session = next(c for c in set_cookies(answer) if "regauth_session=" in c)
    assert session.startswith("__Host-regauth_session=")
    for attribute in ("Secure", "HttpOnly", "SameSite=Lax", "Path=/"):
        assert attribute in session


async def test_sign_in_without_the_csrf_token_is_403_and_signs_nobody_in(
    runtime: Runtime, browser_for: BrowserFor
) -> None:
    browser = browser_for()
    await browser.get("/login")
    for token in ("", "forged"):
        answer = await browser.client.post(
            "/login", data={"csrf": token, "username": "alice", "password": PASSWORDS["alice"]}
        )
        assert answer.status_code == 403
        assert not any("regauth_session=" in c for c in set_cookies(answer))
    assert runtime.accounts.list_console_sessions("alice") == []


async def test_wrong_password_shows_the_error_beside_the_field(browser_for: BrowserFor) -> None:
    browser = browser_for()
    answer = await browser.sign_in("<b>alice</b>", "nope")
    assert answer.status_code == 401
    assert "Wrong user name or password." in answer.text
    assert 'id="e-password"' in answer.text
    assert "<b>alice</b>" not in answer.text and "&lt;b&gt;alice&lt;/b&gt;" in answer.text
    empty = await browser.sign_in("", "")
    assert empty.status_code == 400
    assert "Enter your user name." in empty.text and "Enter your password." in empty.text


async def test_tokens_and_robot_secrets_cannot_sign_in(
    runtime: Runtime, browser_for: BrowserFor
) -> None:
    token = runtime.accounts.create_token("alice", "laptop").secret
    robot = runtime.accounts.create_robot("ci").secret
    browser = browser_for()
    for username, secret in (("alice", token), ("robot+ci", robot)):
        answer = await browser.sign_in(username, secret)
        assert answer.status_code == 400
        assert "sign in here with your password" in answer.text
        assert secret not in answer.text
    assert runtime.accounts.list_console_sessions() == []


async def test_failures_go_through_the_guessing_limits(browser_for: BrowserFor) -> None:
    browser = browser_for("203.0.113.9")
    statuses = [(await browser.sign_in("alice", f"wrong-{i}")).status_code for i in range(8)]
    assert statuses[:5] == [401] * 5
    assert 429 in statuses[5:]
    answer = await browser.sign_in("alice", PASSWORDS["alice"])  # even the right password waits
    assert answer.status_code == 429
    assert "Too many failed sign-ins" in answer.text
    assert int(answer.headers["retry-after"]) >= 1


async def test_a_static_user_signs_in_and_keeps_their_labels(browser_for: BrowserFor) -> None:
    browser = await signed_in(browser_for(), "carol")
    home = await browser.get("/")
    assert home.status_code == 200
    assert "Hello, carol" in home.text


async def test_sign_out_ends_the_session_and_the_old_cookie_stops_working(
    runtime: Runtime, browser_for: BrowserFor
) -> None:
    browser = await signed_in(browser_for(), "alice")
    cookie = browser.client.cookies["regauth_session"]
    forged = await browser.client.post("/logout", data={"csrf": "x"})
    assert forged.status_code == 403
    assert (await browser.get("/")).status_code == 200
    out = await browser.post("/logout")
    assert out.status_code == 303
    assert out.headers["location"] == "/login?done=signed-out"
    assert (await browser.get("/")).status_code == 303
    other = browser_for()
    other.client.cookies.set("regauth_session", cookie)
    assert (await other.get("/")).status_code == 303
    assert runtime.accounts.list_console_sessions("alice") == []


async def test_password_change_disable_and_delete_end_sessions(
    runtime: Runtime, browser_for: BrowserFor
) -> None:
    changed = await signed_in(browser_for(), "alice")
    runtime.accounts.set_password("alice", "a-new-password-2")
    assert (await changed.get("/")).status_code == 303
    disabled = await signed_in(browser_for(), "bob")
    runtime.accounts.set_enabled("bob", False)
    assert (await disabled.get("/")).status_code == 303
    runtime.accounts.create_user("dave", password="dave-password-1")
    deleted = browser_for()
    assert (await deleted.sign_in("dave", "dave-password-1")).status_code == 303
    runtime.accounts.delete_user("dave")
    assert (await deleted.get("/")).status_code == 303


async def test_next_never_leaves_the_console(browser_for: BrowserFor) -> None:
    for target in ("https://evil.test/", "//evil.test/x", "/\\evil.test", "javascript:alert(1)"):
        browser = browser_for()
        answer = await browser.sign_in("alice", PASSWORDS["alice"], next_path=target)
        assert answer.status_code == 303
        assert answer.headers["location"] == "/"


async def test_an_unknown_path_is_an_html_404(browser_for: BrowserFor) -> None:
    browser = browser_for()
    answer = await browser.get("/no/such/<page>", headers={"accept": "text/html"})
    assert answer.status_code == 404
    assert answer.headers["content-type"].startswith("text/html")
    assert "<page>" not in answer.text
    api_client = await browser.get("/no/such/page")  # no text/html in Accept: JSON as before
    assert api_client.json()["errors"][0]["code"] == "NOT_FOUND"


async def test_static_files_are_served_without_inline_code(browser_for: BrowserFor) -> None:
    browser = browser_for()
    css = await browser.get("/static/console.css")
    assert css.status_code == 200 and css.headers["content-type"].startswith("text/css")
    js = await browser.get("/static/console.js")
    assert js.status_code == 200
    page = await browser.get("/login")
    assert "<script>" not in page.text and " style=" not in page.text
