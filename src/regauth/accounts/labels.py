"""Labels of database users: set some keys, remove others, in one transaction.

Labels are what docker_auth calls them: a key with one or more values (``group: [dev, ops]``),
which ACL rules read as ``${labels:group}`` and ``match: {labels: {group: dev}}``. A change is
logged like any change of the user, so every process drops the user's cached logins and the
next token carries the new labels.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence

from regauth.accounts.errors import InvalidInput
from regauth.accounts.store_access import StoreAccess, find_user, log_change
from regauth.store.user_labels import Labels, labels_of, replace_labels

__all__ = ["MAX_LABEL_KEYS", "MAX_LABEL_VALUES", "UserLabels", "check_labels"]

MAX_LABEL_KEYS = 32
MAX_LABEL_VALUES = 64
_KEY = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.-]{0,63}")


def check_labels(labels: Mapping[str, Sequence[str] | str]) -> Labels:
    """Labels as key -> values (a single value may be given as a string), checked."""
    if len(labels) > MAX_LABEL_KEYS:
        raise InvalidInput(f"at most {MAX_LABEL_KEYS} label keys")
    checked: Labels = {}
    for key, given in labels.items():
        if not isinstance(key, str) or not _KEY.fullmatch(key):
            raise InvalidInput(
                f"invalid label key {str(key)[:80]!r}: 1 to 64 letters, digits, '_', '.' or '-'"
            )
        values = [given] if isinstance(given, str) else list(given)
        if not values:
            raise InvalidInput(f"label {key!r}: give at least one value")
        if len(values) > MAX_LABEL_VALUES:
            raise InvalidInput(f"label {key!r}: at most {MAX_LABEL_VALUES} values")
        for value in values:
            if (
                not isinstance(value, str)
                or not value
                or len(value) > 256
                or any(ord(c) < 0x20 or c == "\x7f" for c in value)
            ):
                raise InvalidInput(
                    f"label {key!r}: each value must have 1 to 256 printable characters"
                )
        checked[key] = list(dict.fromkeys(values))
    return checked


class UserLabels(StoreAccess):
    def change_labels(
        self,
        username: str,
        *,
        set_labels: Mapping[str, Sequence[str] | str] | None = None,
        remove: Iterable[str] = (),
        replace: bool = False,
    ) -> Labels:
        """Give keys new values and remove keys; ``replace`` drops every key not in
        ``set_labels``. Returns the user's labels after the change."""
        given = check_labels(set_labels or {})
        removed = list(remove)
        both = sorted(set(given) & set(removed))
        if both:
            raise InvalidInput(f"label {both[0]!r} is both set and removed")
        with self._db.write() as session:
            user = find_user(session, username)
            current = {} if replace else labels_of(session, user.id)
            for key in removed:
                current.pop(key, None)
            current.update(given)
            check_labels(current)
            replace_labels(session, user.id, current)
            user.updated_at = self._clock()
            log_change(session, "user", [username])
            return current
