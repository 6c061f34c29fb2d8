"""`continuum_vault.jwt.decode` across a rotation, with the real PyJWT."""

from __future__ import annotations

import datetime
import time
from collections.abc import Iterator
from typing import Any

import jwt
import pytest

import continuum_vault as cv
import continuum_vault.jwt as cvjwt
from conftest import Home, run_python

ALGORITHMS = ["HS256"]


def token(secret: str, **claims: Any) -> str:
    claims.setdefault("sub", "admin")
    claims.setdefault("exp", datetime.datetime.now(datetime.timezone.utc) + datetime.timedelta(hours=1))
    return jwt.encode(claims, secret, algorithm="HS256")


@pytest.fixture
def tries(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[str]]:
    """The secret of every `jwt.decode` call `decode` makes (PyJWT's own decode still runs)."""
    keys_tried: list[str] = []
    real = jwt.decode

    def recording(token: str | bytes, key: str, **kwargs: Any) -> Any:
        keys_tried.append(key)
        return real(token, key, **kwargs)

    # continuum_vault.jwt calls it as `jwt.decode` of this very module.
    monkeypatch.setattr(jwt, "decode", recording)
    yield keys_tried


def test_previous_secret_is_accepted_in_its_window_only(file_home: Home, tries: list[str]) -> None:
    old = cv.get_or_generate_jwt_secret()
    old_token = token(old)
    assert cvjwt.decode(old_token, algorithms=ALGORITHMS)["sub"] == "admin"
    assert tries == [old]

    cv.Vault().rotate(grace=datetime.timedelta(seconds=1))
    new, previous = cv.keys()
    assert previous == old
    tries.clear()
    assert cvjwt.decode(old_token, algorithms=ALGORITHMS)["sub"] == "admin"
    assert tries == [new, old], "the current secret first, the previous on a bad signature"
    tries.clear()
    assert cvjwt.decode(token(new), algorithms=ALGORITHMS)["sub"] == "admin"
    assert tries == [new]

    # Wait for the end of the window as the vault sees it (a state, not a duration).
    give_up = time.monotonic() + 60
    while cv.Vault().key_set().previous is not None:
        assert time.monotonic() < give_up, "the previous secret never expired"
        time.sleep(0.05)
    tries.clear()
    with pytest.raises(jwt.InvalidSignatureError):
        cvjwt.decode(old_token, algorithms=ALGORITHMS)
    assert tries == [new]


def test_only_a_bad_signature_is_retried(file_home: Home, tries: list[str]) -> None:
    old = cv.get_or_generate_jwt_secret()
    cv.Vault().rotate(grace=datetime.timedelta(hours=1))
    new, _ = cv.keys()
    past = datetime.datetime.now(datetime.timezone.utc) - datetime.timedelta(minutes=5)

    cases: list[tuple[str, type[Exception], dict[str, Any]]] = [
        (token(new, exp=past), jwt.ExpiredSignatureError, {}),
        (token(new, aud="someone-else"), jwt.InvalidAudienceError, {"audience": "continuum"}),
        ("not.a.token", jwt.DecodeError, {}),
    ]
    for bad, error, kwargs in cases:
        tries.clear()
        with pytest.raises(error):
            cvjwt.decode(bad, algorithms=ALGORITHMS, **kwargs)
        assert tries == [new], f"{error.__name__} was retried with the previous secret"

    # Signed with the previous secret but expired: the retry finds the expiry, and raises it.
    tries.clear()
    with pytest.raises(jwt.ExpiredSignatureError):
        cvjwt.decode(token(old, exp=past), algorithms=ALGORITHMS)
    assert tries == [new, old]

    # Signed with neither.
    tries.clear()
    with pytest.raises(jwt.InvalidSignatureError):
        cvjwt.decode(token("an-unrelated-secret-of-32-bytes!"), algorithms=ALGORITHMS)
    assert tries == [new, old]


def test_an_explicit_vault_and_name(file_home: Home) -> None:
    vault = cv.Vault(dir=file_home.path / "elsewhere", key_source="file")
    vault.set("api_token", "first-api-secret-of-at-least-32b")
    signed = token("first-api-secret-of-at-least-32b")
    vault.set("api_token", "second-api-secret-at-least-32byt", force=True)
    claims = cvjwt.decode(signed, algorithms=ALGORITHMS, name="api_token", vault=vault)
    assert claims["sub"] == "admin"


def test_pyjwt_is_imported_only_by_the_jwt_module(file_home: Home) -> None:
    probe = "import sys, continuum_vault; print('jwt' in sys.modules)"
    result = run_python(probe, file_home.child_env())
    assert result.stdout == "False\n", result.stderr
