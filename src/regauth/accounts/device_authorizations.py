"""The device sign-in (RFC 8628): a machine asks, a signed-in person approves, the machine
polls and receives a device session.

* :meth:`DeviceAuthorizations.begin`: a new request with a device code (the machine's secret
  while it polls, 256 random bits) and a user code (8 letters from an alphabet without vowels
  or look-alikes, as RFC 8628 section 6.1 suggests, shown as ``BCDF-GHJK``); both stored hashed.
* :meth:`find_request`: the pending request a typed user code names (case and dash ignored).
* :meth:`decide`: approve (recording who) or deny; only a pending, unexpired request, once.
* :meth:`poll`: the machine's poll: ``authorization_pending``, ``slow_down`` (polled before its
  interval passed; the interval grows by 5 seconds), ``access_denied``, ``expired_token``,
  ``invalid_grant`` (unknown or already used), or the approved person's new device session,
  handed out exactly once.
"""

from __future__ import annotations

import datetime
import hashlib
import secrets
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import orjson
from sqlalchemy import delete, func, select, update

from regauth.accounts.console_sessions import ConsoleSessions, SessionStart
from regauth.accounts.errors import Conflict, InvalidInput, NotFound
from regauth.accounts.store_access import StoreAccess
from regauth.credentials import new_secret, secret_hash
from regauth.store.device_authorizations import DeviceAuthorization

__all__ = [
    "DEVICE_CODE_PREFIX",
    "DeviceAuthorizations",
    "DeviceRequestView",
    "PollOutcome",
    "normalize_user_code",
]

DEVICE_CODE_PREFIX = "regauth_dc_"
#: RFC 8628 section 6.1: no vowels (no words), no look-alikes
_ALPHABET = "BCDFGHJKLMNPQRSTVWXZ"
_USER_CODE_LENGTH = 8
#: expired requests are deleted after this long
_KEEP = datetime.timedelta(days=1)


def normalize_user_code(text: str) -> str | None:
    """``bcdf-ghjk`` / ``BCDF GHJK`` -> ``BCDFGHJK``; None when it cannot be a user code."""
    code = "".join(c for c in text.upper() if c not in "- ")
    if len(code) != _USER_CODE_LENGTH or any(c not in _ALPHABET for c in code):
        return None
    return code


def _user_code_hash(code: str) -> str:
    return hashlib.sha256(("user-code:" + code).encode()).hexdigest()


def _new_user_code() -> str:
    return "".join(secrets.choice(_ALPHABET) for _ in range(_USER_CODE_LENGTH))


@dataclass(frozen=True)
class DeviceRequestView:
    id: int
    client_id: str
    client_name: str | None
    address: str | None
    user_agent: str | None
    created_at: datetime.datetime
    expires_at: datetime.datetime
    status: str


@dataclass(frozen=True)
class PollOutcome:
    """``error`` (an RFC 8628 / RFC 6749 error code) or the new session's ``secret``."""

    error: str | None = None
    secret: str | None = None
    username: str | None = None
    expires_at: datetime.datetime | None = None
    interval: int | None = None


def _view(row: DeviceAuthorization) -> DeviceRequestView:
    return DeviceRequestView(
        row.id,
        row.client_id,
        row.client_name,
        row.address,
        row.user_agent,
        row.created_at,
        row.expires_at,
        row.status,
    )


