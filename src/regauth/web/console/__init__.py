"""The web console: server-rendered pages (Jinja2, plain forms) under ``server.path_prefix``.

security      headers (CSP, nosniff, no-store), cookies, CSRF tokens
forms         reading a submitted form, bounded
rendering     the Jinja2 environment and its filters (UTC times, relative hints, sizes)
tables        paging and sorting of tables
context       :class:`Console`: who is signed in, forms, rendering, redirects, errors
signing_in    starting and ending a session (password form and single sign-on alike)
pages/        one module per area, each with ``routes(console)``
app           the ASGI app: routes, static files, errors as pages
"""

from regauth.web.console.app import ConsoleApp, create_console_app

__all__ = ["ConsoleApp", "create_console_app"]
