"""The database side of a provider login: create or update the user and their groups.

Shared by the login pages and the access-token authenticator, so both apply the same rule:
a user name that already belongs to another sign-in source (another provider, LDAP) is not
taken over, even without a password. Two providers may well know two different people by the
same name; linking them is an administrator's decision, not a login's. A ``local`` user
without a password (made with ``regauth user add --no-password`` for single sign-on) is
taken over by the first provider that logs in with that name.
"""

from __future__ import annotations

from regauth.accounts import AccountService, Conflict, NotFound
from regauth.oidc.claims import ExternalIdentity
from regauth.oidc.presets import ProviderSettings

__all__ = ["provision_user"]


def provision_user(
    accounts: AccountService, settings: ProviderSettings, identity: ExternalIdentity
) -> tuple[int, bool, bool]:
    """Upsert the user and sync the provider's groups; (user id, enabled, is_admin).

    Raises :class:`Conflict` for a name of another source. Blocking: run it on the
    database's threads.
    """
    try:
        existing = accounts.get_user(identity.username)
    except NotFound:
        existing = None
    if existing is not None and existing.source not in (settings.source, "local"):
        raise Conflict(
            f"user {identity.username!r} signs in through {existing.source}, not {settings.source}"
        )
    row = accounts.upsert_external_user(
        identity.username, source=settings.source, email=identity.email
    )
    if row[1]:  # a disabled user's groups are left as they are
        accounts.sync_external_groups(identity.username, identity.groups, settings.source)
    return row
