"""Start-up checks of the configured OpenID providers.

Each provider's discovery document is fetched once, all providers at the same time, each within
its own ``timeout``. A provider that answers with something other than its discovery document
(a wrong issuer URL, a path that is not there, a document for another issuer) is a configuration
mistake, reported as one line naming the key. A provider that does not answer may only be down
for now: regauth starts anyway, says so, and the other authenticators keep working.
GitHub has no discovery document and is not checked.
"""

from __future__ import annotations

import asyncio

import httpx

from regauth.config import Config
from regauth.oidc.discovery import DiscoveryCheck, check_discovery
from regauth.oidc.presets import ProviderConfigError, resolve_provider

__all__ = ["check_providers", "describe"]


async def _check_all(config: Config) -> list[DiscoveryCheck]:
    settings = []
    for entry in config.oidc.providers:
        try:
            resolved = resolve_provider(entry)
        except ProviderConfigError:  # reported by the configuration checks
            continue
        if resolved.protocol == "oidc":
            settings.append(resolved)
    if not settings:
        return []
    async with httpx.AsyncClient(headers={"user-agent": "regauth"}) as http:
        return list(
            await asyncio.gather(
                *(
                    check_discovery(http, s.issuer, provider=s.name, timeout=s.timeout)
                    for s in settings
                )
            )
        )


def check_providers(config: Config) -> list[DiscoveryCheck]:
    """Fetch every OpenID provider's discovery document once (not from a running loop)."""
    if not config.oidc.providers:
        return []
    return asyncio.run(_check_all(config))


def describe(check: DiscoveryCheck) -> str:
    """One line naming the configuration key."""
    detail = (check.problem or "discovery document OK").removeprefix(f"{check.provider}: ")
    return f"oidc.providers[{check.provider}].issuer: {detail}"
