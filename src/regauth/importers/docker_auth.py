"""A cesanta/docker_auth configuration, converted into a regauth configuration.

:func:`convert_docker_auth` maps every section docker_auth documents (``server``, ``token``,
``users``, ``acl``, ``ldap_auth``, ``oidc_auth``, ``github_auth``, ``gitlab_auth``,
``google_auth``) onto regauth's keys, and lists every setting with no equivalent as a
:class:`Note` that says what to do instead. The result is checked by regauth's own
configuration parser (:func:`regauth.config.parse_config`) before anyone writes it, so a
converted file always loads. The identity providers are in
:mod:`regauth.importers.docker_auth_providers`.
"""

from __future__ import annotations

import copy
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from regauth.accounts import ImportedAccount
from regauth.config import ConfigError, acl_warnings, parse_config
from regauth.importers.docker_auth_providers import convert_ldap, convert_providers
from regauth.importers.notes import Note, Notes

__all__ = [
    "Conversion",
    "Note",
    "UnreadableFile",
    "convert_docker_auth",
    "read_docker_auth",
    "render_config",
    "users_of",
]

#: docker_auth sections regauth has no equivalent for, and what to do instead
UNSUPPORTED: dict[str, str] = {
    "mongo_auth": "users in MongoDB: export them (name, bcrypt hash, labels) as a docker_auth "
    "users: section or an htpasswd file and run `regauth user import`",
    "xorm_auth": "users in an SQL database: export them (name, bcrypt hash, labels) as a "
    "docker_auth users: section or an htpasswd file and run `regauth user import`",
    "ext_auth": "an external program cannot be called; import the users it knows "
    "(`regauth user import`), or use ldap: or oidc: if it asked a directory",
    "plugin_authn": "Go plugins cannot be loaded; import the users, or use ldap: or oidc:",
    "acl_mongo": "ACL rules in MongoDB: export them into acl: (the match syntax is the same)",
    "acl_xorm": "ACL rules in an SQL database: export them into acl: (the same match syntax)",
    "ext_authz": "an external program cannot be called; write its decisions as acl: rules or "
    "role grants (`regauth grant add`)",
    "plugin_authz": "Go plugins cannot be loaded; write the decisions as acl: rules or role "
    "grants (`regauth grant add`)",
    "casbin_authz": "translate the Casbin policy into acl: rules (same order: first match "
    "wins) or role grants (`regauth grant add`)",
}
KNOWN = {"server", "token", "users", "acl", "ldap_auth", "oidc_auth", "github_auth"}
KNOWN |= {"gitlab_auth", "google_auth"}


class UnreadableFile(ValueError):
    """The file is not a docker_auth configuration (the message says why, in one line)."""


@dataclass
class Conversion:
    """A regauth configuration (as YAML data), the users, and what did not carry over."""

    config: dict[str, Any]
    notes: list[Note] = field(default_factory=list)
    #: the static users, when they go to the database instead of the file
    database_users: list[ImportedAccount] = field(default_factory=list)


def read_docker_auth(text: str) -> dict[str, Any]:
    try:
        document = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}" if mark else ""
        raise UnreadableFile(f"not valid YAML{where}") from None
    if not isinstance(document, dict):
        raise UnreadableFile("not a docker_auth configuration (expected a mapping of sections)")
    return document


def _labels(name: str, spec: dict[str, Any]) -> dict[str, list[str]]:
    raw = spec.get("labels") or {}
    if not isinstance(raw, dict):
        raise UnreadableFile(f"users.{name}.labels: expected a mapping of label to values")
    labels: dict[str, list[str]] = {}
    for key, values in raw.items():
        items = values if isinstance(values, list) else [values]
        if not all(isinstance(v, str | int | float) for v in items):
            raise UnreadableFile(f"users.{name}.labels.{key}: expected text values")
        labels[str(key)] = [str(v) for v in items]
    return labels


def users_of(document: dict[str, Any]) -> list[ImportedAccount]:
    """The ``users:`` section's accounts with their bcrypt hashes and labels (not ``""``)."""
    users = document.get("users")
    if users is None:
        return []
    if not isinstance(users, dict):
        raise UnreadableFile("users: expected a mapping of user name to settings")
    accounts = []
    for name, spec in users.items():
        if name == "":
            continue  # docker_auth's anonymous entry
        settings = spec if isinstance(spec, dict) else {}
        password = settings.get("password")
        if not isinstance(password, str):
            raise UnreadableFile(f"users.{name}: no password hash")
        accounts.append(ImportedAccount(str(name), password, _labels(str(name), settings)))
    return accounts


