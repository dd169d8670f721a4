"""The helm values of ``regauth registry-config --format helm``, run for real: the registry gets
the ``config.yml`` the twuni chart would render from them (its configData, auth.token from the
values), the Secret's files where the values mount them and the environment the values set, and
a push through a real ``regauth serve`` works. Kubernetes itself is not run here."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import yaml
from peers import OciImage, Registry, Skopeo
from tests.regauth_process import RegauthServer, run_regauth

SECRET = "notify-secret-0123456789"


def test_helm_values_configure_a_working_registry(
    tmp_path: Path,
    registry_factory: Callable[..., Registry],
    skopeo: Callable[..., Skopeo],
    oci_image: OciImage,
) -> None:
    config = tmp_path / "regauth.yaml"
    config.write_text(yaml.safe_dump({"registry": {"notification_secret": SECRET}}))
    with RegauthServer(tmp_path, config=config) as regauth:
        run_regauth(
            "user", "add", "alice", "--config", str(config), "--data-dir", str(regauth.data_dir),
            cwd=tmp_path, input="alice-pw\n", check=True,
        )  # fmt: skip
        out = tmp_path / "helm"
        completed = subprocess.run(
            [
                sys.executable,
                "-m",
                "regauth",
                "registry-config",
                "--format",
                "helm",
                "--config",
                str(config),
                "--data-dir",
                str(regauth.data_dir),
                "--out",
                str(out),
                "--listen",
                regauth.host,
            ],
            capture_output=True,
            text=True,
            check=True,
        )
        values = yaml.safe_load(completed.stdout)
        secrets = {
            s["metadata"]["name"]: s["stringData"]
            for s in yaml.safe_load_all((out / "registry-secrets.yaml").read_text())
        }
        # the pod: each extraVolume's Secret as a folder at its extraVolumeMount
        mounts = {m["name"]: m["mountPath"] for m in values["extraVolumeMounts"]}
        token: dict[str, Any] = dict(values["configData"]["auth"]["token"])
        for volume in values["extraVolumes"]:
            folder = tmp_path / "mounted" / volume["name"]
            folder.mkdir(parents=True)
            for name, text in secrets[volume["secret"]["secretName"]].items():
                (folder / name).write_text(text)
            for key in ("rootcertbundle", "jwks"):
                token[key] = token[key].replace(mounts[volume["name"]], str(folder))
        environment = {}
        for variable in values["extraEnvVars"]:
            reference = variable["valueFrom"]["secretKeyRef"]
            environment[variable["name"]] = secrets[reference["name"]][reference["key"]]
        registry = registry_factory(auth={"token": token}, env=environment)
        log = registry.log_text()
        assert f"configuring endpoint regauth (http://{regauth.host}/registry/events)" in log

        client = skopeo(tls_verify=False)
        login = client.login(registry.host, "alice", "alice-pw")
        assert login.returncode == 0, login.stderr
        pushed = client.copy(oci_image.ref, registry.docker_ref("alice/app"))
        assert pushed.returncode == 0, pushed.stderr
        inspected = client.inspect(registry.docker_ref("alice/app"))
        assert json.loads(inspected.stdout)["Digest"] == oci_image.manifest_digest
