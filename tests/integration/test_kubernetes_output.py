"""``regauth registry-config --format kubernetes|helm``, and ``--listen``/``--public-url``.

The manifests are validated offline against the Kubernetes 1.30 schemas (strict: an unknown
field is an error) with ``kubernetes-validate``; the helm values against what the twuni
``docker-registry`` chart reads (CHART below, written from its values.yaml and
templates/deployment.yaml). tests/e2e/test_helm_values.py runs the registry they configure.
"""

from __future__ import annotations

import base64
import subprocess
from pathlib import Path
from typing import Any

import bcrypt
import kubernetes_validate
import pytest
import yaml
from click.testing import CliRunner

from regauth.cli import main
from regauth.config import parse_config

KUBERNETES = "1.30.0"
SECRET = "notify-secret-0123456789"
DB_URL = "postgresql://regauth:db-password-42@db.example/regauth"


def run(*args: str) -> Any:
    return CliRunner().invoke(main, list(args), catch_exceptions=False)


def validate(manifest: dict[str, Any]) -> None:
    try:
        kubernetes_validate.validate(manifest, KUBERNETES, strict=True)
    except kubernetes_validate.ValidationError as exc:
        where = "/".join(str(p) for p in exc.path)
        pytest.fail(f"{manifest['kind']} {where}: {str(exc).splitlines()[0]}")


def secret_config(tmp_path: Path) -> Path:
    key = tmp_path / "signing.key"
    subprocess.run(
        ["openssl", "ecparam", "-name", "prime256v1", "-genkey", "-noout", "-out", str(key)],
        check=True,
    )
    (tmp_path / "bind.txt").write_text("ldap-bind-secret\n")
    document = {
        "server": {"public_url": "https://auth.example.com", "path_prefix": "/regauth"},
        "token": {"key": "signing.key", "issuer": "acme"},
        "registry": {"notification_secret": SECRET},
        "database": {"url": DB_URL},
        "users": {"alice": {"password": bcrypt.hashpw(b"pw", bcrypt.gensalt(4)).decode()}},
        "ldap": {
            "url": "ldap://ldap.example",
            "bind_dn": "cn=reader,dc=example",
            "bind_password_file": str(tmp_path / "bind.txt"),
            "base_dn": "dc=example",
        },
    }
    path = tmp_path / "regauth.yaml"
    path.write_text(yaml.safe_dump(document))
    return path


def manifests(*args: str) -> list[dict[str, Any]]:
    result = run("registry-config", "--format", "kubernetes", *args)
    assert result.exit_code == 0, result.output
    return [d for d in yaml.safe_load_all(result.stdout) if d]


def by_kind(documents: list[dict[str, Any]]) -> dict[str, list[dict[str, Any]]]:
    kinds: dict[str, list[dict[str, Any]]] = {}
    for document in documents:
        kinds.setdefault(document["kind"], []).append(document)
    return kinds


def test_one_replica_on_sqlite_validates(tmp_path: Path) -> None:
    documents = manifests("--data-dir", str(tmp_path / "data"), "--public-url", "https://a.example")
    for document in documents:
        validate(document)
    kinds = by_kind(documents)
    assert sorted(kinds) == ["ConfigMap", "Deployment", "PersistentVolumeClaim", "Service"]
    deployment = kinds["Deployment"][0]
    assert deployment["spec"]["replicas"] == 1
    assert deployment["spec"]["strategy"]["type"] == "Recreate"
    pod = deployment["spec"]["template"]["spec"]
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert pod["securityContext"]["fsGroup"] == pod["securityContext"]["runAsUser"] != 0
    container = pod["containers"][0]
    assert container["securityContext"]["readOnlyRootFilesystem"] is True
    assert container["resources"]["limits"]["memory"]
    for probe in ("startupProbe", "readinessProbe", "livenessProbe"):
        assert container[probe]["httpGet"]["path"] == "/healthz"
    volumes = {v["name"]: v for v in pod["volumes"]}
    claim = kinds["PersistentVolumeClaim"][0]["metadata"]["name"]
    assert volumes["data"]["persistentVolumeClaim"]["claimName"] == claim
    mounts = {m["mountPath"] for m in container["volumeMounts"]}
    assert {"/var/lib/regauth", "/tmp"} <= mounts
    config = yaml.safe_load(kinds["ConfigMap"][0]["data"]["regauth.yaml"])
    assert config["server"] == {"listen": "0.0.0.0:5001", "public_url": "https://a.example"}