def _server(section: dict[str, Any], notes: Notes) -> tuple[dict[str, Any], dict[str, Any]]:
    """regauth's server: and the token: keys docker_auth takes from its server certificate."""
    server: dict[str, Any] = {}
    if "addr" in section:
        server["listen"] = str(section["addr"])
    if section.get("net", "tcp") != "tcp":
        notes.add(
            "server.net",
            "regauth listens on TCP only (server.listen); put a proxy on "
            "the Unix socket if you need one",
        )
    if section.get("path_prefix"):
        server["path_prefix"] = str(section["path_prefix"])
    for key in ("certificate", "key"):
        if section.get(key):
            server[key] = str(section[key])
    if section.get("letsencrypt"):
        notes.add(
            "server.letsencrypt",
            "regauth has no ACME client: give server.certificate "
            "and server.key (certbot, or a TLS proxy such as Caddy or Traefik in front)",
        )
    if section.get("real_ip_header"):
        header = str(section["real_ip_header"]).lower()
        notes.add(
            "server.real_ip_header",
            f"set server.proxy_headers: [{header}] together "
            "with server.trusted_proxies (the addresses of your proxies); regauth "
            "believes the header only from them",
        )
    if "real_ip_pos" in section:
        notes.add(
            "server.real_ip_pos",
            "regauth takes the last address not in "
            "server.trusted_proxies; list the proxies there instead of a position",
        )
    for key in ("hsts", "tls_min_version", "tls_curve_preferences", "tls_cipher_suites"):
        if key in section:
            notes.add(
                f"server.{key}",
                "regauth uses Python's TLS defaults (TLS 1.2 or later); "
                "a proxy in front can enforce more",
            )
    notes.unknown(
        "server",
        section,
        {
            "addr",
            "net",
            "path_prefix",
            "certificate",
            "key",
            "letsencrypt",
            "real_ip_header",
            "real_ip_pos",
            "hsts",
            "tls_min_version",
            "tls_curve_preferences",
            "tls_cipher_suites",
        },
    )
    token_from_server: dict[str, Any] = {
        k: server[k] for k in ("certificate", "key") if k in server
    }
    return server, token_from_server


def _token(
    section: dict[str, Any], from_server: dict[str, Any], services: Sequence[str], notes: Notes
) -> dict[str, Any]:
    token: dict[str, Any] = {}
    if section.get("issuer"):
        token["issuer"] = str(section["issuer"])
    expiration = section.get("expiration")
    if isinstance(expiration, int):
        token["expiration"] = min(max(expiration, 60), 86400)
        if token["expiration"] != expiration:
            notes.add(
                "token.expiration",
                f"{expiration}s is outside regauth's 60 to 86400; set to {token['expiration']}",
            )
    # docker_auth signs with the server's key when the token section names none
    key = section.get("key") or from_server.get("key")
    certificate = section.get("certificate") or from_server.get("certificate")
    if key:
        token["key"] = str(key)
        if certificate:
            token["certificate"] = str(certificate)
    if section.get("disable_legacy_key_id"):
        token["kid"] = "thumbprint"
    if services:
        token["service"] = list(services)
    else:
        notes.add(
            "token.service",
            "docker_auth accepted any service name; regauth signs "
            "for the names in token.service (default: registry). Set it to the "
            "registry's auth.token.service, or run the import with --service NAME",
        )
    notes.unknown(
        "token", section, {"issuer", "expiration", "certificate", "key", "disable_legacy_key_id"}
    )
    return token


def _static_users(
    section: Any, users_to_database: bool
) -> tuple[dict[str, Any], list[ImportedAccount]]:
    accounts = users_of({"users": section})
    users: dict[str, Any] = {}
    if isinstance(section, dict) and "" in section:
        users[""] = {}
    if users_to_database:
        return users, accounts
    for account in accounts:
        entry: dict[str, Any] = {"password": account.password_hash}
        if account.labels:
            entry["labels"] = {k: list(v) for k, v in account.labels.items()}
        users[account.username] = entry
    return users, []


