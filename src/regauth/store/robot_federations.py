"""Federated robots: the OIDC issuer a robot trusts instead of a secret, and its conditions.

A robot with a row here logs in only with an ID token signed by ``issuer`` (a CI system's
token: GitHub Actions, GitLab CI) whose claims meet every condition in ``claims``; its
``robots.secret_hash`` holds the hash of a random secret that is never shown to anyone.
"""

from __future__ import annotations

from sqlalchemy import ForeignKey, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from regauth.store.models import Base

__all__ = ["RobotFederation"]


class RobotFederation(Base):
    __tablename__ = "robot_federations"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    robot_id: Mapped[int] = mapped_column(ForeignKey("robots.id", ondelete="CASCADE"), unique=True)
    #: the ``iss`` the tokens must carry; discovery and keys are fetched from it
    issuer: Mapped[str] = mapped_column(String(500))
    #: the ``aud`` the tokens must contain; NULL: ``robots.federated_audience`` of the config
    audience: Mapped[str | None] = mapped_column(String(500))
    #: JSON object: claim name -> list of accepted values (``*`` matches any run of characters)
    claims: Mapped[str] = mapped_column(Text)
