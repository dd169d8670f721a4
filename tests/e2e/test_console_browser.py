"""The web console in a real browser (Debian's Chromium, driven by Playwright), through one
address with the real registry behind nginx: sign in, tokens, pushes, repositories, the
administrator's pages, sign-out, the keyboard and a phone's width. One stack and one browser
for the module; each person browses in a fresh context. The screenshots in the README come
from here."""

from __future__ import annotations

import contextlib
import re
from collections.abc import Callable, Iterator

import pytest
from chromium import chromium, screenshot
from one_origin import ROOT_PASSWORD, OneOrigin
from peers import OciImage, Skopeo
from playwright.sync_api import Browser, BrowserContext, Locator, Page, expect

__all__ = ["chromium"]

ALICE_PASSWORD = "alice-password-1"
DAVE_PASSWORD = "dave-password-1"


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[OneOrigin]:
    with OneOrigin(tmp_path_factory.mktemp("console-browser")) as running:
        yield running


def new_context(chromium: Browser, stack: OneOrigin, width: int = 1200) -> BrowserContext:
    """A fresh browser context (no cookies) whose pages accept data-confirm dialogs."""
    context = chromium.new_context(base_url=stack.url, viewport={"width": width, "height": 800})
    context.on("page", lambda page: page.on("dialog", lambda dialog: dialog.accept()))
    return context


@pytest.fixture
def context(chromium: Browser, stack: OneOrigin) -> Iterator[BrowserContext]:
    context = new_context(chromium, stack)
    yield context
    context.close()


def sign_in(page: Page, username: str, password: str) -> None:
    page.goto("/")
    expect(page).to_have_url(re.compile(r"/login\?next="))
    page.get_by_label("User name").fill(username)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("heading", level=1)).to_have_text(f"Hello, {username}")


@contextlib.contextmanager
def browsing(chromium: Browser, stack: OneOrigin, width: int = 1200) -> Iterator[Page]:
    """A page of its own for one person (see :func:`new_context`)."""
    context = new_context(chromium, stack, width)
    try:
        yield context.new_page()
    finally:
        context.close()


def create_token(page: Page, name: str) -> str:
    """Create a token on /tokens with the form; return the secret shown once."""
    page.goto("/tokens")
    page.get_by_label("Name", exact=True).fill(name)
    page.get_by_label("Expires after").fill("30d")
    page.get_by_label("Everything you may do (pull, push, delete)").check()
    page.get_by_role("button", name="Create token").click()
    secret = page.locator("#new-secret")
    expect(secret).to_be_visible()
    text = secret.inner_text().strip()
    assert len(text) > 20, text
    return text


def token_row(page: Page, name: str) -> Locator:
    """The row of the token NAME on /tokens."""
    return page.locator("tbody tr").filter(has_text=name)


