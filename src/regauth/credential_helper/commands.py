"""``docker-credential-regauth``: the credential helper protocol and its own login/logout.

    docker-credential-regauth get | store | erase | list     (the protocol: stdin / stdout)
    docker-credential-regauth login REGISTRY [--no-browser] [--docker-config F] [--authfile F]
    docker-credential-regauth logout REGISTRY

``get`` answers ``{"ServerURL", "Username", "Secret"}`` with a short personal access token; a
registry it was never signed in to gets docker's "credentials not found in native keychain"
(so clients go on without credentials); an ended device session gets one line saying to run
``login`` again. Every failure is one line on stderr and exit status 1.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from typing import IO

import httpx

from regauth.credential_helper.client_files import (
    ClientFileError,
    containers_auth_file,
    docker_config_file,
    set_helper,
)
from regauth.credential_helper.device_login import DeviceLoginError, device_login
from regauth.credential_helper.discovery import DiscoveryError, discover
from regauth.credential_helper.hosts import InvalidRegistry, Registry, parse_registry
from regauth.credential_helper.secrets import HelperState, Record

__all__ = ["HelperError", "main"]

NOT_FOUND = "credentials not found in native keychain"
#: a cached credential is used until this many seconds before it expires
RENEW_BEFORE = 60
TIMEOUT = 15.0


class HelperError(Exception):
    """One line for stderr."""


def _relogin(registry: str) -> HelperError:
    return HelperError(
        f"the regauth sign-in for {registry} has ended: run `docker-credential-regauth login "
        f"{registry}` again"
    )


def _read_server(stdin: IO[str]) -> Registry:
    text = stdin.read(4096).strip()
    if not text:
        raise HelperError("no registry address on standard input")
    try:
        return parse_registry(text)
    except InvalidRegistry as exc:
        raise HelperError(str(exc)) from None


def _bearer(state: HelperState, record: Record) -> dict[str, str]:
    session = state.session(record)
    if session is None:
        raise _relogin(record.registry)
    return {"authorization": f"Bearer {session}"}


def get(state: HelperState, stdin: IO[str], stdout: IO[str]) -> None:
    given = stdin.read(4096).strip()
    try:
        registry = parse_registry(given)
    except InvalidRegistry:
        raise HelperError(NOT_FOUND) from None
    record = state.record(registry.key)
    if record is None:
        raise HelperError(NOT_FOUND)
    headers = _bearer(state, record)
    now = time.time()
    cached = state.credential(registry.key)
    with httpx.Client(timeout=TIMEOUT) as http:
        try:
            if cached is not None and cached[2] - now > RENEW_BEFORE:
                # the session may have been ended since: ask (cheap) before handing it out
                alive = http.get(f"{record.server}/device/session", headers=headers)
                if alive.status_code == 401:
                    state.forget_credential(registry.key)
                    raise _relogin(registry.key)
                username, secret = cached[0], cached[1]
            else:
                issued = http.post(f"{record.server}/device/credential", headers=headers)
                if issued.status_code == 401:
                    state.forget_credential(registry.key)
                    raise _relogin(registry.key)
                if issued.status_code != 200:
                    raise HelperError(
                        f"regauth at {record.server} refused a credential "
                        f"({issued.status_code}): {issued.text[:200]}"
                    )
                body = issued.json()
                username, secret = str(body["username"]), str(body["secret"])
                expires = _unix_time(str(body["expires_at"]))
                state.keep_credential(registry.key, username, secret, expires)
        except httpx.HTTPError as exc:
            raise HelperError(f"cannot reach regauth at {record.server}: {exc}") from None
    json.dump({"ServerURL": given, "Username": username, "Secret": secret}, stdout)
    stdout.write("\n")


def _unix_time(text: str) -> float:
    import datetime

    return datetime.datetime.fromisoformat(text).timestamp()


def store(stdin: IO[str]) -> None:
    stdin.read(65536)  # the clients send the password; it is not kept
    raise HelperError(
        "docker-credential-regauth keeps no passwords: sign in with "
        "`docker-credential-regauth login REGISTRY`"
    )


def erase(state: HelperState, stdin: IO[str]) -> None:
    registry = _read_server(stdin)
    state.remove(registry.key)


def list_registries(state: HelperState, stdout: IO[str]) -> None:
    json.dump({key: record.username for key, record in state.records().items()}, stdout)
    stdout.write("\n")


def _can_open_browser() -> bool:
    if sys.platform in ("darwin", "win32"):
        return True
    return bool(os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY"))


def login(state: HelperState, options: argparse.Namespace, stdout: IO[str]) -> None:
    try:
        registry = parse_registry(options.registry)
    except InvalidRegistry as exc:
        raise HelperError(str(exc)) from None
    try:
        server = discover(registry, timeout=TIMEOUT)
    except DiscoveryError as exc:
        raise HelperError(str(exc)) from None
    with httpx.Client(timeout=TIMEOUT) as http:
        try:
            session = device_login(
                http,
                server.base_url,
                stdout,
                open_browser=not options.no_browser and _can_open_browser(),
            )
        except DeviceLoginError as exc:
            raise HelperError(str(exc)) from None
    record = Record(registry.key, registry.scheme, server.base_url, session.username, "file")
    record = state.save(record, session.secret)
    files = []
    if not options.no_client_config:
        for path in (options.docker_config or docker_config_file(),
                     options.authfile or containers_auth_file()):  # fmt: skip
            try:
                set_helper(path, registry.key, enabled=True)
            except ClientFileError as exc:
                raise HelperError(str(exc)) from None
            files.append(str(path))
    where = "the OS keyring" if record.store == "keyring" else f"{state.folder} (mode 600)"
    stdout.write(
        f"Signed in to {registry.key} as {session.username}; the session is kept in {where}.\n"
    )
    if files:
        stdout.write(
            f"docker, podman, skopeo and buildah now ask this helper ({', '.join(files)}).\n"
        )


def logout(state: HelperState, options: argparse.Namespace, stdout: IO[str]) -> None:
    try:
        registry = parse_registry(options.registry)
    except InvalidRegistry as exc:
        raise HelperError(str(exc)) from None
    record = state.record(registry.key)
    if record is not None:
        session = state.session(record)
        if session is not None:
            try:
                httpx.delete(
                    f"{record.server}/device/session",
                    headers={"authorization": f"Bearer {session}"},
                    timeout=TIMEOUT,
                )
            except httpx.HTTPError:
                stdout.write(
                    f"regauth at {record.server} is unreachable; forgetting the session here.\n"
                )
        state.remove(registry.key)
    if not options.no_client_config:
        for path in (options.docker_config or docker_config_file(),
                     options.authfile or containers_auth_file()):  # fmt: skip
            try:
                set_helper(path, registry.key, enabled=False)
            except ClientFileError as exc:
                raise HelperError(str(exc)) from None
    stdout.write(f"Signed out of {registry.key}.\n")


def _parser() -> argparse.ArgumentParser:
    from pathlib import Path

    parser = argparse.ArgumentParser(
        prog="docker-credential-regauth",
        description="Registry credentials from a regauth sign-in, without stored passwords.",
    )
    commands = parser.add_subparsers(dest="command", required=True)
    for name in ("get", "store", "erase", "list", "version"):
        commands.add_parser(name)
    for name in ("login", "logout"):
        command = commands.add_parser(name)
        command.add_argument("registry", help="the registry's address, e.g. registry.example.com")
        command.add_argument("--docker-config", type=Path, default=None,
                             help="docker's config.json to add the helper to")  # fmt: skip
        command.add_argument("--authfile", type=Path, default=None,
                             help="the containers auth.json (podman, skopeo, buildah)")  # fmt: skip
        command.add_argument("--no-client-config", action="store_true",
                             help="do not touch the clients' files")  # fmt: skip
        if name == "login":
            command.add_argument("--no-browser", action="store_true",
                                 help="only print the address and code")  # fmt: skip
    return parser


def main(argv: list[str] | None = None) -> int:
    options = _parser().parse_args(argv)
    state = HelperState()
    try:
        if options.command == "get":
            get(state, sys.stdin, sys.stdout)
        elif options.command == "store":
            store(sys.stdin)
        elif options.command == "erase":
            erase(state, sys.stdin)
        elif options.command == "list":
            list_registries(state, sys.stdout)
        elif options.command == "version":
            from importlib.metadata import version

            sys.stdout.write(f"docker-credential-regauth {version('regauth')}\n")
        elif options.command == "login":
            login(state, options, sys.stdout)
        else:
            logout(state, options, sys.stdout)
    except HelperError as exc:
        sys.stderr.write(f"{exc}\n")
        return 1
    except KeyboardInterrupt:
        sys.stderr.write("interrupted\n")
        return 130
    return 0
