"""Typed configuration: YAML validated by pydantic, with environment overrides and secret files.

    base       the base :class:`Model` (unknown keys are errors, ``*_file`` / ``*_env`` secrets),
               :class:`ConfigError`, and value parsers (durations, host:port, IP patterns)
    server     ``server:`` and ``token:``
    stores     ``users:``, ``database:``, ``grants:``, ``refresh_tokens:``, ``audit:``
    directory  ``ldap:``
    sso        ``oidc:`` (single sign-on providers)
    operation  ``log:``, ``metrics:``, ``credential_cache:``
    limits     ``brute_force:`` (the guessing limits)
    registry   ``registry:`` (the registry's addresses, notification secret) and ``events:``
    console    ``console:`` (the web console and its sessions) and ``devices:`` (device sign-in)
    robots     ``robots:`` (federated robots: audience, issuers' keys)
    acl        ``acl:`` rules: match conditions, placeholders, capture groups
    root       :class:`Config`, the whole document
    known_keys docker_auth's and Keycloak's key names, so an unknown key's error names regauth's
    loading    :func:`load_config` / :func:`parse_config`: YAML, ``REGAUTH_<SECTION>__<KEY>``
               environment overrides, relative paths, error lines naming the key

The configuration is loaded once and passed in as a value; nothing reads it from a global.
"""

from regauth.config.acl import AclRule, MatchConditions, acl_warnings, check_pattern
from regauth.config.base import (
    ConfigError,
    Duration,
    IpNetwork,
    Model,
    SecretStr,
    parse_host_port,
    parse_ip_pattern,
)
from regauth.config.console import ConsoleConfig, DevicesConfig
from regauth.config.directory import LdapConfig
from regauth.config.limits import AccountLockoutConfig, BruteForceConfig, DelayConfig
from regauth.config.loading import ENV_NESTING, ENV_PREFIX, load_config, parse_config
from regauth.config.operation import CredentialCacheConfig, LogConfig, MetricsConfig
from regauth.config.registry import EventsConfig, RegistryConfig
from regauth.config.robots import RobotsConfig
from regauth.config.root import Config
from regauth.config.server import PROXY_HEADERS, ServerConfig, TokenConfig
from regauth.config.sso import OidcConfig, OidcProviderConfig
from regauth.config.stores import (
    PASSWORD_HASH_PREFIXES,
    AuditConfig,
    DatabaseConfig,
    GrantsConfig,
    RefreshTokensConfig,
    StaticUser,
)

__all__ = [
    "ENV_NESTING",
    "ENV_PREFIX",
    "PASSWORD_HASH_PREFIXES",
    "PROXY_HEADERS",
    "AccountLockoutConfig",
    "AclRule",
    "AuditConfig",
    "BruteForceConfig",
    "Config",
    "ConfigError",
    "ConsoleConfig",
    "CredentialCacheConfig",
    "DatabaseConfig",
    "DelayConfig",
    "DevicesConfig",
    "Duration",
    "EventsConfig",
    "GrantsConfig",
    "IpNetwork",
    "LdapConfig",
    "LogConfig",
    "MatchConditions",
    "MetricsConfig",
    "Model",
    "OidcConfig",
    "OidcProviderConfig",
    "RefreshTokensConfig",
    "RegistryConfig",
    "RobotsConfig",
    "SecretStr",
    "ServerConfig",
    "StaticUser",
    "TokenConfig",
    "acl_warnings",
    "check_pattern",
    "load_config",
    "parse_config",
    "parse_host_port",
    "parse_ip_pattern",
]
