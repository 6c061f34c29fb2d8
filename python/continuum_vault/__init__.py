"""The CONTINUUM API server's JWT secret, age-encrypted at rest and keyed by the OS keyring.

The server's loader becomes one import::

    from continuum_vault import get_or_generate_jwt_secret
    JWT_SECRET = get_or_generate_jwt_secret()

with the same contract as before (``CONTINUUM_JWT_SECRET``, else the file named by
``CONTINUUM_JWT_SECRET_FILE``, else ``~/.continuum/jwt_secret``, else a new
``secrets.token_urlsafe(32)``-style secret), except that the file is kept encrypted.

Memory: a Python ``str`` is immutable and cannot be wiped, so every secret this package
returns stays in Python's memory until the interpreter reuses it. What the package still
guarantees is on the Rust side: its own copies (the key, the decrypted file, the value given
to ``Vault.set``) are zeroized when dropped, and neither the file nor the key ever holds the
secret in plaintext.

Every call that reads files or talks to the keyring releases the GIL; a keyring that does not
answer blocks only the calling thread, until the vault's deadline, and then raises
``KeyUnavailableError``. Errors are ``VaultError`` subclasses with ``.hint`` (the fix) and
``.exit_code`` (what ``continuum-vault`` exits with for the same error); neither ``str()``
nor ``repr()`` of an error ever holds a secret.
"""

from ._native import (
    DEFAULT_SECRET,
    ConflictError,
    CorruptError,
    KeySet,
    KeyUnavailableError,
    NotFoundError,
    UnsafePathError,
    UsageError,
    Vault,
    VaultError,
    __version__,
    get_or_generate_jwt_secret,
    keys,
)

__all__ = [
    "DEFAULT_SECRET",
    "ConflictError",
    "CorruptError",
    "KeySet",
    "KeyUnavailableError",
    "NotFoundError",
    "UnsafePathError",
    "UsageError",
    "Vault",
    "VaultError",
    "__version__",
    "get_or_generate_jwt_secret",
    "keys",
]
