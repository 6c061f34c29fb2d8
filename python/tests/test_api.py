"""The API against the key file and the real binary: the loader's contract, `Vault` methods,
`status` in the shape of `status --json`, notices on `sys.stderr`, `__version__`."""

from __future__ import annotations

import datetime
import json
import subprocess
import tomllib
from pathlib import Path

import pytest

import continuum_vault as cv
from conftest import REPO, Home


def test_version_is_the_crate_version() -> None:
    core = tomllib.loads((REPO / "Cargo.toml").read_text())["package"]["version"]
    binding = tomllib.loads((REPO / "python" / "Cargo.toml").read_text())["package"]["version"]
    assert cv.__version__ == core == binding


def test_loader_generates_once_then_reads_back(
    file_home: Home, capsys: pytest.CaptureFixture[str]
) -> None:
    first = cv.get_or_generate_jwt_secret()
    err = capsys.readouterr().err
    assert len(first) == 43, "secrets.token_urlsafe(32) is 43 characters"
    assert err.startswith(f"Generated new JWT secret: {file_home.secret_file}\n")
    assert "NOT a backup" in err
    assert first not in err
    assert file_home.secret_file.read_bytes().startswith(b"-----BEGIN AGE ENCRYPTED FILE-----")
    assert first.encode() not in file_home.secret_file.read_bytes()

    assert cv.get_or_generate_jwt_secret() == first
    assert capsys.readouterr().err == "", "a plain read says nothing"


def test_loader_follows_the_environment_first(
    file_home: Home, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CONTINUUM_JWT_SECRET", " from env ")
    assert cv.get_or_generate_jwt_secret() == " from env ", "env values are used as given"
    assert not file_home.secret_file.exists(), "nothing is written when the variable wins"

    monkeypatch.delenv("CONTINUUM_JWT_SECRET")
    mounted = tmp_path / "mounted"
    mounted.write_text("  mounted-secret\n")
    monkeypatch.setenv("CONTINUUM_JWT_SECRET_FILE", str(mounted))
    assert cv.get_or_generate_jwt_secret() == "mounted-secret"
    assert cv.keys() == ["mounted-secret"]
    assert not file_home.secret_file.exists()


def test_vault_methods(file_home: Home, capsys: pytest.CaptureFixture[str]) -> None:
    vault = cv.Vault(dir=file_home.path / "vault", key_source="file", timeout=2.5)
    assert repr(vault) == f'Vault(dir="{file_home.path / "vault"}", key_source="file")'
    with pytest.raises(cv.NotFoundError):
        vault.load_existing("api_token")
    assert vault.set("api_token", " first-value \n") == "created"
    assert vault.load_existing("api_token") == "first-value"
    assert vault.load("api_token") == "first-value"
    assert vault.set("api_token", "first-value") == "unchanged"
    assert vault.set("api_token", "second-value", force=True) == "replaced"
    assert "previous secret" in capsys.readouterr().err

    key_set = vault.key_set("api_token")
    assert key_set.current == "second-value"
    assert key_set.previous == "first-value"
    assert key_set.secrets() == ["second-value", "first-value"]
    expires = key_set.previous_expires
    assert expires is not None and expires.tzinfo is not None
    now = datetime.datetime.now(datetime.timezone.utc)
    assert now < expires <= now + datetime.timedelta(days=30, seconds=1)
    assert "first-value" not in repr(key_set) and "second-value" not in repr(key_set)

    until = vault.rotate("api_token", grace=datetime.timedelta(hours=1))
    assert until.tzinfo is not None
    rotated = vault.key_set("api_token")
    assert rotated.previous == "second-value"
    assert rotated.current not in ("first-value", "second-value") and len(rotated.current) == 43
    assert rotated.previous_expires == until
    assert "Rotated api_token" in capsys.readouterr().err


def test_migrate_encrypts_a_legacy_file_that_loads_leave_alone(
    file_home: Home, capsys: pytest.CaptureFixture[str]
) -> None:
    path = file_home.secret_file
    path.parent.mkdir(mode=0o700)
    path.write_text("legacy-value-0f3a\n")
    path.chmod(0o600)
    vault = cv.Vault()
    assert vault.load() == "legacy-value-0f3a"
    assert path.read_text() == "legacy-value-0f3a\n", "a load never rewrites the file"
    assert vault.migrate() is True
    assert path.read_bytes().startswith(b"-----BEGIN AGE ENCRYPTED FILE-----")
    assert "legacy-value-0f3a" not in capsys.readouterr().err
    assert vault.migrate() is False
    assert cv.Vault().load() == "legacy-value-0f3a"


def test_status_is_the_shape_of_status_json(file_home: Home, cli: Path) -> None:
    vault = cv.Vault()
    before = vault.status()
    assert before["source"] == "none" and before["exists"] is False
    vault.load()
    ours = vault.status()
    theirs = json.loads(
        subprocess.run(
            [str(cli), "status", "--json"],
            env=file_home.child_env(),
            capture_output=True,
            text=True,
            check=True,
        ).stdout
    )
    # The command line wraps the report in its output envelope (format version, command).
    assert {k: theirs.pop(k) for k in ("version", "command")} == {"version": 1, "command": "status"}
    assert ours == theirs
    assert ours["healthy"] is True and ours["content"] == "encrypted"
    assert vault.load() not in json.dumps(ours)


def test_keys_sees_a_rotation_made_by_the_command_line(file_home: Home, cli: Path) -> None:
    first = cv.get_or_generate_jwt_secret()
    assert cv.keys() == [first]
    subprocess.run([str(cli), "rotate"], env=file_home.child_env(), capture_output=True, check=True)
    current, previous = cv.keys()
    assert previous == first and current != first


def test_bad_arguments_are_usage_errors(file_home: Home) -> None:
    with pytest.raises(cv.UsageError, match="key source") as bad_source:
        cv.Vault(key_source="vault")
    assert bad_source.value.hint == "accepted: auto, keyring, file or systemd-creds"
    for timeout in (0, -1, float("nan"), "soon"):
        with pytest.raises(cv.UsageError, match="timeout"):
            cv.Vault(timeout=timeout)  # type: ignore[arg-type]
    cv.Vault().load()
    for grace in (datetime.timedelta(seconds=-1), 0, datetime.timedelta(days=100_000)):
        with pytest.raises(cv.UsageError, match="grace"):
            cv.Vault().rotate(grace=grace)
    with pytest.raises(ValueError, match="invalid secret name"):
        cv.keys("Not-A-Name")
