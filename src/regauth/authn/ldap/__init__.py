"""Users of an LDAP directory or Active Directory, with their groups (the ``ldap:`` section).

The backend in layers, each importing only the ones above it:

* :mod:`~regauth.authn.ldap.errors`: :class:`LdapConfigError` and the "directory
  unavailable" error every failure becomes;
* :mod:`~regauth.authn.ldap.syntax`: values escaped into filters and DNs, group names read
  from DNs (pure);
* :mod:`~regauth.authn.ldap.pool`: TLS, the kept connections, the order servers are tried in;
* :mod:`~regauth.authn.ldap.directory`: :class:`LdapDirectory`, which finds a user, binds as
  them and reads their groups (blocking, on worker threads);
* :mod:`~regauth.authn.ldap.authenticator`: :class:`LdapAuthenticator`, the chain's ``ldap``
  backend, which turns directory users into identities and keeps their accounts and groups.
"""

from regauth.authn.ldap.authenticator import SOURCE, LdapAuthenticator
from regauth.authn.ldap.directory import DirectoryUser, LdapDirectory
from regauth.authn.ldap.errors import LdapConfigError
from regauth.authn.ldap.syntax import group_filter, group_name_from_dn, user_dn, user_filter

__all__ = [
    "SOURCE",
    "DirectoryUser",
    "LdapAuthenticator",
    "LdapConfigError",
    "LdapDirectory",
    "group_filter",
    "group_name_from_dn",
    "user_dn",
    "user_filter",
]
