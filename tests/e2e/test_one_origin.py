"""One host for the registry and regauth behind Debian's nginx: ``/v2/`` to the registry,
every other path to regauth. ``docker login``-style clients, the token endpoint and the console
share the one address; the registry's challenge names a realm on that same address."""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path

import httpx
from one_origin import ROOT_PASSWORD, OneOrigin
from peers import OciImage, Skopeo


def test_registry_token_endpoint_and_console_share_one_address(
    tmp_path: Path, oci_image: OciImage, skopeo: Callable[..., Skopeo]
) -> None:
    with OneOrigin(tmp_path / "stack") as stack:
        stack.cli("user", "add", "alice", input="alice-password-1\n")
        with httpx.Client(base_url=stack.url, timeout=10) as http:
            challenge = http.get("/v2/")
            assert challenge.status_code == 401
            assert f'realm="{stack.url}/auth"' in challenge.headers["www-authenticate"]
            login = http.get("/login", headers={"accept": "text/html"})
            assert login.status_code == 200 and 'name="password"' in login.text
            css = http.get("/static/console.css")
            assert css.status_code == 200
            token = http.get(
                "/auth",
                params={"service": "registry", "scope": "repository:alice/app:pull"},
                auth=("alice", "alice-password-1"),
            )
            assert token.status_code == 200, token.text
            # the console signs in through the front door (the address nginx reports)
            page = http.get("/login")
            csrf = re.search(r'name="csrf" value="([^"]+)"', page.text)
            assert csrf is not None
            signed = http.post(
                "/login",
                data={"csrf": csrf.group(1), "username": "root", "password": ROOT_PASSWORD},
            )
            assert signed.status_code == 303, signed.text
            home = http.get("/")
            assert home.status_code == 200 and "Hello, root" in home.text
        client = skopeo(tls_verify=False)
        assert client.login(stack.host, "alice", "alice-password-1").returncode == 0
        pushed = client.copy(oci_image.ref, stack.ref("alice/app", "1"))
        assert pushed.returncode == 0, pushed.stderr
        inspected = client.inspect(stack.ref("alice/app", "1"))
        assert inspected.returncode == 0, inspected.stderr
        assert oci_image.manifest_digest in inspected.stdout
