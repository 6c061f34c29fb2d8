"""Each error class is raised for its case, with a hint and the README's exit code, never with
the secret in `str`/`repr`, and never changing the file it refused."""

from __future__ import annotations

import os
import re
from collections.abc import Callable
from pathlib import Path

import pytest

import continuum_vault as cv
from continuum_vault import _native
from conftest import REPO, Home

SECRET = "do-not-leak-7c1f0e9a4b"

#: How README.md's "Exit codes" table names each class.
README_WORDING = {
    "VaultError": "other error",
    "UsageError": "usage",
    "NotFoundError": "not found",
    "UnsafePathError": "unsafe path",
    "CorruptError": "corrupt",
    "KeyUnavailableError": "keyring unavailable",
    "ConflictError": "conflict",
}


def readme_exit_codes() -> dict[int, str]:
    text = (REPO / "README.md").read_text()
    section = text.split("\n## Exit codes\n", 1)[1].split("\n## ", 1)[0]
    rows = re.findall(r"^\| (\d+) \| (.+) \|$", section, flags=re.MULTILINE)
    return {int(code): meaning for code, meaning in rows}


def test_the_exit_code_table_is_the_readme_table() -> None:
    readme = readme_exit_codes()
    table = _native.error_classes()
    assert [code for _, code in table] == list(range(1, 8))
    assert {code for code in readme if 1 <= code <= 7} == set(range(1, 8))
    for name, code in table:
        cls = getattr(cv, name)
        assert cls.exit_code == code, name
        assert issubclass(cls, cv.VaultError)
        assert readme[code].lower().startswith(README_WORDING[name]), (name, readme[code])
    assert issubclass(cv.UsageError, ValueError)
    assert issubclass(cv.NotFoundError, LookupError)


def assert_clean(error: cv.VaultError, cls: type[cv.VaultError], *secrets: str) -> None:
    """The error is of exactly `cls`, says what to do, and holds none of `secrets`."""
    assert type(error) is cls, repr(error)
    assert error.exit_code == cls.exit_code
    assert error.hint, f"{cls.__name__} without a hint: {error!r}"
    assert getattr(error, "__notes__", None) == [f"hint: {error.hint}"]
    shown = " ".join([str(error), repr(error), error.hint, repr(error.args)])
    for secret in secrets:
        assert secret not in shown, f"{cls.__name__} shows a secret: {shown}"


def unchanged(path: Path) -> Callable[[], None]:
    before = path.read_bytes(), os.stat(path).st_mode

    def check() -> None:
        assert (path.read_bytes(), os.stat(path).st_mode) == before, f"{path} changed"

    return check


@pytest.fixture
def vault(file_home: Home) -> cv.Vault:
    """A key-file vault holding SECRET as the JWT secret."""
    v = cv.Vault()
    assert v.set("jwt_secret", SECRET) == "created"
    return v


def test_usage(vault: cv.Vault) -> None:
    with pytest.raises(cv.UsageError) as raised:
        vault.load("Bad-Name")
    assert isinstance(raised.value, ValueError)
    assert_clean(raised.value, cv.UsageError, SECRET)


def test_not_found(vault: cv.Vault, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(LookupError) as raised:
        vault.load_existing("absent")
    assert isinstance(raised.value, cv.NotFoundError)
    assert_clean(raised.value, cv.NotFoundError, SECRET)

    monkeypatch.setenv("CONTINUUM_JWT_SECRET_FILE", str(tmp_path / "not-mounted"))
    with pytest.raises(cv.NotFoundError) as raised:
        cv.get_or_generate_jwt_secret()
    assert "CONTINUUM_JWT_SECRET_FILE" in raised.value.hint  # type: ignore[operator]
    assert_clean(raised.value, cv.NotFoundError, SECRET)


def test_unsafe_path(file_home: Home) -> None:
    path = file_home.secret_file
    path.parent.mkdir(mode=0o700)
    path.write_text(SECRET + "\n")
    path.chmod(0o644)
    check = unchanged(path)
    with pytest.raises(cv.UnsafePathError) as raised:
        cv.get_or_generate_jwt_secret()
    assert f"chmod 600 {path}" in raised.value.hint  # type: ignore[operator]
    assert_clean(raised.value, cv.UnsafePathError, SECRET)
    check()


def test_corrupt(vault: cv.Vault, file_home: Home) -> None:
    path = file_home.secret_file
    path.write_bytes(path.read_bytes()[:-60])
    check = unchanged(path)
    with pytest.raises(cv.CorruptError) as raised:
        cv.Vault().load()
    assert "restore" in raised.value.hint  # type: ignore[operator]
    assert_clean(raised.value, cv.CorruptError, SECRET)
    check()
    with pytest.raises(cv.ConflictError):
        vault.set("jwt_secret", "replacement")
    check()


def test_key_unavailable(file_home: Home, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DBUS_SESSION_BUS_ADDRESS", f"unix:path={file_home.path}/no-bus")
    with pytest.raises(cv.KeyUnavailableError) as raised:
        cv.Vault(key_source="keyring").load()
    assert "keyring" in raised.value.hint  # type: ignore[operator]
    assert_clean(raised.value, cv.KeyUnavailableError)
    assert not file_home.secret_file.exists(), "a failed first run leaves no secret behind"


def test_conflict(vault: cv.Vault, file_home: Home, monkeypatch: pytest.MonkeyPatch) -> None:
    check = unchanged(file_home.secret_file)
    other = "another-value-5d2b"
    with pytest.raises(cv.ConflictError) as raised:
        vault.set("jwt_secret", other)
    assert "force" in raised.value.hint  # type: ignore[operator]
    assert_clean(raised.value, cv.ConflictError, SECRET, other)
    check()

    monkeypatch.setenv("CONTINUUM_JWT_SECRET", SECRET)
    monkeypatch.setenv("CONTINUUM_JWT_SECRET_FILE", str(file_home.secret_file))
    with pytest.raises(cv.ConflictError) as raised:
        cv.get_or_generate_jwt_secret()
    assert_clean(raised.value, cv.ConflictError, SECRET)

    monkeypatch.delenv("CONTINUUM_JWT_SECRET")
    monkeypatch.delenv("CONTINUUM_JWT_SECRET_FILE")
    with pytest.raises(cv.ConflictError) as raised:
        cv.Vault(key_source="keyring").load()
    assert_clean(raised.value, cv.ConflictError, SECRET)
