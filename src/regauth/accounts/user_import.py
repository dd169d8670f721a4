"""Importing users with their password hashes: from htpasswd files, docker_auth's users list
or a Keycloak realm export.

The front ends read the files; this takes the accounts (a username, a bcrypt, argon2id or
PBKDF2 hash, and from the richer sources labels, an email address, the enabled state and
groups) and writes them all in one transaction, or nothing. Missing groups are created.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from sqlalchemy import select
from sqlalchemy.orm import Session

from regauth.accounts.checks import check_email, check_group_name, check_new_name, check_username
from regauth.accounts.errors import InvalidInput
from regauth.accounts.labels import check_labels
from regauth.accounts.refresh_tokens import revoke_user_tokens
from regauth.accounts.store_access import StoreAccess, log_change
from regauth.credentials.passwords import is_importable_hash
from regauth.store.models import Group, GroupMember, User
from regauth.store.user_labels import replace_labels

__all__ = ["ImportedAccount", "UserImport"]


@dataclass(frozen=True)
class ImportedAccount:
    """One user to import. Without a password hash the user exists but cannot log in with a
    password until an administrator sets one."""

    username: str
    password_hash: str | None
    labels: Mapping[str, Sequence[str]] = field(default_factory=dict)
    email: str | None = None
    enabled: bool = True
    groups: tuple[str, ...] = ()


def _as_account(entry: tuple[str, str] | ImportedAccount) -> ImportedAccount:
    if isinstance(entry, ImportedAccount):
        return entry
    return ImportedAccount(entry[0], entry[1])


def _checked(entries: Sequence[tuple[str, str] | ImportedAccount]) -> list[ImportedAccount]:
    """Every entry checked before anything is written."""
    accounts = []
    seen: set[str] = set()
    for entry in entries:
        account = _as_account(entry)
        username = account.username
        check_new_name("username", username)  # a new account: its namespace must be usable
        check_username(username)
        if username in seen:
            raise InvalidInput(f"user {username!r} appears more than once")
        seen.add(username)
        if account.password_hash is not None and not is_importable_hash(account.password_hash):
            raise InvalidInput(
                f"user {username!r}: unsupported password hash (bcrypt, argon2id or PBKDF2)"
            )
        try:
            labels = check_labels(account.labels)
            for group in account.groups:
                check_group_name(group)
            email = check_email(account.email)
        except InvalidInput as exc:
            raise InvalidInput(f"user {username!r}: {exc}") from None
        accounts.append(
            ImportedAccount(
                username,
                account.password_hash,
                labels,
                email,
                account.enabled,
                tuple(dict.fromkeys(account.groups)),
            )
        )
    return accounts


def _groups_by_name(session: Session, names: set[str], now: object) -> dict[str, Group]:
    groups = {g.name: g for g in session.scalars(select(Group).where(Group.name.in_(names)))}
    for name in sorted(names - set(groups)):
        group = Group(name=name, source="local", created_at=now)
        session.add(group)
        groups[name] = group
    session.flush()
    return groups


class UserImport(StoreAccess):
    def import_users(
        self,
        entries: Sequence[tuple[str, str] | ImportedAccount],
        *,
        source: str = "local",
        replace: bool = False,
    ) -> tuple[list[str], list[str]]:
        """Import accounts (or (username, hash) pairs) in one transaction.

        Existing users are skipped, or with ``replace`` get the new hash, labels, email and
        enabled state (and the groups are added); every entry is validated before anything is
        written, so a bad entry changes nothing.
        """
        accounts = _checked(entries)
        created: list[str] = []
        skipped: list[str] = []
        now = self._clock()
        with self._db.write() as session:
            existing = {
                u.username: u
                for u in session.scalars(
                    select(User).where(User.username.in_([a.username for a in accounts]))
                )
            }
            groups = _groups_by_name(session, {g for a in accounts for g in a.groups}, now)
            for account in accounts:
                user = existing.get(account.username)
                if user is not None and not replace:
                    skipped.append(account.username)
                    continue
                if user is None:
                    user = User(
                        username=account.username,
                        is_admin=False,
                        source=source,
                        created_at=now,
                    )
                    session.add(user)
                    members: set[int] = set()
                else:
                    revoke_user_tokens(session, user.id, self._clock())
                    members = set(
                        session.scalars(
                            select(GroupMember.group_id).where(GroupMember.user_id == user.id)
                        )
                    )
                user.password_hash = account.password_hash
                user.password_changed_at = now if account.password_hash else None
                user.updated_at = now
                user.enabled = account.enabled
                if account.email is not None:
                    user.email = account.email
                session.flush()
                replace_labels(session, user.id, {k: list(v) for k, v in account.labels.items()})
                for name in account.groups:
                    if groups[name].id not in members:
                        session.add(
                            GroupMember(group_id=groups[name].id, user_id=user.id, source="local")
                        )
                created.append(account.username)
            log_change(session, "user", created)
        return created, skipped
