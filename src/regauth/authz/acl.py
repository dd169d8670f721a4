"""The ACL rules engine, in docker_auth's rule syntax: first matching rule wins.

Rules are compiled once. An index on the literal account and on the literal first path
segment of the name narrows each request to the rules that can possibly match, so a list
of thousands of per-user or per-project rules costs little more than a short one; the
candidates are still evaluated in their original order, so the first match is the same one a
linear scan would find.

A matching rule grants only what is understood (:mod:`regauth.authz.base`): a scope of an
unknown type only when the rule's ``match.type`` names that type literally, an unknown action
only when its ``actions`` list names it; the rule still decides (first match wins) and grants
the rest.
"""

from __future__ import annotations

import functools
import heapq
import ipaddress
import re
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from regauth.admission import SecondSight
from regauth.authz.base import (
    KNOWN_ACTIONS,
    KNOWN_TYPES,
    AccessContext,
    Decision,
    IpAddress,
    grant_actions,
)
from regauth.config import AclRule, IpNetwork, parse_ip_pattern
from regauth.patterns.acl import Pattern, compile_pattern
from regauth.protocol.scope import Scope

__all__ = ["AclAuthorizer", "CompiledRule", "compile_rules"]

#: (account, first name segment) pairs whose candidate rules are remembered
CANDIDATE_CACHE_SIZE = 16384
#: remembered decisions (who, service, address, scope, labels)
DECISION_CACHE_SIZE = 32768
_CAPTURE = re.compile(r"\$\{(account|name|type|service):(\d+)\}")
_WILDCARD = re.compile(r"[*?\[\\]|\$\{")


@dataclass(frozen=True, slots=True)
class CompiledRule:
    index: int
    comment: str | None
    account: Pattern | None
    type: Pattern | None
    name: Pattern | None
    service: Pattern | None
    network: IpNetwork | None
    labels: tuple[tuple[str, Pattern], ...]
    #: None for a "*" rule (grant what was asked)
    permitted: frozenset[str] | None
    #: fields whose regex capture groups other fields refer to
    capture_fields: tuple[str, ...]
    #: unknown actions the rule's list names beside "*" (a "*" rule grants only these of them)
    named_actions: frozenset[str] = frozenset()

    @property
    def label(self) -> str:
        return f"acl[{self.index}]"

    def grants(self, scope: Scope) -> tuple[str, ...]:
        """What this rule, once it matches, grants of the scope: nothing of a type it does not
        name unless the type is a known one; of the actions, requested ∩ permitted."""
        if scope.type not in KNOWN_TYPES:
            pattern = self.type
            if pattern is None or pattern.literal != scope.type:
                return ()
        return grant_actions(scope.actions, self.permitted, self.named_actions)

    def may_match_account(self, account: str) -> bool:
        """False only when the account pattern alone rules this account out."""
        pattern = self.account
        if pattern is None:
            return True
        if pattern.literal is not None:
            return account == pattern.literal
        if pattern.compiled is None:
            return True  # placeholders: decided per request
        return pattern.compiled.fullmatch(account) is not None

    def matches(self, context: AccessContext, scope: Scope) -> bool:
        identity = context.identity
        values = {
            "account": identity.subject,
            "type": scope.type,
            "name": scope.name,
            "service": context.service,
        }
        captures: dict[str, str] = {}
        for field in self.capture_fields:
            pattern = getattr(self, field)
            found = pattern.compiled.fullmatch(values[field]) if pattern.compiled else None
            if found is None:
                return False
            for number, group in enumerate(found.groups(), start=1):
                if group is not None:
                    captures[f"{field}:{number}"] = group
        labels = identity.labels
        for field in ("account", "type", "name", "service"):
            pattern = getattr(self, field)
            if pattern is not None and not pattern.matches(values[field], values, captures, labels):
                return False
        network = self.network
        if network is not None and (context.client_ip is None or context.client_ip not in network):
            return False
        for key, pattern in self.labels:
            if not any(pattern.matches(v, values, captures, labels) for v in labels.get(key, ())):
                return False
        return True


def _compile_rule(index: int, rule: AclRule) -> CompiledRule:
    match = rule.match
    patterns = {
        field: compile_pattern(text) if text is not None else None
        for field, text in (
            ("account", match.account),
            ("type", match.type),
            ("name", match.name),
            ("service", match.service),
        )
    }
    sources = [t for t in (match.account, match.type, match.name, match.service) if t]
    sources += list(match.labels.values())
    capture_fields = tuple(sorted({m.group(1) for s in sources for m in _CAPTURE.finditer(s)}))
    permitted = None if "*" in rule.actions else frozenset(rule.actions)
    return CompiledRule(
        index=index,
        comment=rule.comment,
        account=patterns["account"],
        type=patterns["type"],
        name=patterns["name"],
        service=patterns["service"],
        network=parse_ip_pattern(match.ip) if match.ip is not None else None,
        labels=tuple((k, compile_pattern(v)) for k, v in match.labels.items()),
        permitted=permitted,
        capture_fields=capture_fields,
        named_actions=frozenset(rule.actions) - KNOWN_ACTIONS,
    )


