"""Federated robots: ``robot+NAME`` with an ID token from the CI system the robot trusts.

``docker login -u robot+ci --password "$ID_TOKEN"`` in a GitHub Actions or GitLab CI job: the
robot (:mod:`regauth.accounts.federation`) names an issuer, an audience and claim conditions,
and has no secret. For such a robot:

* a password that is not a JWT is refused ("the password must be an ID token"): a federated
  robot never accepts a static secret;
* the token's unverified ``iss`` must be the robot's issuer before anything is fetched, so a
  token cannot make regauth fetch keys from an issuer of its choosing;
* the signature is verified with the issuer's keys (:mod:`regauth.oidc.issuer_keys`), then
  audience, expiry, ``nbf``/``iat`` and every condition
  (:func:`regauth.oidc.federated_claims.check_claims`), on every request;
* a verified signature is remembered under the token's SHA-256 until the token's ``exp``, never
  longer, and the claims are checked again each time, so a token is never used past its expiry
  and a changed, revoked or deleted robot applies at once;
* an accepted token's identifying claims (iss, sub, repository, ref, run id, jti...) go into
  the identity's ``details``, and from there into the token event's log line and audit row;
  a refusal's reason goes into the log and audit row ("wrong audience", "claim mismatch",
  "expired", "unknown signing key"), the client gets the usual 401;
* an issuer that cannot be reached is a :class:`BackendUnavailable` (503), never a grant.

A robot without a federation is not this authenticator's: it answers UNKNOWN, and the
database authenticator checks the robot's secret.
"""

from __future__ import annotations

import datetime
import hashlib
import json
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import httpx
import structlog
from sqlalchemy import select
from sqlalchemy.exc import SQLAlchemyError

from regauth.authn.base import AuthResult, Identity, Kind
from regauth.authn.expiring_cache import ExpiringCache
from regauth.clock import utcnow
from regauth.config import Config
from regauth.credentials import robot_name_of
from regauth.oidc.errors import ProviderUnavailable, TokenRejected
from regauth.oidc.federated_claims import FederationRule, check_claims, identifying_claims
from regauth.oidc.issuer_keys import IssuerKeys
from regauth.oidc.jwks import looks_like_jwt, peek
from regauth.protocol.errors import BackendUnavailable
from regauth.protocol.secret import Secret
from regauth.store.database import Database
from regauth.store.models import Robot
from regauth.store.robot_federations import RobotFederation

__all__ = ["FederatedRobotAuthenticator"]

log = structlog.get_logger("regauth.authn")

Touch = Callable[[str, int], None]


@dataclass(frozen=True, slots=True)
class _FederatedRobot:
    id: int
    name: str
    issuer: str
    audience: str | None
    conditions: Mapping[str, tuple[str, ...]]
    revoked: bool
    expires_at: datetime.datetime | None


