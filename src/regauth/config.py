"""Typed configuration: YAML validated by pydantic, with environment overrides and secret files.

Loading order: the YAML file (or nothing), then ``REGAUTH_<SECTION>__<KEY>=value`` environment
overrides, then ``<field>_file`` / ``<field>_env`` indirections for secret fields, then
validation. Every problem becomes a :class:`ConfigError` whose lines name the offending key,
for example ``acl[3].match.name: invalid regular expression: ...``.

Relative paths in the file are resolved against the directory of the file.
"""

from __future__ import annotations

import datetime
import ipaddress
import os
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Annotated, Any, ClassVar, Literal

import yaml
from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)

from regauth.authz.patterns import PatternError, validate_pattern
from regauth.protocol.secret import Secret

__all__ = [
    "AclRule",
    "Config",
    "ConfigError",
    "MatchConditions",
    "ServerConfig",
    "StaticUser",
    "TokenConfig",
    "load_config",
    "parse_config",
]

ENV_PREFIX = "REGAUTH_"
ENV_NESTING = "__"
_PLACEHOLDER = re.compile(r"\$\{([a-z]+)(?::([^}]*))?\}")
_ACTION = re.compile(r"[a-z]+|\*")


class ConfigError(Exception):
    """Invalid configuration; each line of the message names one key."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("\n".join(problems))
        self.problems = problems


def _as_secret(value: Any) -> Any:
    if isinstance(value, Secret) or value is None:
        return value
    if isinstance(value, str):
        return Secret(value)
    raise ValueError("must be a string")


SecretStr = Annotated[Secret, BeforeValidator(_as_secret)]


class Model(BaseModel):
    """Base of every section: unknown keys are errors; secret fields take *_file / *_env."""

    model_config = ConfigDict(
        extra="forbid", frozen=True, arbitrary_types_allowed=True, validate_default=True
    )
    #: names of fields that may instead be given as ``<name>_file`` or ``<name>_env``
    secret_fields: ClassVar[tuple[str, ...]] = ()

    @model_validator(mode="before")
    @classmethod
    def _resolve_secret_indirections(cls, data: Any, info: ValidationInfo) -> Any:
        if not isinstance(data, dict) or not cls.secret_fields:
            return data
        data = dict(data)
        for name in cls.secret_fields:
            given = [k for k in (name, f"{name}_file", f"{name}_env") if k in data]
            if len(given) > 1:
                raise ValueError(f"give only one of {', '.join(given)}")
            if f"{name}_file" in data:
                path = Path(str(data.pop(f"{name}_file")))
                try:
                    data[name] = path.read_text(encoding="utf-8").rstrip("\r\n")
                except OSError as exc:
                    raise ValueError(
                        f"{name}_file: cannot read {path}: {exc.strerror or exc}"
                    ) from None
            elif f"{name}_env" in data:
                variable = str(data.pop(f"{name}_env"))
                environ = (info.context or {}).get("environ", os.environ)
                if variable not in environ:
                    raise ValueError(f"{name}_env: environment variable {variable} is not set")
                data[name] = environ[variable]
        return data


def _parse_host_port(value: str) -> tuple[str, int]:
    host, sep, port_text = value.rpartition(":")
    if not sep or not port_text.isdigit():
        raise ValueError(f"expected host:port, got {value!r}")
    port = int(port_text)
    if not 0 < port < 65536:
        raise ValueError(f"port out of range in {value!r}")
    host = host.strip("[]") or "0.0.0.0"  # noqa: S104 - ":5001" means all interfaces
    return host, port


IpNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network


def parse_ip_pattern(value: str) -> IpNetwork:
    """An address or a CIDR, as docker_auth's ``ip`` match accepts."""
    try:
        if "/" in value:
            return ipaddress.ip_network(value, strict=False)
        return ipaddress.ip_network(ipaddress.ip_address(value))
    except ValueError:
        raise ValueError(f"not an IP address or CIDR: {value!r}") from None


PROXY_HEADERS = ("x-forwarded-for", "x-real-ip", "forwarded")


