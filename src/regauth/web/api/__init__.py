"""The admin REST API under ``{server.path_prefix}/api/v1``: users, groups, grants, robots, tokens.

A thin adapter: each route validates its JSON with a strict pydantic model (unknown fields are
errors), calls one :class:`regauth.accounts.AccountService` operation on the database threads and
returns the operation's view as JSON. Validation, cache invalidation and the change log stay in
the service, shared with the CLI.

* :mod:`.gate`: authentication and error handling. :class:`AdminGate` authenticates an
  administrator's personal access token for every path but the OpenAPI document and its docs
  page (so unknown paths are 401, not 404, to strangers), bounds the body to :data:`MAX_BODY`
  bytes (413 beyond), turns anything unexpected into a JSON 500 without a traceback and logs
  one ``admin`` event per request, never a secret. Errors are always
  ``{"error": "<code>", "message": "<sentence>"}``: 400 for any bad input (validation,
  malformed JSON; never FastAPI's 422), 401/403 for credentials, 404, 405, 409, 413, 503 when
  the database is unavailable.
* :mod:`.routing`: what every resource router shares (the administrator's context, the
  documented errors, parameter types); :mod:`.bodies`: the JSON bodies; :mod:`.timestamps`:
  times and expiries given in requests.
* One router per resource: :mod:`.users`, :mod:`.groups`, :mod:`.grants`, :mod:`.robots`,
  :mod:`.tokens` (personal access tokens), :mod:`.refresh_tokens`, :mod:`.audit`,
  :mod:`.whoami`. A new resource is a new module here, listed in :mod:`.app`.
* :mod:`.openapi`: the OpenAPI document; :mod:`.app`: :func:`create_admin_api`.

This package imports FastAPI; :mod:`regauth.web.app` imports it only when the API is first used.
"""

from __future__ import annotations

from regauth.web.api.app import create_admin_api
from regauth.web.api.gate import MAX_BODY, AdminGate

__all__ = ["MAX_BODY", "AdminGate", "create_admin_api"]
