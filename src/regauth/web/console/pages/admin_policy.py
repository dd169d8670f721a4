"""``/admin/policy``: the policy tester, the page form of ``regauth policy explain``.

An account (empty for anonymous, ``robot+NAME`` for a robot), labels (``KEY=VALUE`` lines),
groups, a client address, a service and scopes give, per scope, what is granted and denied and
which rule decided: :func:`regauth.explain.explain_scopes` with the running configuration and
data folder, so the answer is the command's, word for word (run on a thread of its own, since
it opens the database and loads every grant as the command does). The form is a GET: testing changes
nothing, and a link to an answer can be shared.
"""

from __future__ import annotations

import asyncio

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from regauth.explain import ExplainReport, explain_scopes
from regauth.protocol.errors import ProtocolError
from regauth.runtime import StartupError
from regauth.web.console.context import Console

__all__ = ["parse_labels", "routes"]

MAX_TEXT = 8192
MAX_SCOPES = 50


def parse_labels(text: str) -> dict[str, list[str]]:
    """``KEY=VALUE`` per line (blank lines skipped); a key may repeat. ValueError otherwise."""
    labels: dict[str, list[str]] = {}
    for number, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        key, sep, value = line.strip().partition("=")
        if not sep or not key.strip():
            raise ValueError(f"line {number}: expected KEY=VALUE")
        labels.setdefault(key.strip(), []).append(value.strip())
    return labels


def _groups(text: str) -> list[str]:
    return [g.strip() for g in text.replace(",", "\n").splitlines() if g.strip()]


def routes(console: Console) -> list[BaseRoute]:
    async def policy(request: Request) -> Response:
        viewer = await console.require_admin(request)
        query = request.query_params
        values = {
            name: query.get(name, "")[:MAX_TEXT]
            for name in ("account", "labels", "groups", "address", "service", "scopes")
        }
        services = list(console.config.token.service)
        errors: dict[str, str] = {}
        report: ExplainReport | None = None
        status = 200
        if "scopes" in query:  # the form was submitted
            scopes = values["scopes"].split()
            labels: dict[str, list[str]] = {}
            try:
                labels = parse_labels(values["labels"])
            except ValueError as error:
                errors["labels"] = str(error)
            if not scopes:
                errors["scopes"] = "Enter a scope, such as repository:team/app:pull,push."
            elif len(scopes) > MAX_SCOPES:
                errors["scopes"] = f"At most {MAX_SCOPES} scopes."
            if values["service"] and values["service"] not in services:
                errors["service"] = "Choose a configured service."
            if not errors:
                try:
                    explaining = explain_scopes(
                        console.runtime.config,
                        console.runtime.data_dir,
                        account=values["account"].strip(),
                        labels=labels,
                        groups=_groups(values["groups"]),
                        service=values["service"] or None,
                        client_ip=values["address"].strip() or None,
                        scopes=scopes,
                    )
                    # it opens the database and loads every grant: off the event loop
                    report = await asyncio.to_thread(asyncio.run, explaining)
                except ProtocolError as error:
                    field = "address" if "--ip" in error.message else "scopes"
                    errors[field] = error.message.replace("--ip: ", "")
                except (ValueError, StartupError) as error:
                    errors["scopes"] = str(error)
            if errors:
                status = 400
        return console.render(
            request,
            "admin/policy.html",
            viewer=viewer,
            status=status,
            active="admin-policy",
            values=values,
            services=services,
            errors=errors,
            report=report,
        )

    return [Route(console.route("/admin/policy"), policy, methods=["GET", "HEAD"])]
