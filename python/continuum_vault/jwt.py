"""Rotation-aware verification of the server's tokens (PyJWT, optional dependency).

After ``continuum-vault rotate``, tokens signed with the previous secret stay valid for the
grace window. ``decode`` verifies with the current secret and, only when the signature does
not match (``jwt.InvalidSignatureError``), tries the previous one. An expired, malformed or
wrong-audience token is never retried: its error is PyJWT's, raised as is.

The secrets are read from the vault on every call (the key stays in memory after the first),
so a rotation done by the command line is seen without restarting the server. Install with
``pip install 'continuum-vault[jwt]'`` or ``pip install PyJWT``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

try:
    import jwt as _pyjwt
except ImportError:  # pragma: no cover - depends on the environment
    raise ImportError(
        "continuum_vault.jwt needs PyJWT: pip install 'continuum-vault[jwt]' (or PyJWT)"
    ) from None

from ._native import DEFAULT_SECRET, Vault, keys

__all__ = ["decode"]


def decode(
    token: str | bytes,
    *,
    algorithms: Sequence[str],
    name: str = DEFAULT_SECRET,
    vault: Vault | None = None,
    **kwargs: Any,
) -> dict[str, Any]:
    """Verifies ``token`` like ``jwt.decode(token, secret, algorithms=...)`` and returns its claims.

    The secret is the current one of ``name`` (from ``vault``, or the vault configured by the
    environment), else, only on ``jwt.InvalidSignatureError``, the previous one while its
    grace window lasts. Other keyword arguments (``audience``, ``options``, ``leeway``...)
    go to ``jwt.decode``. Raises PyJWT's errors, or a ``VaultError`` when the secret cannot
    be loaded.
    """
    secrets = vault.key_set(name).secrets() if vault is not None else keys(name)
    algorithms = list(algorithms)
    try:
        claims: dict[str, Any] = _pyjwt.decode(token, secrets[0], algorithms=algorithms, **kwargs)
        return claims
    except _pyjwt.InvalidSignatureError:
        if len(secrets) < 2:
            raise
    # Outside the handler, so that an error with the previous secret is not chained to the first.
    previous: dict[str, Any] = _pyjwt.decode(token, secrets[1], algorithms=algorithms, **kwargs)
    return previous
