"""Assemble the running pieces from a validated configuration and the data folder.

Both front ends (``regauth serve`` and the offline commands such as ``policy explain``) build
their objects here, so the server and the CLI decide with the very same code.
"""

from __future__ import annotations

import asyncio
import datetime
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import TYPE_CHECKING

import structlog

from regauth.accounts import AccountService
from regauth.accounts.signing_keys import KEYS_CHANGE, SigningKeys
from regauth.authn.base import Authenticator
from regauth.authn.cache import CredentialCache
from regauth.authn.chain import AuthenticatorChain
from regauth.authn.database import DatabaseAuthenticator
from regauth.authn.federated import FederatedRobotAuthenticator
from regauth.authn.guessing import (
    LOCKOUT_CHANGE,
    AccountLockout,
    DelayPolicy,
    GuessingLimiter,
    GuessingLimits,
)
from regauth.authn.htpasswd import HtpasswdAuthenticator, HtpasswdError
from regauth.authn.refresh import RefreshSettings, RefreshTokens
from regauth.authn.static import StaticAccount, StaticUsersAuthenticator
from regauth.authz.acl import AclAuthorizer
from regauth.authz.chain import AuthorizerChain
from regauth.authz.grants import GrantAuthorizer, GrantSnapshot, load_snapshot
from regauth.clock import Clock, utcnow
from regauth.config import BruteForceConfig, Config, DelayConfig, acl_warnings
from regauth.config.reloading import restart_only_changes, with_restart_only_from
from regauth.credentials.passwords import DEFAULT_BCRYPT_COST, bcrypt_cost, make_dummy_hash
from regauth.datadir import DataDir, DataDirError
from regauth.keyring import KeySetupError, LiveKeys, key_warnings, open_key_ring
from regauth.keys import (
    KeyError_,
    KeyRing,
    SigningKey,
    read_material,
)
from regauth.oidc.login_state import SECRET_NAME as LOGIN_SECRET_NAME
from regauth.protocol.jws import JwsSigner
from regauth.service import TokenService
from regauth.store.background import BackgroundWriter
from regauth.store.database import Database, SchemaError
from regauth.store.server_secrets import server_secret
from regauth.sync import Change, ChangeWatcher

__all__ = [
    "Runtime",
    "StartupError",
    "build_authorizers",
    "build_runtime",
    "check_identity_providers",
    "check_runtime",
    "load_key_ring",
    "open_database",
]

if TYPE_CHECKING:
    from regauth.oidc.discovery import DiscoveryCheck

log = structlog.get_logger("regauth.runtime")


class StartupError(Exception):
    """A problem found while assembling the server; the message names the config key."""


