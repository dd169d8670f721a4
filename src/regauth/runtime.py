"""Assemble the running pieces from a validated configuration and the data folder.

Both front ends (``regauth serve`` and the offline commands such as ``policy explain``) build
their objects here, so the server and the CLI decide with the very same code.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from types import MappingProxyType

from regauth.authn.base import Authenticator
from regauth.authn.cache import CredentialCache
from regauth.authn.chain import AuthenticatorChain
from regauth.authn.htpasswd import HtpasswdAuthenticator, HtpasswdError
from regauth.authn.passwords import DEFAULT_BCRYPT_COST, bcrypt_cost, make_dummy_hash
from regauth.authn.static import StaticAccount, StaticUsersAuthenticator
from regauth.authz.acl import AclAuthorizer
from regauth.authz.chain import AuthorizerChain
from regauth.config import Config
from regauth.datadir import DataDir, DataDirError
from regauth.keys import KeyError_, SigningKey, load_signing_key
from regauth.service import TokenService

__all__ = ["Runtime", "StartupError", "build_authorizers", "build_runtime", "load_keys"]


class StartupError(Exception):
    """A problem found while assembling the server; the message names the config key."""


@dataclass(frozen=True)
class Runtime:
    config: Config
    data_dir: DataDir
    signing_key: SigningKey
    service: TokenService
    acl: AclAuthorizer


def _check_readable(path: Path | None, key: str) -> None:
    if path is not None and not path.is_file():
        raise StartupError(f"{key}: file not found: {path}")


def load_keys(config: Config, data_dir: DataDir) -> SigningKey:
    try:
        key_path, cert_path = data_dir.signing_key_paths(config)
        return load_signing_key(
            key_path=key_path,
            cert_path=cert_path,
            algorithm=config.token.algorithm,
            kid_style=config.token.kid,
            x5c=config.token.x5c,
        )
    except KeyError_ as exc:
        raise StartupError(str(exc)) from None
    except DataDirError as exc:
        raise StartupError(str(exc)) from None


def build_authenticators(config: Config) -> AuthenticatorChain:
    cache = CredentialCache(
        ttl=config.credential_cache.ttl, max_entries=config.credential_cache.max_entries
    )
    authenticators: list[Authenticator] = []
    hashes: list[str] = []
    accounts = {
        name: StaticAccount(
            user.password,
            MappingProxyType({k: tuple(v) for k, v in user.labels.items()}),
        )
        for name, user in config.users.items()
        if name and user.password is not None
    }
    if accounts:
        static = StaticUsersAuthenticator(accounts)
        authenticators.append(static)
        hashes += static.password_hashes
    if config.htpasswd is not None:
        try:
            htpasswd = HtpasswdAuthenticator(config.htpasswd, on_change=cache.invalidate_users)
        except HtpasswdError as exc:
            raise StartupError(f"htpasswd: {exc}") from None
        authenticators.append(htpasswd)
        hashes += htpasswd.password_hashes
    costs = [c for c in (bcrypt_cost(h) for h in hashes) if c is not None]
    dummy = make_dummy_hash(max(costs) if costs else DEFAULT_BCRYPT_COST)
    return AuthenticatorChain(authenticators, dummy, cache)


def build_authorizers(config: Config) -> tuple[AuthorizerChain, AclAuthorizer]:
    acl = AclAuthorizer.from_config(config.acl)
    return AuthorizerChain([acl]), acl


def build_runtime(config: Config, data_dir: DataDir) -> Runtime:
    _check_readable(config.server.certificate, "server.certificate")
    _check_readable(config.server.key, "server.key")
    signing_key = load_keys(config, data_dir)
    authorizers, acl = build_authorizers(config)
    service = TokenService(
        authenticators=build_authenticators(config),
        authorizers=authorizers,
        signer=signing_key.signer,
        issuer=config.token.issuer,
        services=config.token.service,
        expires_in=config.token.expiration,
    )
    return Runtime(
        config=config, data_dir=data_dir, signing_key=signing_key, service=service, acl=acl
    )


def check_runtime(config: Config, data_dir: DataDir) -> list[str]:
    """Everything ``build_runtime`` checks, without creating keys; a summary for humans."""
    from regauth.keys import GENERATED_KEY

    _check_readable(config.server.certificate, "server.certificate")
    _check_readable(config.server.key, "server.key")
    summary = [
        f"listen: {config.server.listen}" + (" (TLS)" if config.server.tls else ""),
        f"realm: {config.server.realm()}",
        f"issuer: {config.token.issuer}; service: {', '.join(config.token.service)}",
    ]
    if config.token.key is not None:
        if config.token.certificate is not None:
            try:
                load_signing_key(
                    key_path=config.token.key,
                    cert_path=config.token.certificate,
                    algorithm=config.token.algorithm,
                    kid_style=config.token.kid,
                    x5c=config.token.x5c,
                )
            except KeyError_ as exc:
                raise StartupError(str(exc)) from None
        else:
            _check_readable(config.token.key, "token.key")
        summary.append(f"signing key: {config.token.key} ({config.token.algorithm})")
    else:
        state = "present" if (data_dir.path / GENERATED_KEY).exists() else "created on first start"
        summary.append(f"signing key: generated in {data_dir.path} ({state})")
    chain = build_authenticators(config)
    summary.append("authenticators: " + (", ".join(a.name for a in chain.authenticators) or "none"))
    summary.append(f"static users: {len([u for u in config.users if u])}")
    summary.append(f"acl rules: {len(config.acl)}")
    return summary