def test_secrets_leave_the_configmap_and_come_back(tmp_path: Path) -> None:
    config_path = secret_config(tmp_path)
    documents = manifests("--config", str(config_path), "--data-dir", str(tmp_path / "d"))
    for document in documents:
        validate(document)
    kinds = by_kind(documents)
    config_map = yaml.safe_dump(kinds["ConfigMap"])
    for secret in (SECRET, "db-password-42", "ldap-bind-secret", "$2b$", "PRIVATE KEY"):
        assert secret not in config_map
    secrets = {s["metadata"]["name"]: s for s in kinds["Secret"]}
    environment = secrets["regauth-secrets"]["stringData"]
    files = secrets["regauth-files"]["data"]
    # what the pod sees: the ConfigMap's file, the Secret as environment, the files mounted
    mounted = tmp_path / "mounted"
    mounted.mkdir()
    for name, content in files.items():
        (mounted / name).write_bytes(base64.b64decode(content))
    text = kinds["ConfigMap"][0]["data"]["regauth.yaml"].replace("/etc/regauth/files", str(mounted))
    in_pod = parse_config(yaml.safe_load(text), environ=environment)
    original = parse_config(yaml.safe_load(config_path.read_text()), base_dir=tmp_path, environ={})
    assert in_pod.registry.notification_secret is not None
    assert in_pod.registry.notification_secret.reveal() == SECRET
    assert in_pod.database.url is not None and in_pod.database.url.reveal() == DB_URL
    assert in_pod.ldap is not None and in_pod.ldap.bind_password is not None
    assert in_pod.ldap.bind_password.reveal() == "ldap-bind-secret"
    assert in_pod.token.key is not None
    assert in_pod.token.key.read_bytes() == (tmp_path / "signing.key").read_bytes()
    assert in_pod.users["alice"].password == original.users["alice"].password
    assert in_pod.server.path_prefix == "/regauth"
    # PostgreSQL in the configuration: no volume claim, the probes under the prefix
    assert "PersistentVolumeClaim" not in kinds
    container = kinds["Deployment"][0]["spec"]["template"]["spec"]["containers"][0]
    assert container["readinessProbe"]["httpGet"]["path"] == "/regauth/healthz"
    assert container["envFrom"] == [{"secretRef": {"name": "regauth-secrets"}}]


def test_several_replicas_need_postgresql(tmp_path: Path) -> None:
    data = str(tmp_path / "data")
    refused = run(
        "registry-config", "--format", "kubernetes", "--data-dir", data, "--replicas", "3"
    )
    assert refused.exit_code == 2
    assert "--replicas 3 needs PostgreSQL" in refused.stderr
    documents = manifests(
        "--data-dir", data, "--replicas", "3", "--database-url-secret", "regauth-db",
        "--namespace", "auth", "--image", "registry.example/regauth:0.1.0",
    )  # fmt: skip
    for document in documents:
        validate(document)
        assert document["metadata"]["namespace"] == "auth"
    kinds = by_kind(documents)
    assert "PersistentVolumeClaim" not in kinds
    deployment = kinds["Deployment"][0]
    assert deployment["spec"]["replicas"] == 3
    container = deployment["spec"]["template"]["spec"]["containers"][0]
    assert container["image"] == "registry.example/regauth:0.1.0"
    assert container["env"] == [
        {
            "name": "REGAUTH_DATABASE__URL",
            "valueFrom": {"secretKeyRef": {"name": "regauth-db", "key": "url"}},
        }
    ]


def test_kubernetes_options_belong_to_their_format(tmp_path: Path) -> None:
    result = run("registry-config", "--data-dir", str(tmp_path), "--image", "x:1")
    assert result.exit_code == 2
    assert "--image applies to --format kubernetes" in result.stderr


# -- helm ----------------------------------------------------------------------------------

#: what the twuni docker-registry chart (2.x) reads of the values we give, and how:
#: configData is deep-merged into the chart's defaults and rendered whole as config.yml;
#: extraVolumes/extraVolumeMounts/extraEnvVars are appended to the pod's volumes, the
#: registry container's volumeMounts and env.
CHART: dict[str, str] = {
    "configData": "mapping",
    "extraVolumes": "core/v1 Volume list",
    "extraVolumeMounts": "core/v1 VolumeMount list",
    "extraEnvVars": "core/v1 EnvVar list",
}
#: the chart's own configData, which Helm merges ours into
CHART_CONFIG_DATA: dict[str, Any] = {
    "version": 0.1,
    "log": {"fields": {"service": "registry"}},
    "storage": {"cache": {"blobdescriptor": "inmemory"}},
    "http": {"addr": ":5000", "headers": {"X-Content-Type-Options": ["nosniff"]}},
    "health": {"storagedriver": {"enabled": True, "interval": "10s", "threshold": 3}},
}


def chart_pod(values: dict[str, Any]) -> dict[str, Any]:
    """The Deployment the chart renders, reduced to the parts the values reach."""
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "registry-docker-registry"},
        "spec": {
            "selector": {"matchLabels": {"app": "docker-registry"}},
            "template": {
                "metadata": {"labels": {"app": "docker-registry"}},
                "spec": {
                    "containers": [
                        {
                            "name": "docker-registry",
                            "image": "registry:2.8.1",
                            "env": [
                                {"name": "REGISTRY_HTTP_SECRET", "value": "x"},
                                *values.get("extraEnvVars", []),
                            ],
                            "volumeMounts": [
                                {"name": "data", "mountPath": "/var/lib/registry/"},
                                *values.get("extraVolumeMounts", []),
                            ],
                        }
                    ],
                    "volumes": [{"name": "data", "emptyDir": {}}, *values["extraVolumes"]],
                },
            },
        },
    }