@dataclass
class Runtime:
    config: Config
    data_dir: DataDir
    #: the keys this process signs with and publishes, following the managed keys
    keys: LiveKeys
    #: the shared random secret the login cookie's key is derived from
    login_secret: bytes
    service: TokenService
    acl: AclAuthorizer
    database: Database
    accounts: AccountService
    grants: GrantAuthorizer
    authenticators: AuthenticatorChain
    writer: BackgroundWriter
    watcher: ChangeWatcher
    _started: bool = field(default=False, repr=False)

    async def apply_changes(self, changes: list[Change]) -> None:
        """Another process changed accounts: drop cached credentials, reload grants."""
        users = {s for c in changes for s in c.subjects if c.kind in ("user", "group", "robot")}
        if users:
            self.authenticators.cache.invalidate_users(users)
        locked = [s for c in changes if c.kind == LOCKOUT_CHANGE for s in c.subjects]
        if locked:  # a locked account's cached logins stop working everywhere
            self.authenticators.cache.invalidate_accounts(locked)
        if any(c.kind in ("user", "group", "grant", "robot") for c in changes):
            snapshot = await self.database.run(load_snapshot, self.database)
            self.grants.replace(snapshot)
        if any(c.kind == KEYS_CHANGE for c in changes):
            await self.reload_keys()

    @property
    def key_ring(self) -> KeyRing:
        """What this process signs with and publishes now."""
        return self.keys.ring

    @property
    def signing_keys(self) -> SigningKeys | None:
        """The managed keys in the database; None with a configured key (``token.key``)."""
        return self.keys.store

    @property
    def signing_key(self) -> SigningKey:
        """The key signing now."""
        return self.keys.ring.active

    async def reload_keys(self) -> None:
        """The managed keys changed: sign with the active one from the next token on, publish
        the new set at ``/.well-known/jwks.json`` and in the data folder's trust files."""
        await self.keys.reload()

    def prepare(self, config: Config) -> Prepared:
        """Build what a new configuration decides about token requests (users, htpasswd, ACL
        rules, directory and identity providers, lifetimes, limits), without using it yet;
        blocking work (a dummy hash, files), so callers run it off the event loop. Raises
        StartupError when the configuration cannot be built; nothing changes then."""
        if config.htpasswd is not None:
            _check_readable(config.htpasswd, "htpasswd")
        needs_restart = restart_only_changes(self.config, config)
        config = with_restart_only_from(self.config, config)
        pipeline = build_pipeline(
            config,
            self.database,
            self.writer,
            self.watcher,
            self.key_ring.active.signer,
            self.grants.snapshot,
        )
        return Prepared(config, pipeline, needs_restart)

    def apply(self, prepared: Prepared) -> None:
        """Answer with a prepared configuration from the next request on (on the event loop);
        requests still running on the old backends finish, then their connections close."""
        retired = self.authenticators
        pipeline = prepared.pipeline
        # grants reloaded while the new pipeline was being built
        pipeline.grants.replace(self.grants.snapshot)
        # and the key that signs now (a rotation may have happened meanwhile)
        pipeline.service.set_signer(self.key_ring.active.signer)
        self.config = prepared.config
        self.service, self.acl = pipeline.service, pipeline.acl
        self.grants, self.authenticators = pipeline.grants, pipeline.authenticators
        loop = asyncio.get_running_loop()
        loop.call_later(RETIRE_AFTER, lambda: loop.create_task(_close_all(retired)))

    async def start(self) -> None:
        if not self._started:
            self.writer.start()
            self.watcher.start()
            self._started = True

    async def stop(self) -> None:
        await self.keys.close()
        if self._started:
            await self.watcher.stop()
            self.writer.close()
            self._started = False
        await _close_all(self.authenticators)
        self.database.dispose()


#: seconds the backends of a replaced configuration stay open for requests still using them
RETIRE_AFTER = 60.0


async def _close_all(chain: AuthenticatorChain) -> None:
    for authenticator in chain.authenticators:
        close = getattr(authenticator, "close", None)
        if close is not None:
            await close()


def _check_readable(path: Path | None, key: str) -> None:
    if path is not None and not path.is_file():
        raise StartupError(f"{key}: file not found: {path}")


def load_key_ring(
    config: Config, data_dir: DataDir, database: Database, *, clock: Clock = utcnow
) -> tuple[KeyRing, SigningKeys | None]:
    """The keys to sign with and publish: the configured key, or the managed keys (the first
    one imported from the data folder or made when the database holds none)."""
    try:
        return open_key_ring(config, data_dir, database, clock)
    except KeySetupError as exc:
        raise StartupError(str(exc)) from None


def database_url(config: Config, data_dir: DataDir) -> str:
    if config.database.url is not None:
        return config.database.url.reveal()
    return f"sqlite:///{data_dir.path / 'regauth.db'}"


def open_database(
    config: Config, data_dir: DataDir, *, upgrade: bool = False, create: bool = False
) -> Database:
    """Open the database with a current schema; only ``serve`` may create the data folder."""
    try:
        if config.database.url is None:
            data_dir.ensure() if create else data_dir.require()
        database = Database(database_url(config, data_dir), pool_size=config.database.pool_size)
        database.ensure_schema(upgrade=upgrade or config.database.auto_upgrade)
    except (DataDirError, SchemaError) as exc:
        raise StartupError(str(exc)) from None
    return database


