"""The provider implementation for a provider's protocol.

Apart from :mod:`regauth.oidc.provider` so the interface does not import its implementations
(which import the interface).
"""

from __future__ import annotations

import time
from collections.abc import Callable

from regauth.oidc.presets import ProviderSettings
from regauth.oidc.provider import IdentityProvider

__all__ = ["build_provider"]


def build_provider(
    settings: ProviderSettings, *, clock: Callable[[], float] = time.time
) -> IdentityProvider:
    if settings.protocol == "github":
        from regauth.oidc.github import GitHubProvider

        return GitHubProvider(settings, clock=clock)
    from regauth.oidc.openid import OpenIdProvider

    return OpenIdProvider(settings, clock=clock)