def _acl(section: Any) -> list[Any]:
    if not isinstance(section, list):
        raise UnreadableFile("acl: expected a list of rules")
    return copy.deepcopy(section)


def convert_docker_auth(
    document: dict[str, Any],
    *,
    services: Sequence[str] = (),
    users_to_database: bool = False,
    base_dir: Path | None = None,
) -> Conversion:
    """The regauth configuration for a docker_auth one, checked by regauth's parser.

    Raises :class:`UnreadableFile` for a file that is not docker_auth's, and
    :class:`regauth.config.ConfigError` when the result would not load (naming regauth's key).
    """
    notes = Notes()
    config: dict[str, Any] = {}
    server_section = _section(document, "server")
    server, token_from_server = _server(server_section, notes)
    if server:
        config["server"] = server
    config["token"] = _token(_section(document, "token"), token_from_server, services, notes)
    database_users: list[ImportedAccount] = []
    if "users" in document:
        users, database_users = _static_users(document["users"], users_to_database)
        if users:
            config["users"] = users
    if "acl" in document:
        config["acl"] = _acl(document["acl"])
    elif not any(k in document for k in ("acl_mongo", "acl_xorm", "ext_authz", "casbin_authz")):
        notes.add(
            "acl",
            "no acl: section; regauth then allows what role grants allow "
            "(`regauth grant add`) and each user's own namespace",
        )
    if "ldap_auth" in document:
        ldap = convert_ldap(_section(document, "ldap_auth"), notes)
        if ldap is not None:
            config["ldap"] = ldap
    providers = convert_providers(document, notes)
    if providers:
        config["oidc"] = {"providers": providers}
    for key, advice in UNSUPPORTED.items():
        if key in document:
            notes.add(key, f"no equivalent: {advice}")
    for key in document:
        if key not in KNOWN and key not in UNSUPPORTED:
            notes.add(str(key), "not a docker_auth setting regauth knows; left out")
    parsed = check_converted(config, base_dir)
    for warning in acl_warnings(parsed.acl):
        notes.add("acl", warning)
    if database_users:
        notes.add(
            "users",
            f"{len(database_users)} user(s) go to regauth's database with "
            "their bcrypt hashes and labels (replaced by argon2id at each first login)",
        )
    return Conversion(config, notes.items, database_users)


def _section(document: dict[str, Any], name: str) -> dict[str, Any]:
    section = document.get(name)
    if section is None:
        return {}
    if not isinstance(section, dict):
        raise UnreadableFile(f"{name}: expected a mapping")
    return section


def _without_missing_files(node: Any, base_dir: Path | None) -> Any:
    """A copy where ``x_file`` settings naming files absent here become placeholders, so the
    check does not depend on this machine holding the secrets the server will hold."""
    if isinstance(node, list):
        return [_without_missing_files(item, base_dir) for item in node]
    if not isinstance(node, dict):
        return node
    result: dict[str, Any] = {}
    for key, value in node.items():
        if isinstance(key, str) and key.endswith("_file") and isinstance(value, str):
            path = Path(value) if base_dir is None else base_dir / value
            if not path.is_file():
                result[key.removesuffix("_file")] = "placeholder"
                continue
        result[key] = _without_missing_files(value, base_dir)
    return result


def check_converted(config: dict[str, Any], base_dir: Path | None) -> Any:
    """Parse the converted configuration as ``regauth serve`` would (raises ConfigError)."""
    try:
        return parse_config(_without_missing_files(config, base_dir), environ={})
    except ConfigError as exc:
        raise ConfigError(
            [f"the converted configuration does not load: {p}" for p in exc.problems]
        ) from None


def render_config(conversion: Conversion, source: str) -> str:
    """The configuration as YAML, headed by what did not carry over."""
    lines = [f"# regauth configuration converted from docker_auth's {source}"]
    lines.append("# by `regauth import docker-auth`.")
    if conversion.notes:
        lines.append('# Not carried over (see the README, "Moving from docker_auth"):')
        lines += [f"#   {note.key}: {note.what}" for note in conversion.notes]
    body = yaml.safe_dump(conversion.config, sort_keys=False, allow_unicode=True, width=100)
    # PyYAML writes the anonymous account's "" key in the long form; this reads the same
    body = re.sub(r"^(\s*)\? ''\n\s*: ", r"\1'': ", body, flags=re.MULTILINE)
    return "\n".join(lines) + "\n\n" + body
