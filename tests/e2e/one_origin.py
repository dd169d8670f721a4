"""One address for everything: nginx sends ``/v2/`` to the registry and every other path to
regauth (the console, ``/auth``, ``/login``), as the README's "One address" section shows.

:class:`OneOrigin` starts the real docker-registry (configured from ``regauth
registry-config``), a real ``regauth serve`` and Debian's nginx in front of both, and makes an
administrator ``root`` with the CLI. Used by the one-origin test and the browser tests.
"""

from __future__ import annotations

import contextlib
from pathlib import Path
from types import TracebackType
from typing import Any

import yaml
from peers import Registry, registry_auth_from_yaml
from tests.nginx import Nginx
from tests.regauth_process import RegauthServer, free_port, run_regauth

#: the front door's configuration: the registry at /v2/, regauth everywhere else
NGINX_ONE_ORIGIN = """
server {{
    listen 127.0.0.1:{{port}};
    client_max_body_size 0;
    location /v2/ {{
        proxy_pass http://127.0.0.1:{registry_port};
        proxy_set_header Host $http_host;
        proxy_set_header X-Forwarded-Proto $scheme;
        proxy_request_buffering off;
        proxy_buffering off;
        proxy_read_timeout 900;
    }}
    location / {{
        proxy_pass http://127.0.0.1:{regauth_port};
        proxy_set_header Host $http_host;
        proxy_set_header X-Forwarded-For $remote_addr;
    }}
}}
"""

ROOT_PASSWORD = "root-password-1"


class OneOrigin:
    def __init__(self, workdir: Path, *, extra_config: dict[str, Any] | None = None) -> None:
        self.workdir = workdir
        self.port = free_port()
        #: the one address people, clients and the registry's realm use
        self.url = f"http://127.0.0.1:{self.port}"
        self.host = f"127.0.0.1:{self.port}"
        self.config_path = workdir / "regauth.yaml"
        self.data_dir = workdir / "regauth-data"
        self.document: dict[str, Any] = {
            "server": {
                "public_url": self.url,
                "proxy_headers": ["x-forwarded-for"],
                "trusted_proxies": ["127.0.0.1"],
            },
            "registry": {"public_url": self.url, "cache_seconds": 0},
            **(extra_config or {}),
        }
        self._stack = contextlib.ExitStack()
        self.registry: Registry | None = None
        self.regauth: RegauthServer | None = None

    def cli(self, *args: str, input: str | None = None) -> str:
        common = ("--config", str(self.config_path), "--data-dir", str(self.data_dir))
        done = run_regauth(*args, *common, cwd=self.workdir, input=input, check=True)
        return done.stdout

    def ref(self, repository: str, tag: str = "1") -> str:
        """``docker://HOST/REPOSITORY:TAG`` at the front door (for skopeo)."""
        return f"docker://{self.host}/{repository}:{tag}"

    def __enter__(self) -> OneOrigin:
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.config_path.write_text(yaml.safe_dump(self.document))
        printed = self.cli("registry-config", "--out", str(self.workdir / "trust"))
        auth = registry_auth_from_yaml(printed)
        assert auth["token"]["realm"] == f"{self.url}/auth"
        self.registry = self._stack.enter_context(Registry(self.workdir / "registry", auth=auth))
        # regauth reads the registry's API directly (not through the front door)
        self.document["registry"]["url"] = self.registry.url
        self.config_path.write_text(yaml.safe_dump(self.document))
        self.cli("user", "add", "root", "--admin", input=f"{ROOT_PASSWORD}\n")
        (self.workdir / "regauth").mkdir(exist_ok=True)
        self.regauth = RegauthServer(
            self.workdir / "regauth", config=self.config_path, data_dir=self.data_dir
        )
        self._stack.callback(self.regauth.stop)
        self.regauth.wait_ready()
        body = NGINX_ONE_ORIGIN.format(
            registry_port=self.registry.port, regauth_port=self.regauth.port
        )
        self._stack.enter_context(Nginx(self.workdir / "nginx", body, port=self.port))
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        value: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self._stack.close()
