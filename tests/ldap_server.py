"""A throwaway OpenLDAP ``slapd`` for tests (recipe: shared/docs/test-peers.md).

:class:`LdapServer` writes its own ``slapd.conf`` (back_mdb, the memberOf overlay, the core,
cosine, inetorgperson and nis schemas, a monitor database for counting connections), loads the
base entries offline with ``slapadd``, and runs ``slapd -d 0`` in the foreground on two free
loopback ports: ``ldap://`` (StartTLS offered) and ``ldaps://``, both with a certificate from a
test CA (``tests.e2e.peers.make_test_ca``). Users and groups are added online with
``ldapadd`` so that the memberOf overlay fills ``memberOf``. Stopped by its PID.

The directory::

    dc=example,dc=com
      ou=people     users (inetOrgPerson, {SSHA} passwords, mail)
      ou=groups     groups (groupOfNames)
      ou=services   cn=reader: the service account (read access to everything but passwords)

Tests share one server per module; each test adds users and groups with names of its own
(:meth:`LdapServer.unique`), so tests do not see each other's entries.

Requires ``apt-get install -y slapd ldap-utils`` (``DEBIAN_FRONTEND=noninteractive``); a
missing binary is an error naming the packages, never a skip.
"""

from __future__ import annotations

import base64
import hashlib
import itertools
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType

from tests.e2e.peers import make_test_ca

__all__ = ["SUFFIX", "LdapServer", "LdapUser", "make_ca", "ssha"]

SUFFIX = "dc=example,dc=com"
ADMIN_DN = f"cn=admin,{SUFFIX}"
SERVICE_DN = f"cn=reader,ou=services,{SUFFIX}"
PEOPLE = f"ou=people,{SUFFIX}"
GROUPS = f"ou=groups,{SUFFIX}"
SCHEMAS = ("core", "cosine", "inetorgperson", "nis")
PACKAGES = "apt-get install -y slapd ldap-utils  (with DEBIAN_FRONTEND=noninteractive)"
_counter = itertools.count(1)


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def ssha(password: str) -> str:
    """An OpenLDAP ``{SSHA}`` userPassword value (salted SHA-1, what slappasswd makes)."""
    salt = os.urandom(8)
    digest = hashlib.sha1(password.encode() + salt).digest()
    return "{SSHA}" + base64.b64encode(digest + salt).decode()


def _find(name: str) -> str:
    for folder in ("/usr/sbin", "/usr/bin"):
        candidate = Path(folder) / name
        if candidate.exists():
            return str(candidate)
    found = shutil.which(name)
    if found is None:
        raise FileNotFoundError(f"{name} not found; install it with: {PACKAGES}")
    return found


# ------------------------------------------------------------------------------ certificates


def make_ca(directory: Path, name: str = "ca") -> tuple[Path, Path, Path]:
    """A CA and a server certificate for 127.0.0.1 and localhost signed by it (the e2e
    tests' CA, in ``directory/NAME``); returns the CA, server certificate and key paths. Call
    it twice with different names for a CA the server does not use."""
    ca = make_test_ca(directory / name)
    return ca.ca_cert, ca.server_cert, ca.server_key


# ------------------------------------------------------------------------------ slapd


@dataclass(frozen=True)
class LdapUser:
    uid: str
    password: str
    dn: str
    mail: str | None


def _conf(root: Path, cert: Path, key: Path, ca: Path, admin_password: str) -> str:
    schemas = "\n".join(f"include /etc/ldap/schema/{s}.schema" for s in SCHEMAS)
    return f"""\
{schemas}
modulepath /usr/lib/ldap
moduleload back_mdb
moduleload memberof
pidfile {root}/slapd.pid
argsfile {root}/slapd.args
TLSCACertificateFile {ca}
TLSCertificateFile {cert}
TLSCertificateKeyFile {key}
sizelimit 500

database mdb
suffix "{SUFFIX}"
rootdn "{ADMIN_DN}"
rootpw {ssha(admin_password)}
directory {root}/data
maxsize 67108864
index objectClass eq
index uid,cn,mail eq
index member eq
overlay memberof
memberof-group-oc groupOfNames
memberof-member-ad member
memberof-memberof-ad memberOf
memberof-refint TRUE
access to attrs=userPassword
    by self write
    by anonymous auth
    by * none
access to *
    by dn.exact="{SERVICE_DN}" read
    by self read
    by users read
    by * none

database monitor
access to *
    by dn.exact="{ADMIN_DN}" read
    by * none
"""


