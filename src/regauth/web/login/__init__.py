"""Browser single sign-on: ``/login`` pages that end with a registry password.

* ``GET {prefix}/login``: the configured providers.
* ``GET {prefix}/login/NAME``: starts an authorization code flow with ``state``, ``nonce`` and
  PKCE (S256); the three travel in a signed ten-minute cookie (:mod:`regauth.oidc.login_state`)
  so any worker of any instance can finish the flow.
* ``GET {prefix}/login/NAME/callback``: checks the cookie and ``state`` (constant time),
  exchanges the code, verifies the ID token (signature, iss, aud, exp/iat, nonce), maps the
  user name and groups, applies ``allowed_groups`` (GitHub: organisation and teams), creates or
  updates the user (source ``oidc:NAME``) and their groups, and shows a new personal access
  token, valid for ``token_lifetime``, with ready-to-paste ``docker``/``podman``/``skopeo
  login`` commands. The provider's own tokens are never shown or stored.

The registry's host name cannot be known here (the registry is another server that merely
points its realm at regauth), so the commands say ``<registry>`` unless the login link
carried ``?registry=HOST``.

Every failure renders an error page with a fitting status (400 for a missing, altered or
expired login cookie, a wrong ``state`` or a replayed code; 401 for an ID token that fails
verification; 403 for a user who may not log in; 404 unknown provider; 409 a local user of the
same name; 502 a provider that is down or answers nonsense; 503 the database) and logs the
reason; nothing is created. Pages are ``no-store`` and escape every value.

* :mod:`.app`: the ASGI app (routes, cookie, logs); :mod:`.flow`: the identity side (providers,
  login state, code exchange, provisioning); :mod:`.pages`: the HTML, from the templates in
  ``regauth/web/templates/login/``.
"""

from __future__ import annotations

from regauth.web.login.app import COOKIE_NAME, LoginApp, create_login_app

__all__ = ["COOKIE_NAME", "LoginApp", "create_login_app"]
