"""Authentication: who is asking. One module per backend, plus the chain that tries them."""

from regauth.authn.base import ANONYMOUS, Authenticator, AuthResult, Identity, Outcome

__all__ = ["ANONYMOUS", "AuthResult", "Authenticator", "Identity", "Outcome"]