def helm(tmp_path: Path, *args: str) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    out = tmp_path / "helm"
    result = run(
        "registry-config", "--format", "helm", "--data-dir", str(tmp_path / "data"),
        "--out", str(out), *args,
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    secrets_file = out / "registry-secrets.yaml"
    assert secrets_file.stat().st_mode & 0o777 == 0o600
    return yaml.safe_load(result.stdout), list(yaml.safe_load_all(secrets_file.read_text()))


def test_helm_values_are_what_the_chart_reads(tmp_path: Path) -> None:
    values, secrets = helm(tmp_path, "--public-url", "https://auth.example.com")
    assert set(values) <= set(CHART)
    assert "extraEnvVars" not in values  # no notification secret configured
    validate(chart_pod(values))
    for secret in secrets:
        validate(secret)
    token = values["configData"]["auth"]["token"]
    assert token["realm"] == "https://auth.example.com/auth"
    (mount,) = values["extraVolumeMounts"]
    (volume,) = values["extraVolumes"]
    assert mount["name"] == volume["name"]
    assert token["rootcertbundle"] == f"{mount['mountPath']}/bundle.pem"
    (trust,) = secrets
    assert trust["metadata"]["name"] == volume["secret"]["secretName"]
    assert trust["stringData"]["bundle.pem"] == (tmp_path / "helm" / "bundle.pem").read_text()
    assert set(trust["stringData"]) == {"bundle.pem", "jwks.json"}


def test_helm_notifications_come_from_a_secret(tmp_path: Path) -> None:
    config = tmp_path / "regauth.yaml"
    config.write_text(yaml.safe_dump({"registry": {"notification_secret": SECRET}}))
    values, secrets = helm(tmp_path, "--config", str(config), "--listen", "10.0.0.7:5001")
    validate(chart_pod(values))
    (variable,) = values["extraEnvVars"]
    assert variable["name"] == "REGISTRY_NOTIFICATIONS_ENDPOINTS"
    reference = variable["valueFrom"]["secretKeyRef"]
    notifications = {s["metadata"]["name"]: s for s in secrets}[reference["name"]]
    endpoints = yaml.safe_load(notifications["stringData"][reference["key"]])
    assert endpoints[0]["url"] == "http://10.0.0.7:5001/registry/events"
    assert endpoints[0]["headers"] == {"Authorization": [f"Bearer {SECRET}"]}
    assert SECRET not in yaml.safe_dump(values)


# -- registry-config --listen / --public-url -----------------------------------------------


@pytest.mark.parametrize(
    ("args", "realm", "source"),
    [
        ((), "http://127.0.0.1:5001/auth", "from server.listen 127.0.0.1:5001; give --listen"),
        (("--listen", "127.0.0.1:7101"), "http://127.0.0.1:7101/auth", "from --listen"),
        (("--listen", "0.0.0.0:7101"), "http://127.0.0.1:7101/auth", "from --listen"),
        (
            ("--listen", "127.0.0.1:7101", "--public-url", "https://auth.example.com/"),
            "https://auth.example.com/auth",
            "from --public-url",
        ),
    ],
)
def test_realm_follows_listen_and_public_url(
    tmp_path: Path, args: tuple[str, ...], realm: str, source: str
) -> None:
    result = run("registry-config", "--data-dir", str(tmp_path), "--format", "env", *args)
    assert result.exit_code == 0, result.output
    assert f"REGISTRY_AUTH_TOKEN_REALM={realm}\n" in result.stdout
    assert f"# realm {realm} ({source}" in result.stderr


def test_realm_from_configured_public_url(tmp_path: Path) -> None:
    config = tmp_path / "regauth.yaml"
    config.write_text("server:\n  public_url: https://auth.example.com\n")
    result = run(
        "registry-config", "--config", str(config), "--data-dir", str(tmp_path / "d"),
        "--listen", "127.0.0.1:7101",
    )  # fmt: skip
    assert yaml.safe_load(result.stdout)["auth"]["token"]["realm"] == (
        "https://auth.example.com/auth"
    )
    assert "(from server.public_url)" in result.stderr


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("--listen", "nowhere"), "--listen: expected host:port, got 'nowhere'"),
        (("--listen", "h:70000"), "--listen: port out of range"),
        (("--public-url", "ftp://x"), "--public-url: expected an http(s) URL"),
    ],
)
def test_bad_address_is_one_line(tmp_path: Path, args: tuple[str, ...], message: str) -> None:
    result = run("registry-config", "--data-dir", str(tmp_path), *args)
    assert result.exit_code == 2
    assert result.stdout == ""
    assert message in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


def test_secret_variables_never_collide(tmp_path: Path) -> None:
    from regauth.deployment import split_config

    hashes = {
        name: bcrypt.hashpw(name.encode(), bcrypt.gensalt(4)).decode() for name in ("a-b", "a_b")
    }
    split = split_config({"users": {n: {"password": h} for n, h in hashes.items()}}, tmp_path)
    users = split.document["users"]
    variables = {users[n]["password_env"] for n in hashes}
    assert len(variables) == 2
    assert {split.environment[users[n]["password_env"]] for n in hashes} == set(hashes.values())