class ServerConfig(Model):
    listen: str = "127.0.0.1:5001"
    #: the URL clients use to reach regauth; the realm is public_url + path_prefix + /auth
    public_url: str | None = None
    path_prefix: str = ""
    certificate: Path | None = None
    key: Path | None = None
    #: headers that carry the client address, honoured only from trusted_proxies
    proxy_headers: list[str] = Field(default_factory=list)
    trusted_proxies: list[str] = Field(default_factory=list)

    @field_validator("listen")
    @classmethod
    def _check_listen(cls, value: str) -> str:
        _parse_host_port(value)
        return value

    @field_validator("public_url")
    @classmethod
    def _check_public_url(cls, value: str | None) -> str | None:
        if value is None:
            return None
        if not re.fullmatch(r"https?://[^/\s?#]+(/[^\s?#]*)?", value):
            raise ValueError(f"expected an http(s) URL without query, got {value!r}")
        return value.rstrip("/")

    @field_validator("path_prefix")
    @classmethod
    def _check_prefix(cls, value: str) -> str:
        value = value.strip()
        if value in ("", "/"):
            return ""
        if not re.fullmatch(r"(/[A-Za-z0-9._~-]+)+/?", value):
            raise ValueError(f"expected a path like /regauth, got {value!r}")
        return value.rstrip("/")

    @field_validator("proxy_headers")
    @classmethod
    def _check_proxy_headers(cls, value: list[str]) -> list[str]:
        lowered = [v.lower() for v in value]
        for header in lowered:
            if header not in PROXY_HEADERS:
                raise ValueError(
                    f"unsupported proxy header {header!r}: use one of {', '.join(PROXY_HEADERS)}"
                )
        return lowered

    @field_validator("trusted_proxies")
    @classmethod
    def _check_trusted_proxies(cls, value: list[str]) -> list[str]:
        for item in value:
            parse_ip_pattern(item)
        return value

    @model_validator(mode="after")
    def _check_pairs(self) -> ServerConfig:
        if (self.certificate is None) != (self.key is None):
            raise ValueError("certificate and key must be given together")
        if self.proxy_headers and not self.trusted_proxies:
            raise ValueError(
                "proxy_headers needs trusted_proxies: the addresses of the proxies whose "
                "headers to believe"
            )
        return self

    @property
    def host_port(self) -> tuple[str, int]:
        return _parse_host_port(self.listen)

    @property
    def tls(self) -> bool:
        return self.certificate is not None

    def base_url(self) -> str:
        """Where clients reach regauth, prefix included."""
        if self.public_url:
            return self.public_url + self.path_prefix
        host, port = self.host_port
        if host in ("0.0.0.0", "::"):  # noqa: S104
            host = "127.0.0.1"
        if ":" in host:
            host = f"[{host}]"
        scheme = "https" if self.tls else "http"
        return f"{scheme}://{host}:{port}{self.path_prefix}"

    def realm(self) -> str:
        return self.base_url() + "/auth"


class TokenConfig(Model):
    issuer: str = "regauth"
    #: the audience; the first is the default when a request names none
    service: list[str] = Field(default_factory=lambda: ["registry"])
    expiration: int = Field(default=300, ge=60, le=86400)
    key: Path | None = None
    certificate: Path | None = None
    algorithm: Literal["ES256", "RS256"] = "ES256"
    kid: Literal["libtrust", "thumbprint"] = "libtrust"
    x5c: bool = True

    @field_validator("service", mode="before")
    @classmethod
    def _listify(cls, value: Any) -> Any:
        return [value] if isinstance(value, str) else value

    @field_validator("service")
    @classmethod
    def _check_services(cls, value: list[str]) -> list[str]:
        if not value:
            raise ValueError("at least one service is needed")
        for item in value:
            if not item or any(ord(c) < 0x20 for c in item):
                raise ValueError(f"invalid service name {item!r}")
        return value

    @field_validator("issuer")
    @classmethod
    def _check_issuer(cls, value: str) -> str:
        if not value:
            raise ValueError("must not be empty")
        return value

    @model_validator(mode="after")
    def _check_pairs(self) -> TokenConfig:
        if self.certificate is not None and self.key is None:
            raise ValueError("certificate needs the matching key")
        return self


