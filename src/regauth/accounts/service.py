"""The account service: the one door to administration, as the CLI and the admin API use it.

Every operation validates its input, writes in one transaction, and appends to the change log
in that same transaction so every process and instance drops cached credentials and reloads
grants within a second. Neither front end touches the store directly.

:class:`AccountService` holds no logic of its own: each method hands over to the class of
its kind (:mod:`~regauth.accounts.users`, :mod:`~regauth.accounts.groups`,
:mod:`~regauth.accounts.grants`, :mod:`~regauth.accounts.robots`,
:mod:`~regauth.accounts.access_tokens`, :mod:`~regauth.accounts.refresh_tokens`,
:mod:`~regauth.accounts.lockouts`, :mod:`~regauth.accounts.user_import`,
:mod:`~regauth.accounts.external`), all over the same database and clock.
"""

from __future__ import annotations

import datetime
import functools
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import ParamSpec, TypeVar

from regauth.accounts.access_tokens import AccessTokens
from regauth.accounts.console_sessions import (
    ConsoleSessions,
    ConsoleSessionView,
    LiveSession,
    SessionStart,
)
from regauth.accounts.device_authorizations import (
    DeviceAuthorizations,
    DeviceRequestView,
    PollOutcome,
)
from regauth.accounts.external import ExternalUsers
from regauth.accounts.federation import Federation
from regauth.accounts.grants import Grants
from regauth.accounts.groups import Groups
from regauth.accounts.labels import UserLabels
from regauth.accounts.listings import GrantFilter, Listings, Page
from regauth.accounts.lockouts import DEFAULT_LIMIT, Lockouts
from regauth.accounts.refresh_tokens import RefreshTokens
from regauth.accounts.robots import Robots
from regauth.accounts.user_import import ImportedAccount, UserImport
from regauth.accounts.users import Users
from regauth.accounts.views import (
    Created,
    GrantView,
    GroupView,
    LockoutsCleared,
    LockoutView,
    RefreshTokenView,
    RobotView,
    TokenView,
    UserView,
)
from regauth.clock import utcnow
from regauth.credentials.passwords import hash_password_argon2
from regauth.store.database import Database

__all__ = ["AccountService"]

P = ParamSpec("P")
T = TypeVar("T")


