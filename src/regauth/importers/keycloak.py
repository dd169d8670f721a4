"""A Keycloak realm export (``kc.sh export``, or the admin console's partial export) as users.

Each user keeps their password: Keycloak's PBKDF2 hashes (``pbkdf2``, ``pbkdf2-sha256``,
``pbkdf2-sha512``; ``secretData`` holds ``value`` and ``salt``, ``credentialData`` holds
``hashIterations`` and ``algorithm``) become PHC strings that regauth verifies at the next
login and then replaces by argon2id; argon2id hashes (Keycloak 24 and later) are kept as they
are. Enabled state, email and group paths (``/org/team`` -> ``org/team``) carry over, and the
realm roles, Keycloak's way of granting docker access, become groups of the same name.
"""

from __future__ import annotations

import base64
import binascii
import json
from dataclasses import dataclass, field
from typing import Any

from regauth.accounts import ImportedAccount
from regauth.credentials.passwords import encode_pbkdf2, is_supported_hash
from regauth.importers.docker_auth import UnreadableFile
from regauth.importers.notes import Note, Notes

__all__ = ["RealmImport", "read_realm_export"]

_PBKDF2 = {"pbkdf2": "sha1", "pbkdf2-sha1": "sha1", "pbkdf2-sha256": "sha256"}
_PBKDF2["pbkdf2-sha512"] = "sha512"
#: realm roles every Keycloak user has; they say nothing about docker access
_BUILT_IN_ROLES = {"offline_access", "uma_authorization"}


@dataclass
class RealmImport:
    realm: str
    accounts: list[ImportedAccount] = field(default_factory=list)
    notes: list[Note] = field(default_factory=list)
    #: clients with the docker-v2 protocol: the registry's service names
    docker_clients: list[str] = field(default_factory=list)


def _json_field(value: Any, where: str) -> dict[str, Any]:
    """``secretData``/``credentialData``: JSON text in an export (an object is taken too)."""
    if isinstance(value, dict):
        return value
    if isinstance(value, str):
        try:
            parsed = json.loads(value)
        except ValueError:
            raise UnreadableFile(f"{where}: not JSON") from None
        if isinstance(parsed, dict):
            return parsed
    raise UnreadableFile(f"{where}: expected a JSON object")


def _b64(text: Any, where: str) -> bytes:
    try:
        return base64.b64decode(str(text), validate=True)
    except (binascii.Error, ValueError):
        raise UnreadableFile(f"{where}: not base64") from None


def _first(value: Any) -> str:
    """Keycloak's additionalParameters hold lists of strings."""
    return str(value[0]) if isinstance(value, list) and value else str(value)


def _argon2(secret: dict[str, Any], data: dict[str, Any], where: str) -> str | None:
    params = data.get("additionalParameters") or {}
    if _first(params.get("type", "id")) != "id":
        return None
    version = {"1.3": 19, "1.0": 16}.get(_first(params.get("version", "1.3")))
    memory, parallelism = _first(params.get("memory", "")), _first(params.get("parallelism", ""))
    if version is None or not memory.isdigit() or not parallelism.isdigit():
        return None

    def b64(raw: bytes) -> str:
        return base64.b64encode(raw).decode().rstrip("=")

    salt = b64(_b64(secret.get("salt"), f"{where}.salt"))
    value = b64(_b64(secret.get("value"), f"{where}.value"))
    iterations = int(data.get("hashIterations") or 0)
    encoded = f"$argon2id$v={version}$m={memory},t={iterations},p={parallelism}${salt}${value}"
    return encoded if is_supported_hash(encoded) else None


