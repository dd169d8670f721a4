"""``docker-credential-regauth``: registry credentials without stored secrets.

    protocol     the docker credential helper protocol (get, store, erase, list) on stdin/stdout
    hosts        registry addresses as the clients write them, normalised
    discovery    regauth's address from the registry's own ``WWW-Authenticate`` challenge
    secrets      where the device session is kept: the OS keyring, else a file only the user reads
    client_files ``credHelpers`` in ``~/.docker/config.json`` and the containers ``auth.json``
    device_login the device sign-in (RFC 8628) as the machine runs it
    commands     get / store / erase / list / login / logout, and ``main``

Nothing it writes or prints holds a long-lived secret except the device session in its
protected store: ``get`` hands the clients a personal access token of a few minutes, cached
until shortly before it expires and renewed from the device session without a prompt.
"""

import sys

from regauth.credential_helper.commands import main

__all__ = ["main"]


def _run() -> None:
    """The console script's entry point."""
    sys.exit(main())