class FederatedRobotAuthenticator:
    name = "federated"
    #: answers ``robot+NAME`` logins (see :mod:`regauth.authn.chain`)
    handles_tokens = True

    def __init__(
        self,
        database: Database,
        *,
        audience: str,
        keys: IssuerKeys,
        leeway: float = 60.0,
        max_entries: int = 10_000,
        touch: Touch | None = None,
        clock: Callable[[], float] = time.time,
        http: httpx.AsyncClient | None = None,
    ) -> None:
        self._db = database
        self._audience = audience
        self._keys = keys
        self._leeway = leeway
        self._verified: ExpiringCache[dict[str, Any]] = ExpiringCache(max_entries)
        self._touch = touch or (lambda _kind, _id: None)
        self._clock = clock
        self._http = http
        self._own_http = http is None

    @classmethod
    def from_config(
        cls, config: Config, database: Database, touch: Touch | None = None
    ) -> FederatedRobotAuthenticator:
        """From ``robots:``; the default audience is regauth's public base URL."""
        robots = config.robots
        keys = IssuerKeys(
            timeout=robots.issuer_timeout.total_seconds(),
            max_age=robots.keys_max_age.total_seconds(),
            min_refresh_interval=robots.keys_min_refresh.total_seconds(),
        )
        return cls(
            database,
            audience=robots.federated_audience or config.server.base_url(),
            keys=keys,
            leeway=robots.clock_skew.total_seconds(),
            max_entries=robots.max_cached_tokens,
            touch=touch,
        )

    @property
    def cached_tokens(self) -> int:
        return len(self._verified)

    def _client(self) -> httpx.AsyncClient:
        if self._http is None:
            self._http = httpx.AsyncClient(headers={"user-agent": "regauth"})
        return self._http

    async def close(self) -> None:
        if self._http is not None and self._own_http:
            await self._http.aclose()
            self._http = None

    async def refresh(self) -> None:
        return None

    def _load(self, name: str) -> _FederatedRobot | None:
        with self._db.read() as session:
            found = session.execute(
                select(Robot, RobotFederation)
                .join(RobotFederation, RobotFederation.robot_id == Robot.id)
                .where(Robot.name == name)
            ).first()
            if found is None:
                return None
            robot, federation = found
            conditions = {k: tuple(v) for k, v in json.loads(federation.claims).items()}
            return _FederatedRobot(
                robot.id,
                robot.name,
                federation.issuer,
                federation.audience,
                conditions,
                robot.revoked_at is not None,
                robot.expires_at,
            )

    async def authenticate(self, username: str, password: Secret) -> AuthResult:
        name = robot_name_of(username)
        if name is None:
            return AuthResult.unknown()
        try:
            robot = await self._db.run(self._load, name)
        except SQLAlchemyError as exc:
            raise BackendUnavailable(
                "the database is unavailable", log_reason=type(exc).__name__
            ) from None
        if robot is None:
            return AuthResult.unknown()  # no such robot, or one with a secret
        if robot.revoked:
            return AuthResult.denied("robot is revoked")
        if robot.expires_at is not None and robot.expires_at <= utcnow():
            return AuthResult.denied("robot has expired")
        token = password.reveal()
        if not looks_like_jwt(token):
            return AuthResult.denied(
                f"federated robot {name} accepts only an ID token from {robot.issuer}, not a secret"
            )
        rule = FederationRule(robot.issuer, robot.audience or self._audience, robot.conditions)
        try:
            claims = await self._verify(token, rule)
            check_claims(claims, rule, now=self._clock(), leeway=self._leeway)
        except TokenRejected as exc:
            log.info("federated robot token refused", robot=name, reason=exc.message)
            return AuthResult.denied(f"federated robot {name}: {exc.message}")
        except ProviderUnavailable as exc:
            log.error("federated robot issuer unavailable", robot=name, error=exc.message)
            raise BackendUnavailable(
                f"the issuer robot {name} trusts is unavailable", log_reason=exc.message
            ) from None
        details = identifying_claims(claims, rule.conditions)
        log.info("federated robot token accepted", robot=name, claims=details)
        self._touch("robot", robot.id)
        identity = Identity(
            subject=f"robot+{name}",
            method=self.name,
            kind=Kind.ROBOT,
            credential="id_token",
            details=details,
        )
        return AuthResult.success(identity, cacheable=False)

    async def _verify(self, token: str, rule: FederationRule) -> dict[str, Any]:
        """The token's claims, its signature verified by the robot's issuer's keys."""
        key = hashlib.sha256(f"{rule.issuer}\n{token}".encode()).hexdigest()
        now = self._clock()
        cached = self._verified.get(key, now)
        if cached is not None:
            return cached
        _, unverified = peek(token)
        issuer = unverified.get("iss")
        if not isinstance(issuer, str) or issuer.rstrip("/") != rule.issuer.rstrip("/"):
            shown = repr(issuer[:200]) if isinstance(issuer, str) else "no issuer"
            raise TokenRejected(
                f"the ID token is from issuer {shown}, the robot trusts {rule.issuer!r}"
            )
        claims = await self._keys.verify(self._client(), rule.issuer, token)
        expires = claims.get("exp")
        if isinstance(expires, int | float):  # remembered until the token's own expiry
            self._verified.put(key, claims, float(expires), self._clock())
        return claims
