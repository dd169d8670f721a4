"""docker_auth's ``ldap_auth``, ``oidc_auth``, ``github_auth``, ``gitlab_auth`` and
``google_auth`` sections as regauth's ``ldap:`` and ``oidc.providers``.

docker_auth hands out a throw-away password after a browser login through GitHub, GitLab,
Google or an OpenID provider; regauth's login page (``/login/NAME``) hands out a personal access
token the same way, so those users log in once more and go on as before.
"""

from __future__ import annotations

import re
from typing import Any

from regauth.importers.notes import Notes

__all__ = ["convert_ldap", "convert_providers"]

_TOKEN_STORES = ("token_db", "level_token_db", "gcs_token_db", "redis_token_db")
_STORE_ADVICE = (
    "regauth keeps the tokens its login page hands out in its own database; users sign in "
    "once at /login/{name} for a new one"
)
_COMMON = {
    "client_id",
    "client_secret",
    "client_secret_file",
    "http_timeout",
    "registry_url",
    "redirect_url",
    "revalidate_after",
    *_TOKEN_STORES,
}


def convert_ldap(section: dict[str, Any], notes: Notes) -> dict[str, Any] | None:
    """regauth's ``ldap:`` for docker_auth's ``ldap_auth``, or None when it cannot work."""
    addr = str(section.get("addr") or "")
    if not addr:
        notes.add("ldap_auth.addr", "missing; ldap: left out")
        return None
    tls = str(section.get("tls") or "none").lower()
    ldap: dict[str, Any] = {"url": f"{'ldaps' if tls == 'always' else 'ldap'}://{addr}"}
    if tls == "starttls":
        ldap["start_tls"] = True
    if section.get("insecure_tls_skip_verify"):
        notes.add(
            "ldap_auth.insecure_tls_skip_verify",
            "regauth always verifies the directory's certificate: give its CA as ldap.ca_file",
        )
    if section.get("ca_certificate"):
        ldap["ca_file"] = str(section["ca_certificate"])
    if section.get("base"):
        ldap["base_dn"] = str(section["base"])
    if section.get("filter"):
        # docker_auth's ${account} is regauth's {username} (LDAP-escaped in both)
        ldap["user_filter"] = re.sub(r"\$\{account\}", "{username}", str(section["filter"]))
    if section.get("bind_dn"):
        ldap["bind_dn"] = str(section["bind_dn"])
        if section.get("bind_password_file"):
            ldap["bind_password_file"] = str(section["bind_password_file"])
    labels = section.get("labels") or {}
    if isinstance(labels, dict) and labels:
        ldap["label_attributes"] = {}
        for label, spec in labels.items():
            attribute = spec.get("attribute") if isinstance(spec, dict) else None
            if not attribute:
                notes.add(f"ldap_auth.labels.{label}", "no attribute; left out")
                continue
            ldap["label_attributes"][str(label)] = str(attribute)
            if isinstance(spec, dict) and (spec.get("parse_cn") or spec.get("lower_case")):
                notes.add(
                    f"ldap_auth.labels.{label}",
                    "regauth copies the attribute as it is; "
                    "group DNs become their names in ${labels:groups} (ldap.group_attribute)",
                )
    notes.unknown(
        "ldap_auth",
        section,
        {
            "addr",
            "tls",
            "insecure_tls_skip_verify",
            "ca_certificate",
            "base",
            "filter",
            "bind_dn",
            "bind_password_file",
            "labels",
        },
    )
    if "bind_dn" not in ldap:
        notes.add(
            "ldap_auth.bind_dn",
            "regauth does not search anonymously: give ldap.bind_dn "
            "and ldap.bind_password_file (a read-only service account), or "
            "ldap.user_dn_template to bind as the user; ldap: left out until then",
        )
        return None
    if "base_dn" not in ldap:
        notes.add("ldap_auth.base", "missing; regauth needs ldap.base_dn to search; ldap: left out")
        return None
    return ldap


