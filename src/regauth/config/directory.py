"""The ``ldap:`` section: an LDAP or Active Directory server whose users may log in.

The directory is read, never written: regauth binds as the user (directly or after a search
with a service account) and reads the user's groups and label attributes. The authenticator
that uses these settings is :mod:`regauth.authn.ldap`.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any, Literal

from pydantic import Field, field_validator, model_validator

from regauth.config.base import Model, SecretStr

__all__ = ["LdapConfig"]


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