def build_authenticators(
    config: Config,
    database: Database | None = None,
    writer: BackgroundWriter | None = None,
) -> AuthenticatorChain:
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
    if database is not None:
        touch = writer.touch if writer is not None else None
        authenticators.append(FederatedRobotAuthenticator.from_config(config, database, touch))
        authenticators.append(DatabaseAuthenticator(database, touch=touch))
        account_service = AccountService(database)
        # IdP tokens before the directory: a failed LDAP bind must not refuse an IdP token
        token_providers = [p for p in config.oidc.providers if p.accept_access_tokens]
        if token_providers:
            from regauth.authn.idp_token import IdpTokenAuthenticator
            from regauth.oidc.presets import ProviderConfigError

            try:
                authenticators.append(
                    IdpTokenAuthenticator.from_config(token_providers, accounts=account_service)
                )
            except ProviderConfigError as exc:
                raise StartupError(str(exc)) from None
        if config.ldap is not None:
            from regauth.authn.ldap import LdapAuthenticator, LdapConfigError

            try:
                authenticators.append(
                    LdapAuthenticator.from_config(config.ldap, accounts=account_service)
                )
            except LdapConfigError as exc:
                raise StartupError(str(exc)) from None
    costs = [c for c in (bcrypt_cost(h) for h in hashes) if c is not None]
    dummy = make_dummy_hash(max(costs) if costs else DEFAULT_BCRYPT_COST)
    limiter = None
    if database is not None and config.brute_force.enabled:
        limiter = GuessingLimiter(database, guessing_limits(config.brute_force))
    return AuthenticatorChain(
        authenticators,
        dummy,
        cache,
        limiter=limiter,
        max_pending=config.server.max_pending_password_checks,
    )


def guessing_limits(config: BruteForceConfig) -> GuessingLimits:
    def delays(section: DelayConfig) -> DelayPolicy:
        return DelayPolicy(
            section.free_failures,
            section.delay.total_seconds(),
            section.max_delay.total_seconds(),
        )

    return GuessingLimits(
        enabled=config.enabled,
        account_address=delays(config.account_address),
        address=delays(config.address),
        account=AccountLockout(
            config.account.lockout_after, config.account.lockout_duration.total_seconds()
        ),
        forget_after=config.forget_after.total_seconds(),
    )


def build_authorizers(
    config: Config, grants: GrantAuthorizer | None = None
) -> tuple[AuthorizerChain, AclAuthorizer]:
    acl = AclAuthorizer.from_config(config.acl)
    chain = AuthorizerChain([acl, grants] if grants is not None else [acl])
    return chain, acl


def grant_authorizer(config: Config, snapshot: GrantSnapshot) -> GrantAuthorizer:
    return GrantAuthorizer(
        snapshot,
        user_namespaces=config.grants.user_namespaces,
        anonymous_pull=config.grants.anonymous_pull,
    )


@dataclass(frozen=True)
class Prepared:
    """A configuration ready to be applied: its pipeline, and the keys only a restart can
    change that differ from the running configuration (their old values are kept)."""

    config: Config
    pipeline: Pipeline
    needs_restart: list[str]


@dataclass(frozen=True)
class Pipeline:
    """Everything a configuration decides about answering a token request: what a reload
    rebuilds (the database, the writer, the change watcher and the keys stay)."""

    service: TokenService
    acl: AclAuthorizer
    grants: GrantAuthorizer
    authenticators: AuthenticatorChain


def build_pipeline(
    config: Config,
    database: Database,
    writer: BackgroundWriter,
    watcher: ChangeWatcher,
    signer: JwsSigner,
    snapshot: GrantSnapshot,
) -> Pipeline:
    grants = grant_authorizer(config, snapshot)
    authorizers, acl = build_authorizers(config, grants)
    authenticators = build_authenticators(config, database, writer)
    authenticators.before_cache_lookup = watcher.catch_up
    refresh = None
    if config.refresh_tokens.enabled:
        refresh = RefreshTokens(
            database,
            RefreshSettings(
                idle_lifetime=config.refresh_tokens.idle_lifetime,
                absolute_lifetime=config.refresh_tokens.absolute_lifetime,
                bind_client=config.refresh_tokens.bind_client,
                max_per_user=config.refresh_tokens.max_per_user,
                default_service=config.token.service[0],
            ),
            touch=writer.touch,
        )
    service = TokenService(
        authenticators=authenticators,
        authorizers=authorizers,
        signer=signer,
        issuer=config.token.issuer,
        services=config.token.service,
        expires_in=config.token.expiration,
        refresh_tokens=refresh,
    )
    return Pipeline(service, acl, grants, authenticators)