def test_sign_in_and_sign_out_ends_the_session(context: BrowserContext, stack: OneOrigin) -> None:
    page = context.new_page()
    page.goto("/login")
    screenshot(page, "sign-in")
    page.get_by_label("User name").fill("root")
    page.get_by_label("Password").fill("not the password")
    page.get_by_role("button", name="Sign in").click()
    expect(page.locator("#e-password")).to_have_text("Wrong user name or password.")
    page.get_by_label("Password").fill(ROOT_PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Hello, root")
    screenshot(page, "home")
    old = [c for c in context.cookies() if c["name"] == "regauth_session"]
    assert old and old[0]["httpOnly"] and old[0]["sameSite"] == "Lax"
    page.get_by_role("button", name="Sign out").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Sign in")
    expect(page.get_by_role("status")).to_have_text("You are signed out.")
    # the old cookie, put back by hand, no longer opens the console
    context.add_cookies(old)
    page.goto("/")
    expect(page.get_by_role("heading", level=1)).to_have_text("Sign in")


#: pages a phone must show without scrolling the whole page sideways (wide tables scroll
#: inside their own box)
PHONE_PAGES = (
    "/",
    "/tokens",
    "/connect",
    "/sessions",
    "/access",
    "/repositories",
    "/admin/users",
    "/admin/grants",
    "/admin/audit",
    "/admin/tokens",
    "/admin/activity",
    "/admin/settings",
)


def test_the_console_fits_a_phone(chromium: Browser, stack: OneOrigin) -> None:
    with browsing(chromium, stack, width=375) as page:
        sign_in(page, "root", ROOT_PASSWORD)
        for path in PHONE_PAGES:
            page.goto(path)
            width = page.evaluate("document.documentElement.scrollWidth")
            assert width <= 375, f"{path} scrolls sideways on a phone ({width}px)"
        page.goto("/")
        page.keyboard.press("Tab")
        focused = page.evaluate("document.activeElement.textContent")
        assert "Skip to content" in focused


def test_token_push_repositories_revoke_and_a_granted_user(
    chromium: Browser, stack: OneOrigin, oci_image: OciImage, skopeo: Callable[..., Skopeo]
) -> None:
    stack.cli("user", "add", "alice", input=f"{ALICE_PASSWORD}\n")
    client = skopeo(tls_verify=False)
    with browsing(chromium, stack) as alice:
        # 1. sign in, create a token; the list shows it afterwards, never its secret
        sign_in(alice, "alice", ALICE_PASSWORD)
        secret = create_token(alice, "laptop")
        alice.goto("/tokens")
        expect(token_row(alice, "laptop")).to_contain_text("active")
        expect(alice.locator("#new-secret")).to_have_count(0)
        assert secret not in alice.content()
        screenshot(alice, "tokens")
        alice.goto("/connect")
        expect(alice.get_by_role("heading", level=1)).to_have_text("Connect a client")
        expect(alice.get_by_text(f"docker login --username alice {stack.host}")).to_be_visible()
        screenshot(alice, "connect")

        # 2. skopeo pushes through the one address with the token as the password
        creds = f"--dest-creds=alice:{secret}"
        for repository in ("alice/app", "alice/tools"):
            pushed = client.copy(oci_image.ref, stack.ref(repository, "1"), creds)
            assert pushed.returncode == 0, pushed.stderr

        # 3. the repository and its tag, with the digest
        alice.goto("/repositories")
        expect(alice.get_by_role("link", name="alice/app", exact=True)).to_be_visible()
        expect(alice.get_by_role("link", name="alice/tools", exact=True)).to_be_visible()
        screenshot(alice, "repositories")
        alice.get_by_role("link", name="alice/app", exact=True).click()
        expect(alice.get_by_role("heading", level=1)).to_have_text("alice/app")
        row = alice.locator("tbody tr").filter(has_text=oci_image.manifest_digest)
        expect(row.locator("td[data-label=Tag]")).to_have_text("1")
        expect(row.locator("td[data-label=Platforms]")).to_contain_text("linux/amd64")
        screenshot(alice, "repository")

        # 4. revoke the token (the page asks first): skopeo is refused from the next copy
        alice.goto("/tokens")
        token_row(alice, "laptop").get_by_role("button", name="Revoke").click()
        expect(alice.get_by_role("status")).to_have_text("The token is revoked.")
        expect(token_row(alice, "laptop")).to_contain_text("revoked")
        refused = client.copy(oci_image.ref, stack.ref("alice/app", "2"), creds)
        assert refused.returncode != 0
        assert "invalid username/password" in refused.stderr, refused.stderr

    # 5. an administrator creates a user and a grant from the pages
    with browsing(chromium, stack) as root:
        sign_in(root, "root", ROOT_PASSWORD)
        root.goto("/admin/users")
        root.get_by_label("User name").fill("dave")
        root.get_by_label("Password").fill(DAVE_PASSWORD)
        root.get_by_role("button", name="Create user").click()
        expect(root.get_by_role("status")).to_have_text("The user is created.")
        root.goto("/admin/users")
        expect(root.get_by_role("link", name="dave", exact=True)).to_be_visible()
        screenshot(root, "admin-users")
        root.goto("/admin/grants")
        form = root.locator("form", has=root.get_by_role("button", name="Add grant"))
        form.get_by_label("Subject kind").select_option("user")
        form.get_by_role("textbox", name=re.compile(r"^Subject")).fill("dave")
        form.get_by_label("Repository pattern").fill("alice/app")
        form.get_by_label("Role").select_option("pull")
        form.get_by_role("button", name="Add grant").click()
        expect(root.get_by_role("status")).to_have_text("The grant is added.")
        grant = root.locator("tbody tr").filter(has_text="dave")
        expect(grant.locator("td[data-label=Pattern]")).to_have_text("alice/app")
        expect(grant.locator("td[data-label=Role]")).to_have_text("pull")
        screenshot(root, "admin-grants")
        root.goto("/admin/audit")
        expect(root.get_by_role("heading", level=1)).to_contain_text("Audit")
        screenshot(root, "audit")
        root.goto("/admin/settings")
        expect(root.get_by_role("heading", level=1)).to_contain_text("Settings")
        screenshot(root, "settings", full_page=False)

    # ... and that user sees the granted repository, and not the other one
    with browsing(chromium, stack) as dave:
        sign_in(dave, "dave", DAVE_PASSWORD)
        dave.goto("/repositories")
        expect(dave.get_by_role("link", name="alice/app", exact=True)).to_be_visible()
        expect(dave.get_by_role("link", name="alice/tools", exact=True)).to_have_count(0)
        # the one without a grant is answered like one that does not exist
        refused = dave.goto("/repositories/alice/tools")
        assert refused is not None and refused.status == 404


def test_signing_in_with_the_keyboard_only(chromium: Browser, stack: OneOrigin) -> None:
    with browsing(chromium, stack) as page:
        page.goto("/login")
        for _ in range(10):
            page.keyboard.press("Tab")
            if page.evaluate("document.activeElement.name") == "username":
                break
        else:
            raise AssertionError("Tab never reaches the user name field")
        page.keyboard.type("root")
        page.keyboard.press("Tab")
        assert page.evaluate("document.activeElement.name") == "password"
        page.keyboard.type(ROOT_PASSWORD)
        page.keyboard.press("Enter")
        expect(page.get_by_role("heading", level=1)).to_have_text("Hello, root")