PASSWORD_HASH_PREFIXES = ("$2a$", "$2b$", "$2y$", "$argon2id$")


class StaticUser(Model):
    secret_fields = ("password",)

    #: a bcrypt hash (as docker_auth and htpasswd -B write them) or an argon2id hash
    password: SecretStr | None = None
    labels: dict[str, list[str]] = Field(default_factory=dict)

    @field_validator("labels", mode="before")
    @classmethod
    def _listify_labels(cls, value: Any) -> Any:
        if isinstance(value, dict):
            return {k: [v] if isinstance(v, str) else v for k, v in value.items()}
        return value

    @field_validator("password")
    @classmethod
    def _check_hash(cls, value: Secret | None) -> Secret | None:
        if value is not None and not value.reveal().startswith(PASSWORD_HASH_PREFIXES):
            raise ValueError(
                "must be a bcrypt hash ($2y$...) or an argon2id hash; "
                "make one with `regauth hash-password`"
            )
        return value


def _is_regex(pattern: str) -> bool:
    return len(pattern) > 2 and pattern[0] == "/" and pattern[-1] == "/"


def check_pattern(pattern: str) -> None:
    """Validate a match pattern (glob or /regex/), placeholders included."""
    try:
        validate_pattern(pattern)
    except PatternError as exc:
        raise ValueError(str(exc)) from None


class MatchConditions(Model):
    account: str | None = None
    type: str | None = None
    name: str | None = None
    service: str | None = None
    ip: str | None = None
    labels: dict[str, str] = Field(default_factory=dict)

    @field_validator("account", "type", "name", "service")
    @classmethod
    def _check_patterns(cls, value: str | None) -> str | None:
        if value is not None:
            check_pattern(value)
        return value

    @field_validator("labels")
    @classmethod
    def _check_label_patterns(cls, value: dict[str, str]) -> dict[str, str]:
        for key, pattern in value.items():
            try:
                check_pattern(pattern)
            except ValueError as exc:
                raise ValueError(f"label {key!r}: {exc}") from None
        return value

    @field_validator("ip")
    @classmethod
    def _check_ip(cls, value: str | None) -> str | None:
        if value is not None:
            parse_ip_pattern(value)
        return value

    @model_validator(mode="after")
    def _check_capture_groups(self) -> MatchConditions:
        """``${account:1}`` needs ``account`` to be a /regex/ with at least one group."""
        fields = {
            "account": self.account,
            "type": self.type,
            "name": self.name,
            "service": self.service,
        }
        texts = [v for v in fields.values() if v] + list(self.labels.values())
        for text in texts:
            for match in _PLACEHOLDER.finditer(text):
                kind, argument = match.group(1), match.group(2)
                if kind == "labels":
                    if not argument:
                        raise ValueError(f"{match.group(0)}: name the label, as ${{labels:group}}")
                    continue
                if kind not in fields:
                    raise ValueError(
                        f"unknown placeholder {match.group(0)}: use ${{account}}, ${{name}}, "
                        "${service}, ${type}, ${labels:KEY} or a capture group like ${account:1}"
                    )
                if argument is None:
                    continue
                if not argument.isdigit() or int(argument) < 1:
                    raise ValueError(f"{match.group(0)}: capture group must be a number >= 1")
                source = fields[kind]
                if source is None or not _is_regex(source) or _PLACEHOLDER.search(source):
                    raise ValueError(
                        f"{match.group(0)} needs match.{kind} to be a /regex/ without placeholders"
                    )
                groups = re.compile(source[1:-1]).groups
                if int(argument) > groups:
                    raise ValueError(
                        f"{match.group(0)}: match.{kind} has only {groups} capture group(s)"
                    )
        return self


class AclRule(Model):
    match: MatchConditions
    actions: list[str]
    comment: str | None = None

    @field_validator("actions")
    @classmethod
    def _check_actions(cls, value: list[str]) -> list[str]:
        for action in value:
            if not _ACTION.fullmatch(action):
                raise ValueError(f"invalid action {action!r}: use pull, push, delete or *")
        return value