def compile_rules(rules: Sequence[AclRule]) -> list[CompiledRule]:
    return [_compile_rule(i, rule) for i, rule in enumerate(rules)]


def _name_key(pattern: Pattern | None) -> str | None:
    """The literal first path segment every name matching the pattern starts with, if any."""
    if pattern is None or pattern.regex:
        return None
    source = pattern.source
    segment, slash, _ = source.partition("/")
    if _WILDCARD.search(segment):
        return None
    if slash or pattern.literal is not None:
        return segment
    return None


def _rule_index(rule: CompiledRule) -> int:
    return rule.index


def _first_segment(name: str) -> str:
    return name.partition("/")[0]


class AclAuthorizer:
    """First-match-wins ACL. A matching rule decides, even when it grants nothing."""

    name = "acl"
    #: the rules come from the configuration and never change while the process runs
    generation = 0

    def __init__(self, rules: Iterable[CompiledRule]) -> None:
        self._rules = list(rules)
        self._buckets: dict[tuple[str | None, str | None], list[CompiledRule]] = defaultdict(list)
        for rule in self._rules:
            account_key = rule.account.literal if rule.account is not None else None
            self._buckets[(account_key, _name_key(rule.name))].append(rule)
        self._candidate_cache: dict[tuple[str, str], tuple[CompiledRule, ...]] = {}
        self._decisions: dict[tuple[object, ...], Decision | None] = {}
        self._seen = SecondSight(4 * DECISION_CACHE_SIZE)

    @classmethod
    def from_config(cls, rules: Sequence[AclRule]) -> AclAuthorizer:
        return cls(compile_rules(rules))

    @property
    def rules(self) -> list[CompiledRule]:
        return self._rules

    def _candidates(self, account: str, name: str) -> tuple[CompiledRule, ...]:
        """The rules that can match this account and first path segment, in rule order.

        Computed once per (account, segment) and remembered (bounded): the buckets narrow
        literal accounts and names, and rules whose account pattern is static (a glob or a
        regex without placeholders) and does not match the account are dropped, so even
        thousands of regex rules cost one scan per account instead of one per request.
        """
        segment = _first_segment(name)
        key = (account, segment)
        cached = self._candidate_cache.get(key)
        if cached is not None:
            return cached
        get = self._buckets.get
        lists = [
            lst
            for lst in (
                get((account, segment)),
                get((account, None)),
                get((None, segment)),
                get((None, None)),
            )
            if lst
        ]
        merged = lists[0] if len(lists) == 1 else heapq.merge(*lists, key=_rule_index)
        candidates = tuple(rule for rule in merged if rule.may_match_account(account))
        if len(self._candidate_cache) >= CANDIDATE_CACHE_SIZE:
            self._candidate_cache.pop(next(iter(self._candidate_cache)))
        self._candidate_cache[key] = candidates
        return candidates

    def decide(self, context: AccessContext, scope: Scope) -> Decision | None:
        """The first matching rule's decision. The rules never change, so a decision depends
        only on who asks, from where, and what; it is remembered (bounded) once the same
        question comes a second time."""
        identity = context.identity
        labels = identity.labels
        key = (
            identity.subject,
            context.service,
            context.client_ip,
            scope,
            tuple(sorted(labels.items())) if labels else (),
        )
        try:
            return self._decisions[key]
        except KeyError:
            pass
        decision = self._decide(context, scope)
        if self._seen.admit(key):
            if len(self._decisions) >= DECISION_CACHE_SIZE:
                self._decisions.pop(next(iter(self._decisions)))
            self._decisions[key] = decision
        return decision

    def _decide(self, context: AccessContext, scope: Scope) -> Decision | None:
        for rule in self._candidates(context.identity.subject, scope.name):
            if rule.matches(context, scope):
                return Decision(
                    scope=scope,
                    granted=rule.grants(scope),
                    decided_by=rule.label,
                    comment=rule.comment,
                )
        return None

    async def authorize(self, context: AccessContext, scope: Scope) -> Decision | None:
        return self.decide(context, scope)


@functools.lru_cache(maxsize=4096)
def client_address(value: str | None) -> IpAddress | None:
    """Parse a client address, folding IPv4-mapped IPv6 addresses to IPv4 (remembered: the
    same few peers ask again and again, and parsing costs more than the rest of the lookup)."""
    if not value:
        return None
    try:
        address = ipaddress.ip_address(value.strip().strip("[]"))
    except ValueError:
        return None
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped
    return address