def _password_hash(credential: dict[str, Any], where: str) -> str | None:
    """regauth's form of one password credential; None when regauth cannot verify it."""
    if "secretData" in credential:
        secret = _json_field(credential["secretData"], f"{where}.secretData")
        data = _json_field(credential.get("credentialData", "{}"), f"{where}.credentialData")
    else:  # exports before Keycloak 7 spelled the fields out
        secret = {"value": credential.get("hashedSaltedValue"), "salt": credential.get("salt")}
        data = {k: credential.get(k) for k in ("hashIterations", "algorithm")}
    algorithm = str(data.get("algorithm") or "")
    if algorithm == "argon2":
        return _argon2(secret, data, where)
    digest = _PBKDF2.get(algorithm)
    if digest is None:
        return None
    iterations = data.get("hashIterations")
    if not isinstance(iterations, int) or iterations < 1:
        raise UnreadableFile(f"{where}.credentialData.hashIterations: expected a number")
    salt = _b64(secret.get("salt"), f"{where}.secretData.salt")
    derived = _b64(secret.get("value"), f"{where}.secretData.value")
    try:
        return encode_pbkdf2(digest, iterations, salt, derived)
    except ValueError:
        return None


def _groups(user: dict[str, Any], realm: str) -> tuple[str, ...]:
    paths = [str(g).strip("/") for g in user.get("groups") or [] if str(g).strip("/")]
    roles = [
        str(r)
        for r in user.get("realmRoles") or []
        if r not in _BUILT_IN_ROLES and r != f"default-roles-{realm}"
    ]
    return tuple(dict.fromkeys(paths + roles))


def _user(user: dict[str, Any], index: int, realm: str, notes: Notes) -> ImportedAccount | None:
    name = str(user.get("username") or "")
    where = f"users[{index}]"
    if not name:
        raise UnreadableFile(f"{where}: no username")
    if user.get("serviceAccountClientId"):
        notes.add(
            f"users.{name}",
            "a client's service account; make a robot account instead (`regauth robot add`)",
        )
        return None
    passwords = [c for c in user.get("credentials") or [] if c.get("type") == "password"]
    others = sorted({str(c.get("type")) for c in user.get("credentials") or []} - {"password"})
    if others:
        notes.add(
            f"users.{name}",
            f"credentials {', '.join(others)} not carried over "
            "(regauth logins take a password or a token)",
        )
    encoded = _password_hash(passwords[0], f"{where}.credentials[0]") if passwords else None
    if passwords and encoded is None:
        notes.add(
            f"users.{name}",
            "a password hash regauth cannot verify; imported without a "
            "password: set one with `regauth user passwd`",
        )
    elif not passwords:
        source = "a federated directory" if user.get("federationLink") else "no password"
        notes.add(
            f"users.{name}",
            f"{source}: imported without a password (use ldap:, or set "
            "one with `regauth user passwd`)",
        )
    return ImportedAccount(
        username=name,
        password_hash=encoded,
        email=str(user["email"]) if user.get("email") else None,
        enabled=bool(user.get("enabled", True)),
        groups=_groups(user, realm),
    )


def read_realm_export(text: str) -> RealmImport:
    """The users of a realm export, or :class:`UnreadableFile` naming the problem."""
    try:
        document = json.loads(text)
    except ValueError as exc:
        raise UnreadableFile(f"not valid JSON ({exc.args[0] if exc.args else exc})") from None
    if not isinstance(document, dict) or not isinstance(document.get("users", []), list):
        raise UnreadableFile("not a Keycloak realm export (expected an object with users)")
    realm = str(document.get("realm") or "")
    notes = Notes()
    accounts = []
    for index, user in enumerate(document.get("users") or []):
        if not isinstance(user, dict):
            raise UnreadableFile(f"users[{index}]: expected an object")
        account = _user(user, index, realm, notes)
        if account is not None:
            accounts.append(account)
    if not accounts:
        raise UnreadableFile("the export holds no users (export with --users realm_file)")
    clients = [
        str(c.get("clientId"))
        for c in document.get("clients") or []
        if isinstance(c, dict) and c.get("protocol") == "docker-v2" and c.get("clientId")
    ]
    return RealmImport(realm, accounts, notes.items, clients)