def _duration(value: Any) -> Any:
    if isinstance(value, datetime.timedelta):
        return value
    if isinstance(value, bool):
        raise ValueError("expected a duration such as 14d, 12h or a number of seconds")
    if isinstance(value, int | float):
        return datetime.timedelta(seconds=value)
    if isinstance(value, str):
        match = re.fullmatch(r"\s*(\d+)\s*([smhdw]?)\s*", value.lower())
        if match:
            unit = {"": 1, "s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}[match.group(2)]
            return datetime.timedelta(seconds=int(match.group(1)) * unit)
    raise ValueError("expected a duration such as 14d, 12h or a number of seconds")


Duration = Annotated[datetime.timedelta, BeforeValidator(_duration)]


class DatabaseConfig(Model):
    secret_fields = ("url",)

    #: sqlite:///path/regauth.db (default: regauth.db in the data folder) or
    #: postgresql://user:password@host/dbname for several instances
    url: SecretStr | None = None
    pool_size: int = Field(default=5, ge=1, le=100)
    #: how often each process looks for changes made by others (seconds)
    sync_interval: float = Field(default=0.5, ge=0.05, le=30)
    #: apply pending migrations at start-up instead of refusing to run
    auto_upgrade: bool = False

    @field_validator("url")
    @classmethod
    def _check_url(cls, value: Secret | None) -> Secret | None:
        if value is not None and not re.match(
            r"(sqlite|postgres|postgresql)(\+\w+)?://", value.reveal()
        ):
            raise ValueError("expected sqlite:///PATH or postgresql://USER:PASSWORD@HOST/DB")
        return value


class GrantsConfig(Model):
    #: every user owns <username>/* (all actions)
    user_namespaces: bool = True
    #: patterns marked public (regauth grant add --public PATTERN) may be pulled anonymously
    anonymous_pull: bool = True


class RefreshTokensConfig(Model):
    enabled: bool = True
    idle_lifetime: Duration = datetime.timedelta(days=14)
    absolute_lifetime: Duration = datetime.timedelta(days=90)
    #: refuse a refresh token presented with another client_id than the one it was issued to
    bind_client: bool = False

    @model_validator(mode="after")
    def _check_lifetimes(self) -> RefreshTokensConfig:
        if self.idle_lifetime.total_seconds() < 60 or self.absolute_lifetime.total_seconds() < 60:
            raise ValueError("lifetimes must be at least a minute")
        return self


class AuditConfig(Model):
    enabled: bool = True
    retention_days: int = Field(default=90, ge=1, le=3650)
    #: under load, seconds at least between batched writes (an idle server writes at once)
    flush_interval: float = Field(default=0.25, ge=0.01, le=60)


class LdapConfig(Model):
    """An LDAP or Active Directory server in the authenticator chain (after the database)."""

    secret_fields = ("bind_password",)

    #: ldap://host:389 or ldaps://host:636; several for failover, tried in order
    url: list[str]
    start_tls: bool = False
    #: CA certificates (PEM) to verify the server with; the system's when absent
    ca_file: Path | None = None
    #: service account for search-then-bind; without it, bind as the user via user_dn_template
    bind_dn: str | None = None
    bind_password: SecretStr | None = None
    base_dn: str | None = None
    #: search filter, {username} is replaced by the LDAP-escaped login name
    user_filter: str = "(&(objectClass=person)(uid={username}))"
    #: bind-as-user without a search: e.g. uid={username},ou=people,dc=example,dc=com
    user_dn_template: str | None = None
    username_attribute: str = "uid"
    email_attribute: str = "mail"
    #: memberof: read the user's memberOf; search: look for groups naming the user
    group_membership: Literal["memberof", "search", "none"] = "memberof"
    group_attribute: str = "memberOf"
    group_base_dn: str | None = None
    #: {dn} is the user's DN and {username} the login name, both escaped
    group_filter: str = "(&(objectClass=groupOfNames)(member={dn}))"
    group_name_attribute: str = "cn"
    #: user attributes copied into ACL labels: {label: attribute}
    label_attributes: dict[str, str] = Field(default_factory=dict)
    timeout: float = Field(default=5.0, gt=0, le=60)
    pool_size: int = Field(default=4, ge=1, le=64)

    @field_validator("url", mode="before")
    @classmethod
    def _listify_url(cls, value: Any) -> Any:
        return [value] if isinstance(value, str) else value

    @field_validator("url")
    @classmethod
    def _check_urls(cls, value: list[str]) -> list[str]:
        if not value:
            raise ValueError("at least one ldap:// or ldaps:// URL is needed")
        for url in value:
            if not re.fullmatch(r"ldaps?://[^/\s]+/?", url):
                raise ValueError(f"expected ldap://host[:port] or ldaps://host[:port], got {url!r}")
        return value

    @model_validator(mode="after")
    def _check_mode(self) -> LdapConfig:
        if self.bind_dn is None and self.user_dn_template is None:
            raise ValueError("give bind_dn (search, then bind) or user_dn_template (bind as user)")
        if self.bind_dn is not None and self.bind_password is None:
            raise ValueError("bind_dn needs bind_password (or bind_password_file/_env)")
        if self.bind_dn is not None and self.base_dn is None:
            raise ValueError("searching for users needs base_dn")
        if "{username}" not in self.user_filter:
            raise ValueError("user_filter must contain {username}")
        if self.user_dn_template is not None and "{username}" not in self.user_dn_template:
            raise ValueError("user_dn_template must contain {username}")
        if self.group_membership == "search" and not (self.group_base_dn or self.base_dn):
            raise ValueError("group_membership: search needs group_base_dn (or base_dn)")
        if any(u.startswith("ldaps://") for u in self.url) and self.start_tls:
            raise ValueError("start_tls is for ldap:// URLs; ldaps:// is already TLS")
        return self


class OidcProviderConfig(Model):
    """An OpenID provider for browser login and, optionally, its access tokens as passwords."""

    secret_fields = ("client_secret",)

    #: short name, used in URLs (/login/NAME) and as the users' source (oidc:NAME)
    name: str
    #: generic OpenID Connect, or a preset
    type: Literal["oidc", "github", "gitlab", "google"] = "oidc"
    #: the issuer; discovery at ISSUER/.well-known/openid-configuration (presets fill it in)
    issuer: str | None = None
    client_id: str
    client_secret: SecretStr
    scopes: list[str] | None = None
    username_claim: str = "preferred_username"
    groups_claim: str | None = "groups"
    #: only members of one of these groups may log in (empty: anyone the provider accepts)
    allowed_groups: list[str] = Field(default_factory=list)
    #: only users whose verified email address is in one of these domains may log in
    #: (e.g. [example.com]; essential for google, where anyone has an account)
    allowed_email_domains: list[str] = Field(default_factory=list)
    #: GitHub preset: require membership of this organisation (and one of these teams)
    github_organization: str | None = None
    github_teams: list[str] = Field(default_factory=list)
    #: lifetime of the personal access token the login page hands out
    token_lifetime: Duration = datetime.timedelta(days=30)
    #: accept this provider's access tokens as the docker password
    accept_access_tokens: bool = False
    #: the audience an access token must carry (JWT); default: client_id
    audience: str | None = None
    #: introspect opaque access tokens (RFC 7662) with client_id/client_secret
    introspection: bool = True
    timeout: float = Field(default=5.0, gt=0, le=60)

    @field_validator("name")
    @classmethod
    def _check_name(cls, value: str) -> str:
        if not re.fullmatch(r"[a-z0-9][a-z0-9_-]{0,31}", value):
            raise ValueError("1 to 32 lower-case letters, digits, '-' or '_'")
        return value

    @field_validator("issuer")
    @classmethod
    def _check_issuer(cls, value: str | None) -> str | None:
        if value is not None and not re.fullmatch(r"https?://[^\s?#]+", value):
            raise ValueError(f"expected an http(s) URL, got {value!r}")
        return value.rstrip("/") if value else value

    @model_validator(mode="after")
    def _check_issuer_needed(self) -> OidcProviderConfig:
        if self.type == "oidc" and self.issuer is None:
            raise ValueError("a generic OpenID provider needs issuer")
        for domain in self.allowed_email_domains:
            if not re.fullmatch(r"[A-Za-z0-9]([A-Za-z0-9.-]*[A-Za-z0-9])?", domain):
                raise ValueError(f"allowed_email_domains: {domain!r} is not a domain name")
        from regauth.oidc.presets import check_provider  # the checks that need no network

        problems = check_provider(self, key="")
        if problems:
            prefix = f"[{self.name}]."
            raise ValueError("; ".join(p.removeprefix(prefix) for p in problems))
        return self


class OidcConfig(Model):
    providers: list[OidcProviderConfig] = Field(default_factory=list)

    @field_validator("providers")
    @classmethod
    def _unique_names(cls, value: list[OidcProviderConfig]) -> list[OidcProviderConfig]:
        names = [p.name for p in value]
        duplicates = sorted({n for n in names if names.count(n) > 1})
        if duplicates:
            raise ValueError(f"provider names must be unique: {', '.join(duplicates)}")
        return value


class CredentialCacheConfig(Model):
    #: seconds a successful password check is remembered; 0 turns the cache off
    ttl: float = Field(default=60, ge=0, le=3600)
    max_entries: int = Field(default=10000, ge=0, le=10_000_000)


class MetricsConfig(Model):
    #: serve Prometheus metrics at GET /metrics (no account names or secrets in them)
    enabled: bool = True


class LogConfig(Model):
    level: Literal["debug", "info", "warning", "error"] = "info"
    #: one JSON object per line (default) or a human-readable console rendering
    format: Literal["json", "console"] = "json"


class Config(Model):
    server: ServerConfig = Field(default_factory=ServerConfig)
    token: TokenConfig = Field(default_factory=TokenConfig)
    #: static users in docker_auth's syntax; "" is the anonymous account
    users: dict[str, StaticUser] = Field(default_factory=dict)
    #: an Apache htpasswd file with bcrypt entries, re-read when it changes
    htpasswd: Path | None = None
    acl: list[AclRule] = Field(default_factory=list)
    credential_cache: CredentialCacheConfig = Field(default_factory=CredentialCacheConfig)
    database: DatabaseConfig = Field(default_factory=DatabaseConfig)
    grants: GrantsConfig = Field(default_factory=GrantsConfig)
    refresh_tokens: RefreshTokensConfig = Field(default_factory=RefreshTokensConfig)
    audit: AuditConfig = Field(default_factory=AuditConfig)
    ldap: LdapConfig | None = None
    oidc: OidcConfig = Field(default_factory=OidcConfig)
    log: LogConfig = Field(default_factory=LogConfig)
    metrics: MetricsConfig = Field(default_factory=MetricsConfig)

    @field_validator("users")
    @classmethod
    def _check_users(cls, value: dict[str, StaticUser]) -> dict[str, StaticUser]:
        for name, user in value.items():
            if name == "":
                if user.password is not None:
                    raise ValueError('the anonymous account "" cannot have a password')
            elif user.password is None:
                raise ValueError(
                    f"{name}.password: required (a user without a password would accept any "
                    "password in docker_auth; regauth refuses that)"
                )
        return value


# --------------------------------------------------------------------------- loading


def _format_location(location: tuple[int | str, ...]) -> str:
    text = ""
    for part in location:
        if isinstance(part, int):
            text += f"[{part}]"
        elif part in ("function-after", "function-before") or "[" in str(part):
            continue
        else:
            text += f".{part}" if text else str(part)
    return text or "(top level)"


def _describe(error: Mapping[str, Any]) -> str:
    kind = error.get("type")
    if kind == "extra_forbidden":
        return "unknown key"
    if kind == "missing":
        return "required key is missing"
    message = str(error.get("msg", "invalid value"))
    for prefix in ("Value error, ", "Assertion failed, "):
        if message.startswith(prefix):
            message = message[len(prefix) :]
    return message


def _errors_from_validation(exc: ValidationError) -> list[str]:
    problems = []
    for error in exc.errors(include_url=False, include_input=False):
        location = tuple(p for p in error["loc"])
        problems.append(f"{_format_location(location)}: {_describe(error)}")
    return problems


def _apply_environment(raw: dict[str, Any], environ: Mapping[str, str]) -> None:
    """``REGAUTH_TOKEN__ISSUER=x`` sets ``token.issuer``; lists and maps may be given in YAML."""
    for variable, value in sorted(environ.items()):
        if not variable.startswith(ENV_PREFIX) or ENV_NESTING not in variable:
            continue
        path = [p.lower() for p in variable[len(ENV_PREFIX) :].split(ENV_NESTING)]
        if not all(path):
            raise ConfigError([f"{variable}: empty key in environment override"])
        parsed: Any = value
        if value[:1] in ("[", "{"):
            try:
                parsed = yaml.safe_load(value)
            except yaml.YAMLError:
                raise ConfigError([f"{variable}: not valid YAML"]) from None
        node = raw
        for part in path[:-1]:
            child = node.setdefault(part, {})
            if not isinstance(child, dict):
                raise ConfigError([f"{variable}: {part} is not a section"])
            node = child
        node[path[-1]] = parsed


_PATH_KEYS = {
    ("ldap", "ca_file"),
    ("server", "certificate"),
    ("server", "key"),
    ("token", "certificate"),
    ("token", "key"),
    ("htpasswd",),
}


def _resolve_paths(raw: dict[str, Any], base: Path) -> None:
    for key_path in _PATH_KEYS:
        node: Any = raw
        for part in key_path[:-1]:
            node = node.get(part) if isinstance(node, dict) else None
        if isinstance(node, dict):
            value = node.get(key_path[-1])
            if isinstance(value, str) and value and not os.path.isabs(value):
                node[key_path[-1]] = str(base / value)


def parse_config(
    raw: Any, *, base_dir: Path | None = None, environ: Mapping[str, str] | None = None
) -> Config:
    """Validate an already-parsed YAML document (``None`` means all defaults)."""
    if raw is None:
        raw = {}
    if not isinstance(raw, dict):
        raise ConfigError(["(top level): the configuration must be a mapping of sections"])
    raw = dict(raw)
    environ = os.environ if environ is None else environ
    _apply_environment(raw, environ)
    if base_dir is not None:
        _resolve_paths(raw, base_dir)
    try:
        return Config.model_validate(raw, context={"environ": environ})
    except ValidationError as exc:
        raise ConfigError(_errors_from_validation(exc)) from None


class _UniqueKeyLoader(yaml.SafeLoader):
    """A YAML loader that rejects duplicate keys instead of silently keeping the last one."""


def _construct_mapping(loader: yaml.SafeLoader, node: yaml.MappingNode) -> dict[Any, Any]:
    seen: set[Any] = set()
    for key_node, _ in node.value:
        key = loader.construct_object(key_node)
        if key in seen:
            mark = key_node.start_mark
            raise yaml.constructor.ConstructorError(
                None, None, f"duplicate key {key!r} (line {mark.line + 1})", mark
            )
        seen.add(key)
    return loader.construct_mapping(node)


_UniqueKeyLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_mapping)


def load_config(path: Path | None, *, environ: Mapping[str, str] | None = None) -> Config:
    """Load and validate a configuration file; ``None`` gives the defaults (plus overrides)."""
    if path is None:
        return parse_config({}, environ=environ)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError([f"{path}: cannot read: {exc.strerror or exc}"]) from None
    except UnicodeDecodeError:
        raise ConfigError([f"{path}: not UTF-8 text"]) from None
    try:
        raw = yaml.load(text, Loader=_UniqueKeyLoader)  # noqa: S506 - a SafeLoader subclass
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"{path}:{mark.line + 1}:{mark.column + 1}" if mark else str(path)
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise ConfigError([f"{where}: YAML syntax error: {problem}"]) from None
    return parse_config(raw, base_dir=path.resolve().parent, environ=environ)
