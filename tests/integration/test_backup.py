"""``regauth backup`` and ``regauth restore``: an online backup of a running ``regauth serve``,
restored into a new data folder, serves the old logins with the old signing key."""

from __future__ import annotations

import io
import json
import tarfile
from pathlib import Path

import httpx
import jwt
from click.testing import CliRunner

from regauth.cli import main
from tests.regauth_process import RegauthServer


class Ran:
    """What a command did, in the shape of a finished process."""

    def __init__(self, *args: str, input: str | None = None) -> None:
        result = CliRunner().invoke(main, list(args), input=input, catch_exceptions=False)
        self.returncode, self.stdout, self.stderr = result.exit_code, result.stdout, result.stderr


def run_regauth(*args: str, cwd: Path, input: str | None = None, check: bool = False) -> Ran:
    """``regauth ARGS`` in this process (a subprocess costs a second or two each)."""
    del cwd  # every path given is absolute
    ran = Ran(*args, input=input)
    if check:
        assert ran.returncode == 0, ran.stderr
    return ran


def token(server: RegauthServer, user: str, password: str) -> httpx.Response:
    with server.client() as client:
        return client.get(
            "/auth",
            params={"service": "registry", "scope": f"repository:{user}/app:pull,push"},
            auth=(user, password),
        )


def test_restored_folder_serves_the_old_logins(tmp_path: Path) -> None:
    old, new = tmp_path / "old-data", tmp_path / "restored" / "data"
    archive = tmp_path / "backups" / "regauth.tgz"
    archive.parent.mkdir()
    with RegauthServer(tmp_path, data_dir=old) as server:
        admin_password = server.admin_password()
        run_regauth(
            "user", "add", "bob", "--data-dir", str(old), cwd=tmp_path, input="bob-pw\n", check=True
        )
        before = token(server, "bob", "bob-pw")
        assert before.status_code == 200
        # while the server runs
        made = run_regauth("backup", str(archive), "--data-dir", str(old), cwd=tmp_path)
        assert made.returncode == 0, made.stderr
        assert "backup written" in made.stdout
    assert archive.stat().st_mode & 0o777 == 0o600
    with tarfile.open(archive) as tar:
        names = set(tar.getnames())
    assert {"regauth-backup.json", "regauth.db", "data/bundle.pem", "data/jwks.json"} <= names

    restored = run_regauth("restore", str(archive), "--data-dir", str(new), cwd=tmp_path)
    assert restored.returncode == 0, restored.stderr
    assert (new / "regauth.db").stat().st_mode & 0o777 == 0o600
    assert new.stat().st_mode & 0o777 == 0o700
    with RegauthServer(tmp_path, data_dir=new) as server:
        assert "password:" not in server.output()  # no new admin: the old one is back
        after = token(server, "bob", "bob-pw")
        assert after.status_code == 200, after.text
        assert token(server, "admin", admin_password).status_code == 200
        assert token(server, "bob", "wrong").status_code == 401
        old_kid = jwt.get_unverified_header(before.json()["token"])["kid"]
        assert jwt.get_unverified_header(after.json()["token"])["kid"] == old_kid
    assert (new / "bundle.pem").read_text() == (old / "bundle.pem").read_text()


def test_refusals_leave_everything_as_it_was(tmp_path: Path) -> None:
    data = tmp_path / "data"
    data.mkdir(mode=0o700)  # as `regauth serve` made it
    run_regauth(
        "user", "add", "bob", "--data-dir", str(data), cwd=tmp_path, input="pw\n", check=True
    )
    archive = tmp_path / "b.tgz"
    run_regauth("backup", str(archive), "--data-dir", str(data), cwd=tmp_path, check=True)
    content = archive.read_bytes()

    again = run_regauth("backup", str(archive), "--data-dir", str(data), cwd=tmp_path)
    assert again.returncode == 2
    assert (
        again.stderr == f"regauth: {archive} exists: give another name, or --force to replace it\n"
    )
    assert archive.read_bytes() == content
    forced = run_regauth("backup", str(archive), "--force", "--data-dir", str(data), cwd=tmp_path)
    assert forced.returncode == 0, forced.stderr

    busy = run_regauth("restore", str(archive), "--data-dir", str(data), cwd=tmp_path)
    assert busy.returncode == 2
    assert f"data folder {data} is not empty" in busy.stderr
    assert "--force" in busy.stderr
    replaced = run_regauth(
        "restore", str(archive), "--force", "--data-dir", str(data), cwd=tmp_path
    )
    assert replaced.returncode == 0, replaced.stderr

    # a damaged archive: refused whole, the new folder never made
    damaged = tmp_path / "damaged.tgz"
    with tarfile.open(archive) as source, tarfile.open(damaged, "w:gz") as target:
        for member in source.getmembers():
            body = source.extractfile(member).read()  # type: ignore[union-attr]
            if member.name == "regauth.db":
                body = body[:5000] + bytes([body[5000] ^ 1]) + body[5001:]
            target.addfile(member, io.BytesIO(body))
    result = run_regauth(
        "restore", str(damaged), "--data-dir", str(tmp_path / "fresh"), cwd=tmp_path
    )
    assert result.returncode == 2
    assert "regauth.db does not match its digest" in result.stderr
    assert not (tmp_path / "fresh").exists()

    # an archive that escapes its folder
    evil = tmp_path / "evil.tgz"
    with tarfile.open(archive) as source:
        manifest = json.loads(source.extractfile("regauth-backup.json").read())  # type: ignore[union-attr]
    manifest["files"]["../escape"] = "0" * 64
    with tarfile.open(evil, "w:gz") as target:
        body = json.dumps(manifest).encode()
        info = tarfile.TarInfo("regauth-backup.json")
        info.size = len(body)
        target.addfile(info, io.BytesIO(body))
        info = tarfile.TarInfo("data/../escape")
        info.size = 1
        target.addfile(info, io.BytesIO(b"x"))
    result = run_regauth("restore", str(evil), "--data-dir", str(tmp_path / "fresh"), cwd=tmp_path)
    assert result.returncode == 2
    assert "unexpected entry 'data/../escape'" in result.stderr
    assert not (tmp_path / "escape").exists()

    garbage = tmp_path / "garbage.tgz"
    garbage.write_bytes(b"not an archive")
    result = run_regauth(
        "restore", str(garbage), "--data-dir", str(tmp_path / "fresh"), cwd=tmp_path
    )
    assert result.returncode == 2
    assert len(result.stderr.splitlines()) == 1


def test_nothing_to_back_up(tmp_path: Path) -> None:
    result = run_regauth(
        "backup", str(tmp_path / "b.tgz"), "--data-dir", str(tmp_path / "none"), cwd=tmp_path
    )
    assert result.returncode == 2
    assert "no database at" in result.stderr
    assert not (tmp_path / "b.tgz").exists()


def test_postgresql_gets_the_pg_dump_recipe(tmp_path: Path) -> None:
    config = tmp_path / "regauth.yaml"
    config.write_text("database:\n  url: postgresql://regauth:hunter2-secret@db/regauth\n")
    for command in ("backup", "restore"):
        archive = tmp_path / "b.tgz"
        archive.write_bytes(b"")
        result = run_regauth(
            command,
            str(archive),
            "--config",
            str(config),
            "--data-dir",
            str(tmp_path),
            cwd=tmp_path,
        )
        assert result.returncode == 2
        assert "pg_dump --format=custom" in result.stderr
        assert "hunter2" not in result.stderr + result.stdout
        assert len(result.stderr.splitlines()) == 1
