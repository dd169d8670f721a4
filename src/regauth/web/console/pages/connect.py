"""``GET``/``POST /connect``: ready-to-paste login commands for the registry's public address.

``GET`` shows ``docker login``, ``podman login``, ``skopeo login`` and a Kubernetes
``imagePullSecret`` command that prompt for a password. ``POST`` makes a personal access token
(named "console connect <time>", lasting ``console.connect_token_lifetime``) and shows the
same commands with it filled in (``--password-stdin``), once. An account without a database
row (a static or htpasswd user) holds no tokens: it keeps the prompting commands, with why.
The commands name ``registry.public_url``'s host; without it the page says how to set it.
"""

from __future__ import annotations

import datetime
import shlex
from dataclasses import dataclass

import structlog
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from regauth.accounts import AccountError, Created, NotFound, TokenView
from regauth.web.console.context import Console, PageError, Viewer
from regauth.web.console.pages.own import NO_ROW, apply_change

__all__ = ["ClientCommand", "lifetime_text", "login_commands", "routes"]

log = structlog.get_logger("regauth.console")

#: the Kubernetes secret the command creates (pods name it in ``imagePullSecrets``)
SECRET_NAME = "regcred"  # noqa: S105 - a Kubernetes object's name, not a secret
#: the shell variable the prompting Kubernetes command reads the password into
_PASSWORD_VARIABLE = "REGISTRY_PASSWORD"  # noqa: S105 - a variable's name, not a password


@dataclass(frozen=True)
class ClientCommand:
    key: str
    title: str
    text: str


def login_commands(host: str, username: str, secret: str | None) -> list[ClientCommand]:
    """The commands for ``host`` (already shell-safe): with ``secret`` filled in, or prompting."""
    user = shlex.quote(username)
    commands: list[ClientCommand] = []
    for key, title, program in (
        ("docker", "Docker", "docker login"),
        ("podman", "Podman", "podman login"),
        ("skopeo", "Skopeo", "skopeo login"),
    ):
        if secret is None:
            text = f"{program} --username {user} {host}"
        else:
            login = f"{program} --username {user} --password-stdin {host}"
            text = f"echo {shlex.quote(secret)} | {login}"
        commands.append(ClientCommand(key, title, text))
    kubectl = (
        f"kubectl create secret docker-registry {SECRET_NAME} --docker-server={host} "
        f"--docker-username={user} --docker-password="
    )
    if secret is None:
        text = (
            f"read -rs -p 'Password: ' {_PASSWORD_VARIABLE}; echo\n"
            f'{kubectl}"${_PASSWORD_VARIABLE}"'
        )
    else:
        text = kubectl + shlex.quote(secret)
    commands.append(ClientCommand("kubernetes", "Kubernetes (imagePullSecret)", text))
    return commands


def lifetime_text(lifetime: datetime.timedelta) -> str:
    """``30 days``, ``12 hours``, ``90 minutes``: the token's lifetime in words."""
    seconds = int(lifetime.total_seconds())
    for size, unit in ((86400, "day"), (3600, "hour"), (60, "minute"), (1, "second")):
        if seconds % size == 0:
            count = seconds // size
            return f"{count} {unit}{'s' if count != 1 else ''}"
    return f"{seconds} seconds"  # pragma: no cover - the loop always returns


def _host(console: Console) -> tuple[str, bool]:
    """The host for the commands, and whether ``registry.public_url`` is set."""
    if console.config.registry.public_url is None:
        return console.registry_host(), False
    return shlex.quote(console.registry_host()), True


def routes(console: Console) -> list[BaseRoute]:
    lifetime = console.config.console.connect_token_lifetime

    def render(
        request: Request,
        viewer: Viewer,
        *,
        status: int = 200,
        created: Created[TokenView] | None = None,
        error: str = "",
    ) -> Response:
        host, configured = _host(console)
        secret = created.secret if created is not None else None
        return console.render(
            request,
            "connect.html",
            viewer=viewer,
            status=status,
            active="connect",
            commands=login_commands(host, viewer.username, secret),
            configured=configured,
            created=created,
            lifetime=lifetime_text(lifetime),
            secret_name=SECRET_NAME,
            no_row=NO_ROW,
            error=error,
        )

    async def page(request: Request) -> Response:
        viewer = await console.require_viewer(request)
        return render(request, viewer)

    async def connect(request: Request) -> Response:
        viewer = await console.require_viewer(request)
        await console.form(request, viewer)
        if not viewer.has_row:
            return render(request, viewer, status=403, error=NO_ROW)
        now = console.clock()
        name = f"console connect {now:%Y-%m-%d %H:%M:%S} UTC"
        try:
            created = await console.run(
                console.accounts.create_token, viewer.username, name, expires_at=now + lifetime
            )
        except NotFound:
            raise PageError(404, "Your account is gone.") from None
        except AccountError as exc:
            return render(request, viewer, status=exc.status, error=exc.message)
        await apply_change(console)
        log.info(
            "console token created",
            user=viewer.username,
            token_id=created.view.id,
            name=name,
            via="connect",
        )
        return render(request, viewer, created=created)

    return [
        Route(console.route("/connect"), page, methods=["GET", "HEAD"]),
        Route(console.route("/connect"), connect, methods=["POST"]),
    ]
