"""Robot accounts for CI: a name, an optional expiry, its own grants and a secret shown once.

A robot signs in as ``robot+NAME`` with its secret, or, a federated robot
(:mod:`regauth.accounts.federation`), with an ID token from the issuer it trusts and no secret
at all; revoking keeps the row, deleting removes it with its grants.
"""

from __future__ import annotations

import datetime
import json
from collections.abc import Sequence

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from regauth.accounts.checks import (
    check_description,
    check_expiry,
    check_pattern,
    check_robot_name,
    check_role,
)
from regauth.accounts.errors import Conflict
from regauth.accounts.federation import Federation
from regauth.accounts.store_access import StoreAccess, find_robot, log_change
from regauth.accounts.views import Created, RobotView
from regauth.credentials import ROBOT_PREFIX, ROBOT_USER_PREFIX, new_secret, secret_hash
from regauth.store.models import Grant, Robot
from regauth.store.robot_federations import RobotFederation

__all__ = ["Robots"]


def _federation(row: RobotFederation | None) -> Federation | None:
    if row is None:
        return None
    claims = {name: tuple(values) for name, values in json.loads(row.claims).items()}
    return Federation(row.issuer, row.audience, claims)


def _robot_view(session: Session, robot: Robot) -> RobotView:
    grants = [
        f"{g.role} on {g.pattern}"
        for g in session.scalars(select(Grant).where(Grant.robot_id == robot.id))
    ]
    federation = _federation(
        session.scalar(select(RobotFederation).where(RobotFederation.robot_id == robot.id))
    )
    return RobotView(
        name=robot.name,
        username=ROBOT_USER_PREFIX + robot.name,
        description=robot.description,
        created_at=robot.created_at,
        created_by=robot.created_by,
        expires_at=robot.expires_at,
        revoked_at=robot.revoked_at,
        last_used_at=robot.last_used_at,
        grants=grants,
        federated=federation.as_dict() if federation is not None else None,
    )


class Robots(StoreAccess):
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
        """A robot account with its own grants; the secret is returned this once. A federated
        robot (``federation``, from :func:`~regauth.accounts.federation.check_federation`) has
        no secret to return: its hash column holds one nobody ever sees."""
        check_robot_name(name)
        check_description(description)
        now = self._clock()
        check_expiry(expires_at, now)
        for pattern, role in grants:
            check_pattern(pattern)
            check_role(role)
        secret = new_secret(ROBOT_PREFIX)
        try:
            with self._db.write() as session:
                if session.scalar(select(Robot.id).where(Robot.name == name)):
                    raise Conflict(f"robot {name!r} already exists")
                robot = Robot(
                    name=name,
                    description=description,
                    secret_hash=secret_hash(secret),
                    created_at=now,
                    created_by=created_by,
                    expires_at=expires_at,
                )
                session.add(robot)
                session.flush()
                if federation is not None:
                    session.add(
                        RobotFederation(
                            robot_id=robot.id,
                            issuer=federation.issuer,
                            audience=federation.audience,
                            claims=json.dumps({k: list(v) for k, v in federation.claims.items()}),
                        )
                    )
                for pattern, role in grants:
                    session.add(
                        Grant(
                            robot_id=robot.id,
                            pattern=pattern,
                            role=role,
                            public=False,
                            created_at=now,
                            created_by=created_by,
                        )
                    )
                session.flush()
                log_change(session, "robot", [ROBOT_USER_PREFIX + name])
                shown = secret if federation is None else None
                return Created(shown, _robot_view(session, robot))
        except IntegrityError:
            raise Conflict(f"robot {name!r} already exists") from None

    def list_robots(self) -> list[RobotView]:
        with self._db.read() as session:
            return [
                _robot_view(session, r) for r in session.scalars(select(Robot).order_by(Robot.name))
            ]

    def revoke_robot(self, name: str) -> RobotView:
        with self._db.write() as session:
            robot = find_robot(session, name)
            if robot.revoked_at is None:
                robot.revoked_at = self._clock()
            log_change(session, "robot", [ROBOT_USER_PREFIX + name])
            return _robot_view(session, robot)

    def delete_robot(self, name: str) -> None:
        with self._db.write() as session:
            session.delete(find_robot(session, name))
            log_change(session, "robot", [ROBOT_USER_PREFIX + name])