class DeviceAuthorizations(StoreAccess):
    def begin(
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
        """A new request: (device code, user code as ``BCDF-GHJK``, its view)."""
        now = self._clock()
        device_code = new_secret(DEVICE_CODE_PREFIX)
        with self._db.write() as session:
            session.execute(
                delete(DeviceAuthorization).where(DeviceAuthorization.expires_at < now - _KEEP)
            )
            if address is not None:
                waiting = session.scalar(
                    select(func.count())
                    .select_from(DeviceAuthorization)
                    .where(
                        DeviceAuthorization.address == address,
                        DeviceAuthorization.status == "pending",
                        DeviceAuthorization.expires_at > now,
                    )
                )
                if (waiting or 0) >= max_pending_per_address:
                    raise Conflict("too many device sign-ins are waiting from this address")
            for _attempt in range(5):
                user_code = _new_user_code()
                taken = session.scalar(
                    select(DeviceAuthorization.id).where(
                        DeviceAuthorization.user_code_hash == _user_code_hash(user_code)
                    )
                )
                if taken is None:
                    break
            else:  # pragma: no cover - 20^8 codes
                raise Conflict("could not find a free user code; try again")
            row = DeviceAuthorization(
                device_code_hash=secret_hash(device_code),
                user_code_hash=_user_code_hash(user_code),
                client_id=client_id[:128],
                client_name=(client_name or "")[:128] or None,
                address=(address or "")[:64] or None,
                user_agent=(user_agent or "")[:256] or None,
                created_at=now,
                expires_at=now + lifetime,
                interval=interval,
                status="pending",
            )
            session.add(row)
            session.flush()
            return device_code, f"{user_code[:4]}-{user_code[4:]}", _view(row)

    def find_request(self, user_code: str) -> DeviceRequestView:
        """The pending, unexpired request of a typed user code (NotFound otherwise)."""
        code = normalize_user_code(user_code)
        if code is None:
            raise InvalidInput("a code has 8 letters, like BCDF-GHJK")
        now = self._clock()
        with self._db.read() as session:
            row = session.scalar(
                select(DeviceAuthorization).where(
                    DeviceAuthorization.user_code_hash == _user_code_hash(code)
                )
            )
            if row is None or row.status != "pending" or row.expires_at <= now:
                raise NotFound("no waiting sign-in has this code (it may have expired)")
            return _view(row)

    def decide(
        self, user_code: str, *, approve: bool, approver: SessionStart | None = None
    ) -> DeviceRequestView:
        """Approve (for ``approver``) or deny a pending request, once."""
        code = normalize_user_code(user_code)
        if code is None:
            raise InvalidInput("a code has 8 letters, like BCDF-GHJK")
        if approve and approver is None:
            raise InvalidInput("an approval needs the approving account")
        now = self._clock()
        with self._db.write() as session:
            row = session.scalar(
                select(DeviceAuthorization)
                .where(DeviceAuthorization.user_code_hash == _user_code_hash(code))
                .with_for_update()
            )
            if row is None or row.expires_at <= now:
                raise NotFound("no waiting sign-in has this code (it may have expired)")
            if row.status != "pending":
                raise Conflict(f"this sign-in was already {row.status}")
            row.status = "approved" if approve else "denied"
            row.decided_at = now
            if approve and approver is not None:
                row.user_id = approver.user_id
                row.username = approver.username
                row.method = approver.method
                row.fingerprint = approver.fingerprint
                row.identity = orjson.dumps(
                    {
                        "labels": {k: list(v) for k, v in (approver.labels or {}).items()},
                        "groups": list(approver.groups),
                    }
                ).decode()
            return _view(row)

    def poll(
        self,
        device_code: str,
        *,
        absolute_lifetime: datetime.timedelta,
        max_per_user: int,
    ) -> PollOutcome:
        """One poll of the machine (RFC 8628 section 3.5)."""
        if not device_code.startswith(DEVICE_CODE_PREFIX) or len(device_code) > 100:
            return PollOutcome(error="invalid_grant")
        now = self._clock()
        with self._db.write() as session:
            row = session.scalar(
                select(DeviceAuthorization)
                .where(DeviceAuthorization.device_code_hash == secret_hash(device_code))
                .with_for_update()
            )
            if row is None or row.status == "consumed":
                return PollOutcome(error="invalid_grant")
            if row.expires_at <= now:
                return PollOutcome(error="expired_token")
            if row.status == "denied":
                return PollOutcome(error="access_denied")
            too_soon = (
                row.last_poll_at is not None
                and (now - row.last_poll_at).total_seconds() < row.interval
            )
            row.last_poll_at = now
            if too_soon:
                row.interval += 5
                return PollOutcome(error="slow_down", interval=row.interval)
            if row.status == "pending":
                return PollOutcome(error="authorization_pending")
            claimed = session.execute(
                update(DeviceAuthorization)
                .where(DeviceAuthorization.id == row.id, DeviceAuthorization.status == "approved")
                .values(status="consumed")
            )
            if int(getattr(claimed, "rowcount", 0) or 0) != 1:  # pragma: no cover - a race
                return PollOutcome(error="invalid_grant")
            document = orjson.loads(row.identity or "{}")
            start = SessionStart(
                username=row.username or "",
                method=row.method or "device",
                user_id=row.user_id,
                fingerprint=row.fingerprint,
                labels=_labels(document.get("labels", {})),
                groups=tuple(document.get("groups", ())),
                user_agent=row.user_agent,
                address=row.address,
                kind="device",
                client_name=row.client_name,
            )
        secret, view = ConsoleSessions(self._db, self._clock).start_session(
            start, absolute_lifetime=absolute_lifetime, max_per_user=max_per_user
        )
        return PollOutcome(secret=secret, username=view.user, expires_at=view.expires_at)


def _labels(raw: Mapping[str, Sequence[str]]) -> dict[str, list[str]]:
    return {str(k): [str(v) for v in values] for k, values in raw.items()}