def _base_ldif(service_password: str) -> str:
    return f"""\
dn: {SUFFIX}
objectClass: dcObject
objectClass: organization
dc: example
o: Example

dn: {PEOPLE}
objectClass: organizationalUnit
ou: people

dn: {GROUPS}
objectClass: organizationalUnit
ou: groups

dn: ou=services,{SUFFIX}
objectClass: organizationalUnit
ou: services

dn: {SERVICE_DN}
objectClass: applicationProcess
objectClass: simpleSecurityObject
cn: reader
userPassword: {ssha(service_password)}
"""


class LdapServer:
    """slapd on two free loopback ports (``ldap://`` with StartTLS, and ``ldaps://``)."""

    admin_dn = ADMIN_DN
    service_dn = SERVICE_DN
    suffix = SUFFIX
    people = PEOPLE
    groups = GROUPS

    def __init__(self, root: Path) -> None:
        self.root = root
        self.root.mkdir(parents=True, exist_ok=True)
        self.admin_password = "admin-" + base64.b32encode(os.urandom(10)).decode().lower()
        self.service_password = "reader-" + base64.b32encode(os.urandom(10)).decode().lower()
        self.ca_file, self.cert_file, self.key_file = make_ca(root / "tls", "ca")
        self.port = free_port()
        self.ldaps_port = free_port()
        self.conf = root / "slapd.conf"
        self.log_path = root / "slapd.log"
        self._process: subprocess.Popen[bytes] | None = None
        #: monitor questions asked since the server (re)started: each is a connection and a bind
        self._questions = 0
        self._slapd = _find("slapd")
        self._slapadd = _find("slapadd")
        _find("ldapadd")

    @property
    def url(self) -> str:
        return f"ldap://127.0.0.1:{self.port}"

    @property
    def ldaps_url(self) -> str:
        return f"ldaps://127.0.0.1:{self.ldaps_port}"

    @property
    def pid(self) -> int | None:
        return self._process.pid if self._process is not None else None

    @property
    def running(self) -> bool:
        return self._process is not None and self._process.poll() is None

    # -------------------------------------------------------------------- lifecycle

    def start(self) -> LdapServer:
        if self._process is not None:
            return self
        data = self.root / "data"
        if not data.exists():
            data.mkdir()
            self.conf.write_text(
                _conf(self.root, self.cert_file, self.key_file, self.ca_file, self.admin_password)
            )
            base = self.root / "base.ldif"
            base.write_text(_base_ldif(self.service_password))
            subprocess.run(
                [self._slapadd, "-f", str(self.conf), "-l", str(base)],
                check=True,
                capture_output=True,
            )
        with self.log_path.open("ab") as log:
            self._process = subprocess.Popen(
                [
                    self._slapd,
                    "-d",
                    "0",
                    "-f",
                    str(self.conf),
                    "-h",
                    f"{self.url}/ {self.ldaps_url}/",
                ],
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        self._questions = 0
        self._wait_ready()
        return self

    def _wait_ready(self, timeout: float = 10.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            assert self._process is not None
            if self._process.poll() is not None:
                raise RuntimeError(
                    f"slapd exited with {self._process.returncode}:\n{self.log_text()[-3000:]}"
                )
            if all(self._answers(port) for port in (self.port, self.ldaps_port)):
                return
            time.sleep(0.01)
        self.stop()
        raise RuntimeError(f"slapd did not start within {timeout}s:\n{self.log_text()[-3000:]}")

    @staticmethod
    def _answers(port: int) -> bool:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                return True
        except OSError:
            return False

    def stop(self, timeout: float = 10.0) -> None:
        """SIGTERM by PID (slapd shuts down cleanly), SIGKILL if it does not exit."""
        process, self._process = self._process, None
        if process is None or process.poll() is not None:
            return
        os.kill(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout)
        except subprocess.TimeoutExpired:
            os.kill(process.pid, signal.SIGKILL)
            process.wait(timeout)

    def restart(self) -> None:
        """Stop and start again on the same ports with the same data (open connections die)."""
        self.stop()
        self.start()

    def log_text(self) -> str:
        try:
            return self.log_path.read_text(errors="replace")
        except FileNotFoundError:
            return ""

    def __enter__(self) -> LdapServer:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    @classmethod
    @contextmanager
    def running_in(cls, root: Path | None = None) -> Iterator[LdapServer]:
        """Start a server in ``root`` (a new temporary folder by default), stop it at the end."""
        if root is None:
            folder = Path(tempfile.mkdtemp(prefix="regauth-slapd-"))
            try:
                with cls(folder) as server:
                    yield server
            finally:
                shutil.rmtree(folder, ignore_errors=True)
        else:
            with cls(root) as server:
                yield server

    # -------------------------------------------------------------------- content

    def _tool(self, tool: str, ldif: str) -> None:
        result = subprocess.run(
            [
                _find(tool),
                "-x",
                "-H",
                self.url,
                "-D",
                self.admin_dn,
                "-y",
                str(self._admin_password_file()),
            ],
            input=ldif.encode(),
            capture_output=True,
            check=False,
        )
        if result.returncode != 0:
            raise RuntimeError(f"{tool} failed ({result.returncode}): {result.stderr.decode()}")

    def _admin_password_file(self) -> Path:
        path = self.root / "admin.pw"
        if not path.exists():
            path.write_text(self.admin_password)  # -y reads the whole file, no newline
            path.chmod(0o600)
        return path

    def add(self, ldif: str) -> None:
        """``ldapadd`` as the admin (through the running server, so memberOf is kept)."""
        self._tool("ldapadd", ldif)

    def modify(self, ldif: str) -> None:
        self._tool("ldapmodify", ldif)

    @staticmethod
    def unique(prefix: str) -> str:
        """A name no other test uses: ``prefix`` plus a per-process counter and the PID."""
        return f"{prefix}{next(_counter)}x{os.getpid() % 10000}"

    def add_user(
        self,
        uid: str,
        password: str,
        *,
        mail: str | None = None,
        extra: Iterable[tuple[str, str]] = (),
        parent: str = PEOPLE,
    ) -> LdapUser:
        dn = f"uid={uid},{parent}"
        lines = [
            f"dn: {dn}",
            "objectClass: inetOrgPerson",
            f"uid: {uid}",
            f"cn: {uid}",
            f"sn: {uid}",
            f"userPassword: {ssha(password)}",
        ]
        if mail is not None:
            lines.append(f"mail: {mail}")
        lines += [f"{name}: {value}" for name, value in extra]
        self.add("\n".join(lines) + "\n")
        return LdapUser(uid, password, dn, mail)

    def add_group(self, cn: str, members: Iterable[LdapUser | str]) -> str:
        """A groupOfNames; ``members`` are users or DNs (at least one: the schema wants it)."""
        dns = [m.dn if isinstance(m, LdapUser) else m for m in members]
        if not dns:
            raise ValueError("a groupOfNames needs at least one member")
        dn = f"cn={cn},{GROUPS}"
        lines = [f"dn: {dn}", "objectClass: groupOfNames", f"cn: {cn}"]
        lines += [f"member: {m}" for m in dns]
        self.add("\n".join(lines) + "\n")
        return dn

    def remove_member(self, group_dn: str, member: LdapUser) -> None:
        self.modify(f"dn: {group_dn}\nchangetype: modify\ndelete: member\nmember: {member.dn}\n")

    def set_password(self, user: LdapUser, password: str) -> LdapUser:
        self.modify(
            f"dn: {user.dn}\nchangetype: modify\nreplace: userPassword\n"
            f"userPassword: {ssha(password)}\n"
        )
        return LdapUser(user.uid, password, user.dn, user.mail)

    # -------------------------------------------------------------------- monitor

    def _monitor(self, dn: str, attribute: str) -> int:
        self._questions += 1
        result = subprocess.run(
            [
                _find("ldapsearch"),
                "-x",
                "-LLL",
                "-H",
                self.url,
                "-D",
                self.admin_dn,
                "-y",
                str(self._admin_password_file()),
                "-b",
                dn,
                "-s",
                "base",
                attribute,
            ],
            capture_output=True,
            text=True,
            check=True,
        )
        for line in result.stdout.splitlines():
            name, _, value = line.partition(": ")
            if name.lower() == attribute.lower():
                return int(value)
        raise RuntimeError(f"no {attribute} in {dn}: {result.stdout!r}")

    def total_connections(self) -> int:
        """Connections accepted since (re)start (cn=Total,cn=Connections,cn=Monitor), not
        counting those of these monitor questions. Compare two readings around the code
        under test; setting up users and groups connects and binds too."""
        return (
            self._monitor("cn=Total,cn=Connections,cn=Monitor", "monitorCounter") - self._questions
        )

    def binds(self) -> int:
        """Bind operations completed since (re)start, not counting these monitor questions."""
        return (
            self._monitor("cn=Bind,cn=Operations,cn=Monitor", "monitorOpCompleted")
            - self._questions
        )
