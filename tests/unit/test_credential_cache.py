"""The credential cache: hits only for the same password, bounded, expiring, invalidated."""

from __future__ import annotations

from pathlib import Path

import bcrypt
import pytest

from regauth.authn.base import Identity
from regauth.authn.cache import CredentialCache
from regauth.authn.chain import AuthenticationFailed, AuthenticatorChain
from regauth.authn.htpasswd import HtpasswdAuthenticator
from regauth.credentials import passwords
from regauth.protocol.secret import Secret


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


ALICE = Identity("alice", "test")


def test_hit_only_for_the_same_password() -> None:
    cache = CredentialCache(ttl=60, max_entries=10)
    cache.put("alice", Secret("right"), ALICE)
    assert cache.get("alice", Secret("right")) is ALICE
    assert cache.get("alice", Secret("wrong")) is None
    assert cache.get("alicer", Secret("ight")) is None  # length-prefixed: no ambiguity


def test_entries_expire() -> None:
    clock = Clock()
    cache = CredentialCache(ttl=5, max_entries=10, clock=clock)
    cache.put("alice", Secret("pw"), ALICE)
    clock.now += 4.9
    assert cache.get("alice", Secret("pw")) is ALICE
    clock.now += 0.2
    assert cache.get("alice", Secret("pw")) is None
    assert len(cache) == 0


def test_bounded_least_recently_used() -> None:
    cache = CredentialCache(ttl=60, max_entries=2)
    cache.put("a", Secret("1"), Identity("a", "t"))
    cache.put("b", Secret("2"), Identity("b", "t"))
    assert cache.get("a", Secret("1")) is not None  # a is now the most recent
    cache.put("c", Secret("3"), Identity("c", "t"))
    assert len(cache) == 2
    assert cache.get("b", Secret("2")) is None
    assert cache.get("a", Secret("1")) is not None


def test_invalidate_users() -> None:
    cache = CredentialCache(ttl=60, max_entries=10)
    cache.put("alice", Secret("1"), ALICE)
    cache.put("alice", Secret("2"), ALICE)
    cache.put("bob", Secret("3"), Identity("bob", "t"))
    cache.invalidate_users(["alice"])
    assert cache.get("alice", Secret("1")) is None
    assert cache.get("alice", Secret("2")) is None
    assert cache.get("bob", Secret("3")) is not None


def test_disabled_cache_stores_nothing() -> None:
    cache = CredentialCache(ttl=0, max_entries=10)
    cache.put("alice", Secret("1"), ALICE)
    assert cache.get("alice", Secret("1")) is None


def test_the_cache_holds_no_password() -> None:
    cache = CredentialCache(ttl=60, max_entries=10)
    cache.put("alice", Secret("very-secret-password"), ALICE)
    assert b"very-secret-password" not in b"".join(cache._entries)


async def test_chain_caches_success_not_failure(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    htpasswd = tmp_path / "htpasswd"
    htpasswd.write_text("alice:" + bcrypt.hashpw(b"pw", bcrypt.gensalt(4)).decode() + "\n")
    cache = CredentialCache(ttl=60, max_entries=10)
    clock = Clock()
    backend = HtpasswdAuthenticator(htpasswd, clock=clock, on_change=cache.invalidate_users)
    chain = AuthenticatorChain([backend], passwords.make_dummy_hash(4), cache)
    calls: list[str] = []
    real = passwords.verify_password

    def counting(encoded: str, password: bytes) -> bool:
        calls.append(encoded)
        return real(encoded, password)

    monkeypatch.setattr(passwords, "verify_password", counting)
    for _ in range(3):
        assert (await chain.authenticate("alice", Secret("pw"))).subject == "alice"
    assert len(calls) == 1
    for _ in range(2):
        with pytest.raises(AuthenticationFailed):
            await chain.authenticate("alice", Secret("bad"))
    assert len(calls) == 3  # failures are verified every time
    # a password change in the file invalidates the cached success at once
    htpasswd.write_text("alice:" + bcrypt.hashpw(b"new", bcrypt.gensalt(4)).decode() + "\n")
    clock.now += 2
    with pytest.raises(AuthenticationFailed):
        await chain.authenticate("alice", Secret("pw"))
    assert (await chain.authenticate("alice", Secret("new"))).subject == "alice"


async def test_concurrent_checks_of_the_same_credentials_hash_once(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    import asyncio

    htpasswd = tmp_path / "htpasswd"
    htpasswd.write_text("alice:" + bcrypt.hashpw(b"pw", bcrypt.gensalt(4)).decode() + "\n")
    backend = HtpasswdAuthenticator(htpasswd)
    chain = AuthenticatorChain(
        [backend], passwords.make_dummy_hash(4), CredentialCache(ttl=60, max_entries=10)
    )
    calls: list[str] = []
    real = passwords.verify_password

    def counting(encoded: str, password: bytes) -> bool:
        calls.append(encoded)
        return real(encoded, password)

    monkeypatch.setattr(passwords, "verify_password", counting)
    identities = await asyncio.gather(
        *(chain.authenticate("alice", Secret("pw")) for _ in range(16))
    )
    assert {i.subject for i in identities} == {"alice"}
    assert len(calls) == 1
    failures = await asyncio.gather(
        *(chain.authenticate("alice", Secret("bad")) for _ in range(8)), return_exceptions=True
    )
    assert all(isinstance(f, AuthenticationFailed) for f in failures)
    assert len(calls) == 2  # one check for the eight identical wrong guesses
    with pytest.raises(AuthenticationFailed):  # and nothing about a failure is remembered
        await chain.authenticate("alice", Secret("bad"))
    assert len(calls) == 3
