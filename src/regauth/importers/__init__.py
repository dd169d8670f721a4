"""Moving to regauth from other token servers: their files in, regauth's shapes out.

    docker_auth  a cesanta/docker_auth configuration -> a regauth configuration (checked by
                 regauth's own parser), the users with their bcrypt hashes and labels, and
                 every setting with no equivalent, with what to do instead
    keycloak     a Keycloak realm export -> users with their PBKDF2 hashes (verified at the
                 next login and replaced by argon2id), email, enabled state and groups

Nothing here writes: the ``regauth import`` commands write the file and the database.
"""

from regauth.importers.docker_auth import (
    Conversion,
    Note,
    UnreadableFile,
    convert_docker_auth,
    read_docker_auth,
    render_config,
    users_of,
)
from regauth.importers.keycloak import RealmImport, read_realm_export

__all__ = [
    "Conversion",
    "Note",
    "RealmImport",
    "UnreadableFile",
    "convert_docker_auth",
    "read_docker_auth",
    "read_realm_export",
    "render_config",
    "users_of",
]
