"""schemathesis over the admin API's OpenAPI document, against a real ``regauth serve``.

Every operation of ``/api/v1/openapi.json`` gets generated requests, valid and invalid, sent
with an administrator's personal access token; schemathesis checks each answer: never a 5xx,
status codes, headers, content types and bodies as the document says, schema-valid requests
accepted and invalid ones refused. The document must therefore say what the API accepts.
"""

from __future__ import annotations

import asyncio
import json
import re
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import schemathesis
from hypothesis import assume
from schemathesis import GenerationMode
from schemathesis.checks import positive_data_acceptance

from regauth.config import parse_config
from regauth.datadir import DataDir
from regauth.runtime import build_runtime
from regauth.web.api import create_admin_api
from tests.fuzz.support import ADMIN_API_OPERATIONS, count, fuzz
from tests.regauth_process import RegauthServer, run_regauth

ADMIN = "fuzz-admin"
#: the documented rules a schema cannot state, by the words of their 400 answer
BUSINESS_RULES = re.compile(
    r"the expiry must be in the future|more than 100 years away|longer than 36500d"
    r"|out of range|appears more than once|not an expiry"
    # a key pair to import must be PEM that parses, and fit together
    r"|not an unencrypted PEM|holds no PEM certificate|is not for the key|only EC P-256 and RSA"
    r"|needs a P-256|needs an RSA key|at least 2048 bits|only with private_key"
    # an address that is a network rather than one address or an IPv6 /64
    r"|is a network: addresses are counted"
    # registry events: since/until are a duration or a moment; a cursor is one a page gave out
    r"|query\.(since|until): not a time|cursor: not a cursor this server gave out"
    # a federated robot: https issuers (http on loopback only), claims regauth checks itself
    r"|invalid issuer|must be https://|cannot be a condition|at most 20 claim conditions"
    r"|invalid audience"
)
#: seconds one answer may take (a password to hash is the slowest: tens of milliseconds)
ANSWER_BOUND = 10.0


class AdminServer:
    def __init__(self, server: RegauthServer, token: str, token_id: int) -> None:
        self.server = server
        self.token = token
        self.token_id = token_id


@pytest.fixture(scope="module")
def admin_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[AdminServer]:
    workdir: Path = tmp_path_factory.mktemp("admin-api-fuzz")
    data = str(workdir / "regauth-data")
    (workdir / "regauth-data").mkdir()  # admin commands use a data folder, never make one
    run_regauth(
        "user", "add", ADMIN, "--admin", "--data-dir", data, cwd=workdir, input="pw\n", check=True
    )
    created = run_regauth(
        "token",
        "create",
        "--user",
        ADMIN,
        "--name",
        "fuzz",
        "--json",
        "--data-dir",
        data,
        cwd=workdir,
        check=True,
    )
    token = json.loads(created.stdout)
    _TOKEN["secret"] = token["secret"]
    # schemathesis sends many invalid tokens on purpose; the guessing limits would soon slow
    # this address and every valid request after them (tests/integration/test_guessing_limits.py
    # covers that behaviour)
    with RegauthServer(workdir, extra_env={"REGAUTH_BRUTE_FORCE__ENABLED": "false"}) as server:
        yield AdminServer(server, token["secret"], token["id"])
        assert "Traceback" not in server.errors()


def _openapi_document() -> dict[str, Any]:
    """The document the server serves, built in process (the test below checks they agree):
    the operations must be known when pytest collects them."""
    with tempfile.TemporaryDirectory() as folder:
        runtime = build_runtime(parse_config({}, environ={}), DataDir(Path(folder)))
        try:
            return create_admin_api(runtime).openapi()
        finally:
            asyncio.run(runtime.stop())


DOCUMENT = _openapi_document()
schema = schemathesis.openapi.from_dict(DOCUMENT)
#: the token the module's server accepts, set by the admin_server fixture
_TOKEN = {"secret": ""}


@schema.auth()
class AdminToken:
    """Authentication as schemathesis knows it, so its own checks can also leave it out
    (and expect 401)."""

    def get(self, case: Any, context: Any) -> str:
        return _TOKEN["secret"]

    def set(self, case: Any, data: str, context: Any) -> None:
        case.headers = {**(case.headers or {}), "Authorization": f"Bearer {data}"}


def _spares_the_administrator(case: Any, admin: AdminServer) -> bool:
    """A case that would delete, demote or disable the administrator, or revoke the token
    the run authenticates with, is skipped (the API allows it; the run would stop)."""
    values = {str(v) for v in (case.path_parameters or {}).values()}
    if ADMIN in values:
        return False
    return not (case.path == "/api/v1/tokens/{token_id}" and str(admin.token_id) in values)


@schema.parametrize()
@fuzz("admin_api")
def test_admin_api(case: Any, admin_server: AdminServer) -> None:
    assume(_spares_the_administrator(case, admin_server))
    count()
    # a schema-valid request may still break a rule no schema can state (an expiry in the
    # past, a user twice in one import): then it is a 400 that says which, checked below
    response = case.call_and_validate(
        base_url=admin_server.server.url,
        timeout=ANSWER_BOUND,
        excluded_checks=[positive_data_acceptance],
    )
    if case.meta is not None and case.meta.generation.mode is GenerationMode.POSITIVE:
        status = response.status_code
        assert (
            status < 400
            or status in (401, 403, 404, 409, 429)
            or (status == 400 and BUSINESS_RULES.search(response.json().get("message", "")))
        ), (
            f"{case.method} {case.formatted_path}: a schema-valid request got {status}: {response.text[:300]}"
        )


def test_the_server_serves_the_document(admin_server: AdminServer) -> None:
    with admin_server.server.client() as client:
        served = client.get("/api/v1/openapi.json")
    assert served.status_code == 200
    assert served.json() == json.loads(json.dumps(DOCUMENT))


def test_operation_count() -> None:
    """support.ADMIN_API_OPERATIONS sizes bench/fuzz.py's budget: keep it the document's."""
    operations = [
        method for item in DOCUMENT["paths"].values() for method in item if method != "parameters"
    ]
    assert len(operations) == ADMIN_API_OPERATIONS
