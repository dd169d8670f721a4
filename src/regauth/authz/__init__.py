"""Authorization: what an identity may do, decided per requested scope."""

from regauth.authz.base import AccessContext, Authorizer, Decision

__all__ = ["AccessContext", "Authorizer", "Decision"]
