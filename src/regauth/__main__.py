"""``python -m regauth`` is the ``regauth`` command."""

from regauth.cli import main

main()