def _timeout(value: Any) -> float | None:
    text = str(value).strip()
    match = re.fullmatch(r"(\d+(?:\.\d+)?)(ms|s|m)?", text)
    if match is None:
        return None
    seconds = float(match.group(1)) * {"ms": 0.001, "s": 1, "m": 60, None: 1}[match.group(2)]
    return min(max(seconds, 0.5), 60.0)


def _provider(
    name: str, kind: str, section: dict[str, Any], notes: Notes, known: set[str]
) -> dict[str, Any]:
    where = f"{name}_auth" if kind != "oidc" else "oidc_auth"
    provider: dict[str, Any] = {"name": name, "type": kind}
    provider["client_id"] = str(section.get("client_id") or "")
    if section.get("client_secret_file"):
        provider["client_secret_file"] = str(section["client_secret_file"])
    else:
        provider["client_secret"] = str(section.get("client_secret") or "")
    if "http_timeout" in section:
        timeout = _timeout(section["http_timeout"])
        if timeout is not None:
            provider["timeout"] = timeout
    for store in _TOKEN_STORES:
        if store in section:
            notes.add(f"{where}.{store}", _STORE_ADVICE.format(name=name))
    if "redirect_url" in section:
        notes.add(
            f"{where}.redirect_url",
            f"register SERVER/login/{name}/callback with the "
            "provider (SERVER: server.public_url and path_prefix)",
        )
    if "revalidate_after" in section:
        notes.add(
            f"{where}.revalidate_after",
            "regauth checks the provider at each login page "
            "visit; the token it hands out lasts token_lifetime (default 30d)",
        )
    notes.unknown(where, section, _COMMON | known)
    return provider


def convert_providers(document: dict[str, Any], notes: Notes) -> list[dict[str, Any]]:
    """``oidc.providers`` entries for the sections docker_auth's browser logins use."""
    providers = []
    section = document.get("oidc_auth")
    if isinstance(section, dict):
        provider = _provider(
            "oidc", "oidc", section, notes, {"issuer", "scopes", "user_claim", "label_claims"}
        )
        provider["issuer"] = str(section.get("issuer") or "")
        if section.get("scopes"):
            provider["scopes"] = [str(s) for s in section["scopes"]]
        if section.get("user_claim"):
            provider["username_claim"] = str(section["user_claim"])
        claims = section.get("label_claims") or []
        if claims:
            provider["groups_claim"] = str(claims[0])
            notes.add(
                "oidc_auth.label_claims",
                f"regauth reads {claims[0]!r} as the user's "
                "groups (${labels:groups}); other claims are not copied",
            )
        providers.append(provider)
    section = document.get("github_auth")
    if isinstance(section, dict):
        provider = _provider(
            "github", "github", section, notes, {"organization", "github_web_uri", "github_api_uri"}
        )
        if section.get("organization"):
            provider["github_organization"] = str(section["organization"])
        if section.get("github_web_uri"):
            provider["issuer"] = str(section["github_web_uri"]).rstrip("/")
        if section.get("github_api_uri"):
            notes.add(
                "github_auth.github_api_uri",
                "regauth derives the API address from "
                "the web address (issuer): WEB/api/v3 for GitHub Enterprise Server",
            )
        providers.append(provider)
    section = document.get("gitlab_auth")
    if isinstance(section, dict):
        provider = _provider(
            "gitlab", "gitlab", section, notes, {"gitlab_web_uri", "gitlab_api_uri", "group"}
        )
        if section.get("gitlab_web_uri"):
            provider["issuer"] = str(section["gitlab_web_uri"]).rstrip("/")
        if section.get("gitlab_api_uri"):
            notes.add(
                "gitlab_auth.gitlab_api_uri",
                "regauth uses GitLab's OpenID Connect "
                "at the web address (issuer); the API address is not needed",
            )
        if section.get("group"):
            provider["allowed_groups"] = [str(section["group"])]
        providers.append(provider)
    section = document.get("google_auth")
    if isinstance(section, dict):
        provider = _provider("google", "google", section, notes, {"domain"})
        if section.get("domain"):
            provider["allowed_email_domains"] = [str(section["domain"])]
        else:
            notes.add(
                "google_auth.domain",
                "no domain: anyone with a Google account may log in; set allowed_email_domains",
            )
        providers.append(provider)
    return providers