class AccountService:
    def __init__(
        self,
        database: Database,
        *,
        clock: Callable[[], datetime.datetime] = utcnow,
        hash_password: Callable[[bytes], str] = hash_password_argon2,
    ) -> None:
        self._db = database
        self._users = Users(database, clock, hash_password)
        self._import = UserImport(database, clock)
        self._labels = UserLabels(database, clock)
        self._external = ExternalUsers(database, clock)
        self._groups = Groups(database, clock)
        self._grants = Grants(database, clock)
        self._listings = Listings(database, clock)
        self._robots = Robots(database, clock)
        self._tokens = AccessTokens(database, clock)
        self._refresh_tokens = RefreshTokens(database, clock)
        self._lockouts = Lockouts(database, clock)
        self._console_sessions = ConsoleSessions(database, clock)
        self._devices = DeviceAuthorizations(database, clock)

    @property
    def database(self) -> Database:
        return self._db

    async def run(self, function: Callable[P, T], /, *args: P.args, **kwargs: P.kwargs) -> T:
        """Call blocking account work (these methods, or a function of them) off the event loop.

        It runs on the database's own threads, so async front ends (the admin API, the login
        pages) need not reach for the database themselves.
        """
        return await self._db.run(functools.partial(function, *args, **kwargs))

    # ------------------------------------------------------------------- users

    def create_user(
        self,
        username: str,
        *,
        password: str | None = None,
        password_hash: str | None = None,
        email: str | None = None,
        is_admin: bool = False,
        enabled: bool = True,
        source: str = "local",
        labels: Mapping[str, Sequence[str] | str] | None = None,
    ) -> UserView:
        return self._users.create_user(
            username,
            password=password,
            password_hash=password_hash,
            email=email,
            is_admin=is_admin,
            enabled=enabled,
            source=source,
            labels=labels,
        )

    def get_user(self, username: str) -> UserView:
        return self._users.get_user(username)

    def list_users(self) -> list[UserView]:
        return self._users.list_users()

    def count_users(self) -> int:
        return self._users.count_users()

    def page_users(self, needle: str, page: Page) -> tuple[list[UserView], int]:
        """One page of users (name or email containing ``needle``) and how many match."""
        return self._listings.page_users(needle, page)

    def page_grants(self, wanted: GrantFilter, page: Page) -> tuple[list[GrantView], int]:
        """One page of the grants that match ``wanted`` and how many match."""
        return self._listings.page_grants(wanted, page)

    def set_password(self, username: str, password: str) -> UserView:
        """Change a password; the user's refresh tokens stop working."""
        return self._users.set_password(username, password)

    def rehash_password(self, username: str, old_hash: str, new_hash: str) -> None:
        """Replace a verified legacy hash (bcrypt from an import) by an argon2id one."""
        self._users.rehash_password(username, old_hash, new_hash)

    def set_enabled(self, username: str, enabled: bool) -> UserView:
        """Enable or disable; disabling also revokes the user's refresh tokens."""
        return self._users.set_enabled(username, enabled)

    def update_user(
        self,
        username: str,
        *,
        email: str | None = None,
        is_admin: bool | None = None,
        enabled: bool | None = None,
        labels: Mapping[str, Sequence[str] | str] | None = None,
    ) -> UserView:
        """Change several attributes in one transaction (``email=""`` clears the email;
        ``labels`` replaces every label)."""
        return self._users.update_user(
            username, email=email, is_admin=is_admin, enabled=enabled, labels=labels
        )

    def change_labels(
        self,
        username: str,
        *,
        set_labels: Mapping[str, Sequence[str] | str] | None = None,
        remove: Iterable[str] = (),
    ) -> dict[str, list[str]]:
        """Give label keys new values and remove keys; returns the labels after."""
        return self._labels.change_labels(username, set_labels=set_labels, remove=remove)

    def delete_user(self, username: str) -> None:
        self._users.delete_user(username)

    def import_users(
        self,
        entries: Sequence[tuple[str, str] | ImportedAccount],
        *,
        source: str = "local",
        replace: bool = False,
    ) -> tuple[list[str], list[str]]:
        """Import accounts or (username, hash) pairs in one transaction; returns (created,
        skipped)."""
        return self._import.import_users(entries, source=source, replace=replace)

    # ------------------------------------------------------- external users

    def upsert_external_user(
        self, username: str, *, source: str, email: str | None = None
    ) -> tuple[int, bool, bool]:
        """Create or update a user who logged in through LDAP or an OpenID provider."""
        return self._external.upsert_external_user(username, source=source, email=email)

    def sync_external_groups(self, username: str, groups: Sequence[str], source: str) -> None:
        """Make the memberships ``source`` gave the user exactly ``groups`` (SSO logins)."""
        self._external.sync_external_groups(username, groups, source)

    # ------------------------------------------------------------------ groups

    def create_group(
        self, name: str, *, description: str | None = None, source: str = "local"
    ) -> GroupView:
        return self._groups.create_group(name, description=description, source=source)

    def list_groups(self) -> list[GroupView]:
        return self._groups.list_groups()

    def get_group(self, name: str) -> GroupView:
        return self._groups.get_group(name)

    def delete_group(self, name: str) -> None:
        self._groups.delete_group(name)

    def add_member(self, group_name: str, username: str) -> GroupView:
        return self._groups.add_member(group_name, username)

    def remove_member(self, group_name: str, username: str) -> GroupView:
        return self._groups.remove_member(group_name, username)

    # ------------------------------------------------------------------ grants

    def add_grant(
        self,
        *,
        pattern: str,
        role: str,
        user: str | None = None,
        group: str | None = None,
        robot: str | None = None,
        public: bool = False,
        authenticated: bool = False,
        created_by: str | None = None,
    ) -> GrantView:
        return self._grants.add_grant(
            pattern=pattern,
            role=role,
            user=user,
            group=group,
            robot=robot,
            public=public,
            authenticated=authenticated,
            created_by=created_by,
        )

    def list_grants(
        self,
        *,
        user: str | None = None,
        group: str | None = None,
        robot: str | None = None,
    ) -> list[GrantView]:
        return self._grants.list_grants(user=user, group=group, robot=robot)

    def remove_grant(self, grant_id: int) -> None:
        self._grants.remove_grant(grant_id)

    # ------------------------------------------------------------------ robots

    def create_robot(
        self,
        name: str,
        *,
        description: str | None = None,
        expires_at: datetime.datetime | None = None,
        grants: Sequence[tuple[str, str]] = (),
        created_by: str | None = None,
        federation: Federation | None = None,
    ) -> Created[RobotView]:
        """A robot account with its own grants; the secret is returned this once (a federated
        robot has none: it logs in with its issuer's ID tokens)."""
        return self._robots.create_robot(
            name,
            description=description,
            expires_at=expires_at,
            grants=grants,
            created_by=created_by,
            federation=federation,
        )

    def list_robots(self) -> list[RobotView]:
        return self._robots.list_robots()

    def revoke_robot(self, name: str) -> RobotView:
        return self._robots.revoke_robot(name)

    def delete_robot(self, name: str) -> None:
        self._robots.delete_robot(name)

    # -------------------------------------------------- personal access tokens

    def create_token(
        self,
        username: str,
        name: str,
        *,
        expires_at: datetime.datetime | None = None,
        repositories: Sequence[str] | None = None,
        actions: Sequence[str] | None = None,
    ) -> Created[TokenView]:
        """A personal access token, usable as the docker password; shown this once."""
        return self._tokens.create_token(
            username, name, expires_at=expires_at, repositories=repositories, actions=actions
        )

    def list_tokens(self, username: str | None = None) -> list[TokenView]:
        return self._tokens.list_tokens(username)

    def revoke_token(self, token_id: int, *, username: str | None = None) -> TokenView:
        """Revoke a token; with ``username``, only if it belongs to that user."""
        return self._tokens.revoke_token(token_id, username=username)

    # ---------------------------------------------------------- refresh tokens

    def list_refresh_tokens(self, username: str | None = None) -> list[RefreshTokenView]:
        return self._refresh_tokens.list_refresh_tokens(username)

    def revoke_refresh_tokens(
        self, *, token_id: int | None = None, username: str | None = None
    ) -> int:
        """Revoke one refresh token by id, or every one of a user's; returns how many."""
        return self._refresh_tokens.revoke_refresh_tokens(token_id=token_id, username=username)

    # ------------------------------------------------------------- guessing limits

    def list_lockouts(
        self, *, include_all: bool = False, limit: int = DEFAULT_LIMIT
    ) -> list[LockoutView]:
        """The guessing limits' counters that block logins now (``include_all``: every one)."""
        return self._lockouts.list_lockouts(include_all=include_all, limit=limit)

    def clear_lockouts(self, target: str) -> LockoutsCleared:
        """Lift every block and count of an account or an address (IPv6: its /64)."""
        return self._lockouts.clear_lockouts(target)

    # ------------------------------------------------------------------- console sessions

    def start_console_session(
        self,
        start: SessionStart,
        *,
        absolute_lifetime: datetime.timedelta,
        max_per_user: int,
    ) -> tuple[str, ConsoleSessionView]:
        return self._console_sessions.start_session(
            start, absolute_lifetime=absolute_lifetime, max_per_user=max_per_user
        )

    def find_console_session(
        self, secret: str, *, idle_lifetime: datetime.timedelta, kind: str = "browser"
    ) -> LiveSession | None:
        return self._console_sessions.find_session(secret, idle_lifetime=idle_lifetime, kind=kind)

    def list_console_sessions(
        self,
        username: str | None = None,
        *,
        include_ended: bool = False,
        kind: str | None = None,
    ) -> list[ConsoleSessionView]:
        return self._console_sessions.list_sessions(
            username, include_ended=include_ended, kind=kind
        )

    def end_console_session(
        self, session_id: int, *, username: str | None = None
    ) -> ConsoleSessionView:
        return self._console_sessions.end_session(session_id, username=username)

    def end_console_sessions_of(self, username: str) -> int:
        return self._console_sessions.end_sessions_of(username)

    def end_console_session_by_secret(self, secret: str) -> None:
        self._console_sessions.end_session_by_secret(secret)

    # ------------------------------------------------------------------- device sign-in

    def begin_device_authorization(
        self,
        *,
        client_id: str,
        client_name: str | None,
        address: str | None,
        user_agent: str | None,
        lifetime: datetime.timedelta,
        interval: int,
        max_pending_per_address: int,
    ) -> tuple[str, str, DeviceRequestView]:
        return self._devices.begin(
            client_id=client_id,
            client_name=client_name,
            address=address,
            user_agent=user_agent,
            lifetime=lifetime,
            interval=interval,
            max_pending_per_address=max_pending_per_address,
        )

    def find_device_request(self, user_code: str) -> DeviceRequestView:
        return self._devices.find_request(user_code)

    def decide_device_request(
        self, user_code: str, *, approve: bool, approver: SessionStart | None = None
    ) -> DeviceRequestView:
        return self._devices.decide(user_code, approve=approve, approver=approver)

    def poll_device_authorization(
        self, device_code: str, *, absolute_lifetime: datetime.timedelta, max_per_user: int
    ) -> PollOutcome:
        return self._devices.poll(
            device_code, absolute_lifetime=absolute_lifetime, max_per_user=max_per_user
        )