def build_runtime(
    config: Config, data_dir: DataDir, *, upgrade: bool = False, clock: Clock = utcnow
) -> Runtime:
    """Everything a server process needs; ``clock`` is the time the key rotation reads."""
    _check_readable(config.server.certificate, "server.certificate")
    _check_readable(config.server.key, "server.key")
    database = open_database(config, data_dir, upgrade=upgrade, create=True)
    key_ring, signing_keys = load_key_ring(config, data_dir, database, clock=clock)
    keys = LiveKeys(key_ring, signing_keys, data_dir, clock=clock)
    writer = BackgroundWriter(
        database,
        interval=config.audit.flush_interval,
        retention=datetime.timedelta(days=config.audit.retention_days),
        audit_enabled=config.audit.enabled,
        forget_failures_after=config.brute_force.forget_after,
    )
    watcher_holder: list[Runtime] = []

    async def on_changes(changes: list[Change]) -> None:
        await watcher_holder[0].apply_changes(changes)

    watcher = ChangeWatcher(database, on_changes, interval=config.database.sync_interval)
    watcher.prime()
    pipeline = build_pipeline(
        config, database, writer, watcher, key_ring.active.signer, load_snapshot(database)
    )
    runtime = Runtime(
        config=config,
        data_dir=data_dir,
        keys=keys,
        login_secret=server_secret(database, LOGIN_SECRET_NAME),
        service=pipeline.service,
        acl=pipeline.acl,
        database=database,
        accounts=AccountService(database),
        grants=pipeline.grants,
        authenticators=pipeline.authenticators,
        writer=writer,
        watcher=watcher,
    )
    # the service of the moment: a reload replaces it
    keys.on_change = lambda ring: runtime.service.set_signer(ring.active.signer)
    watcher_holder.append(runtime)
    return runtime


def check_runtime(config: Config, data_dir: DataDir) -> list[str]:
    """Everything ``build_runtime`` checks, without creating keys; a summary for humans."""
    _check_readable(config.server.certificate, "server.certificate")
    _check_readable(config.server.key, "server.key")
    summary = [
        f"listen: {config.server.listen}" + (" (TLS)" if config.server.tls else ""),
        f"realm: {config.server.realm()}",
        f"issuer: {config.token.issuer}; service: {', '.join(config.token.service)}",
    ]
    key = None
    if config.token.key is not None:
        try:  # without token.certificate, a self-signed one in memory: nothing is written
            key = read_material(
                config.token.key, config.token.certificate, algorithm=config.token.algorithm
            ).private_key
        except KeyError_ as exc:
            raise StartupError(str(exc)) from None
        summary.append(f"signing key: {config.token.key} ({config.token.algorithm})")
    else:
        summary.append(
            "signing keys: managed in the database (`regauth keys list`; the first start makes one)"
        )
    summary += [f"warning: {warning}" for warning in key_warnings(config, key)]
    chain = build_authenticators(config)
    names = [a.name for a in chain.authenticators] + ["database"]
    if any(p.accept_access_tokens for p in config.oidc.providers):
        names.append("idp_token")
    if config.ldap is not None:
        from regauth.authn.ldap import LdapConfigError, LdapDirectory

        try:
            LdapDirectory(config.ldap).close()
        except LdapConfigError as exc:
            raise StartupError(str(exc)) from None
        names.append("ldap")
    summary.append("authenticators: " + ", ".join(names))
    summary.append(f"static users: {len([u for u in config.users if u])}")
    summary.append(f"acl rules: {len(config.acl)}")
    summary.extend(f"warning: {problem}" for problem in acl_warnings(config.acl))
    from regauth.store.database import describe_url

    summary.append(f"database: {describe_url(database_url(config, data_dir))}")
    from regauth.oidc.startup import describe

    for check in check_identity_providers(config):
        if check.problem is None:
            summary.append(describe(check))
        else:
            summary.append(f"warning: {describe(check)} (logins through it fail until it answers)")
    return summary


def check_identity_providers(config: Config) -> list[DiscoveryCheck]:
    """Fetch the OpenID providers' discovery documents: a provider that answers wrongly is a
    :class:`StartupError`; one that does not answer is returned with its problem (it may only
    be down now)."""
    from regauth.oidc.startup import check_providers, describe

    checks = check_providers(config)
    for check in checks:
        if check.problem is not None and check.reachable:
            raise StartupError(describe(check))
    return checks
