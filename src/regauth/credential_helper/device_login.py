"""The device sign-in as the machine runs it (RFC 8628 sections 3.1-3.5): ask regauth for a
code, show the address and code (and open a browser when there is one), poll at the interval
regauth asks for (longer after ``slow_down``) until the person approves or denies, or the code
expires."""

from __future__ import annotations

import contextlib
import platform
import time
import webbrowser
from collections.abc import Callable
from dataclasses import dataclass
from typing import IO

import httpx

__all__ = ["DeviceLoginError", "DeviceSession", "device_login"]

CLIENT_ID = "docker-credential-regauth"
GRANT_TYPE = "urn:ietf:params:oauth:grant-type:device_code"


class DeviceLoginError(Exception):
    """The sign-in did not complete; the message says why."""


@dataclass(frozen=True)
class DeviceSession:
    secret: str
    username: str


def _json(answer: httpx.Response) -> dict[str, object]:
    try:
        data = answer.json()
    except ValueError:
        raise DeviceLoginError(
            f"regauth answered {answer.status_code} without JSON: is device sign-in enabled?"
        ) from None
    if not isinstance(data, dict):
        raise DeviceLoginError("regauth answered something unexpected")
    return data


def device_login(
    http: httpx.Client,
    server: str,
    out: IO[str],
    *,
    open_browser: bool = True,
    sleep: Callable[[float], None] = time.sleep,
) -> DeviceSession:
    try:
        asked = http.post(
            f"{server}/device/code",
            data={"client_id": CLIENT_ID, "client_name": platform.node()[:128]},
        )
    except httpx.HTTPError as exc:
        raise DeviceLoginError(f"cannot reach regauth at {server}: {exc}") from None
    body = _json(asked)
    if asked.status_code != 200:
        raise DeviceLoginError(str(body.get("error_description") or body.get("error")))
    uri = str(body["verification_uri"])
    complete = str(body.get("verification_uri_complete") or uri)
    code = str(body["user_code"])
    interval = float(body.get("interval", 5))  # type: ignore[arg-type]
    deadline = time.monotonic() + float(body.get("expires_in", 600))  # type: ignore[arg-type]
    out.write(
        f"To sign in, open {uri} and enter the code {code}\n"
        f"(or open {complete})\nWaiting for approval...\n"
    )
    out.flush()
    if open_browser:
        with contextlib.suppress(webbrowser.Error):
            webbrowser.open(complete)
    while True:
        sleep(interval)
        if time.monotonic() > deadline:
            raise DeviceLoginError("the code expired before it was approved; run login again")
        try:
            polled = http.post(
                f"{server}/device/token",
                data={"grant_type": GRANT_TYPE, "device_code": body["device_code"],
                      "client_id": CLIENT_ID},
            )  # fmt: skip
        except httpx.HTTPError as exc:
            raise DeviceLoginError(f"lost regauth at {server}: {exc}") from None
        answer = _json(polled)
        if polled.status_code == 200:
            return DeviceSession(str(answer["access_token"]), str(answer["username"]))
        error = answer.get("error")
        if error == "authorization_pending":
            continue
        if error == "slow_down":
            interval = float(answer.get("interval", interval + 5))  # type: ignore[arg-type]
            continue
        if error == "access_denied":
            raise DeviceLoginError("the sign-in was denied")
        if error == "expired_token":
            raise DeviceLoginError("the code expired before it was approved; run login again")
        raise DeviceLoginError(str(answer.get("error_description") or error))
