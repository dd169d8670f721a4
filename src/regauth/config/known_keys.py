"""Keys regauth does not have but whose meaning is known: docker_auth's and Keycloak's names.

A configuration moved by hand from docker_auth (or written with Keycloak's words in mind) fails
on keys such as ``server.addr``; the error then names regauth's key
(``server.addr: unknown key; regauth calls it server.listen``) instead of leaving the reader to
search. ``regauth import docker-auth`` converts a whole docker_auth file.
"""

from __future__ import annotations

__all__ = ["FOREIGN_KEYS", "hint_for"]

_CONVERT = "convert the file with `regauth import docker-auth`"
_NONE = "regauth has no equivalent; `regauth import docker-auth` says what to do instead"

#: a key's location (as the error line names it) -> what regauth calls it, or what to do
FOREIGN_KEYS: dict[str, str] = {
    # docker_auth: server
    "server.addr": "regauth calls it server.listen",
    "server.net": "regauth listens on TCP only: server.listen",
    "server.real_ip_header": (
        "regauth calls it server.proxy_headers (believed only from server.trusted_proxies)"
    ),
    "server.real_ip_pos": "regauth calls it server.trusted_proxies (the proxies to skip)",
    "server.letsencrypt": "regauth takes server.certificate and server.key (no ACME client)",
    "server.hsts": "regauth has no HSTS option; a proxy in front can add the header",
    "server.tls_min_version": "regauth uses TLS 1.2 or later: give server.certificate/key",
    "server.tls_cipher_suites": "regauth uses Python's TLS defaults",
    "server.tls_curve_preferences": "regauth uses Python's TLS defaults",
    # docker_auth: token
    "token.disable_legacy_key_id": "regauth calls it token.kid (thumbprint)",
    "token.rootcertbundle": "the registry's key; regauth's is token.certificate",
    "token.realm": "the registry's key; regauth's realm is server.public_url + /auth",
    # docker_auth: authenticators and authorizers
    "ldap_auth": f"regauth calls it ldap ({_CONVERT})",
    "ldap.addr": "regauth calls it ldap.url (ldap://HOST:PORT or ldaps://HOST:PORT)",
    "ldap.tls": "regauth says ldaps:// in ldap.url, or ldap.start_tls",
    "ldap.base": "regauth calls it ldap.base_dn",
    "ldap.filter": "regauth calls it ldap.user_filter ({username}, not ${account})",
    "ldap.ca_certificate": "regauth calls it ldap.ca_file",
    "ldap.labels": "regauth calls it ldap.label_attributes ({label: attribute})",
    "ldap.insecure_tls_skip_verify": "regauth always verifies: give ldap.ca_file",
    "oidc_auth": f"regauth calls it oidc.providers ({_CONVERT})",
    "github_auth": f"regauth calls it oidc.providers with type: github ({_CONVERT})",
    "gitlab_auth": f"regauth calls it oidc.providers with type: gitlab ({_CONVERT})",
    "google_auth": f"regauth calls it oidc.providers with type: google ({_CONVERT})",
    "mongo_auth": _NONE,
    "xorm_auth": _NONE,
    "ext_auth": _NONE,
    "plugin_authn": _NONE,
    "acl_mongo": _NONE,
    "acl_xorm": _NONE,
    "ext_authz": _NONE,
    "plugin_authz": _NONE,
    "casbin_authz": _NONE,
    # Keycloak's words
    "realm": "regauth has no realms: the registry's realm URL is server.public_url + /auth",
    "clients": "regauth calls the registry's client token.service",
    "accessTokenLifespan": "regauth calls it token.expiration (seconds)",
    "access_token_lifespan": "regauth calls it token.expiration (seconds)",
    "token.lifespan": "regauth calls it token.expiration (seconds)",
    "token.audience": "regauth calls it token.service",
}


def hint_for(location: str) -> str | None:
    """What regauth calls the unknown key at ``location`` (as an error line names it)."""
    return FOREIGN_KEYS.get(location)
