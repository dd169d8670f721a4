"""The ``regauth`` command. Heavy modules are imported inside commands so ``--help`` is quick.

Exit status: 0 success, 1 a negative answer (``policy explain`` found a denial), 2 bad input or
configuration (one line naming the problem on stderr).
"""

from regauth.cli.common import main

# the subcommands register themselves on ``main``
from regauth.cli import (  # noqa: F401  isort: skip
    audit,
    backup,
    database,
    grants,
    groups,
    imports,
    keys,
    lockouts,
    registry_events,
    robots,
    server,
    sessions,
    tokens,
    users,
)

__all__ = ["main"]
