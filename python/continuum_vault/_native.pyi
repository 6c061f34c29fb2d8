"""Type stubs of the compiled module ``continuum_vault._native`` (re-exported by ``continuum_vault``)."""

import datetime
import os
from typing import Any, ClassVar, Literal, final

__all__ = [
    "ConflictError",
    "CorruptError",
    "DEFAULT_SECRET",
    "KeySet",
    "KeyUnavailableError",
    "NotFoundError",
    "UnsafePathError",
    "UsageError",
    "Vault",
    "VaultError",
    "__version__",
    "error_classes",
    "get_or_generate_jwt_secret",
    "keys",
]

__version__: str
DEFAULT_SECRET: str

class VaultError(Exception):
    """A vault operation failed; the base of every error this package raises."""

    exit_code: ClassVar[int]
    hint: str | None

class UsageError(VaultError, ValueError): ...
class NotFoundError(VaultError, LookupError): ...
class UnsafePathError(VaultError): ...
class CorruptError(VaultError): ...
class KeyUnavailableError(VaultError): ...
class ConflictError(VaultError): ...

def error_classes() -> list[tuple[str, int]]: ...
def get_or_generate_jwt_secret() -> str: ...
def keys(name: str = "jwt_secret") -> list[str]: ...
@final
class KeySet:
    @property
    def current(self) -> str: ...
    @property
    def previous(self) -> str | None: ...
    @property
    def previous_expires(self) -> datetime.datetime | None: ...
    def secrets(self) -> list[str]: ...

@final
class Vault:
    def __new__(
        cls,
        dir: str | os.PathLike[str] | None = None,
        key_source: str | None = None,
        timeout: float | datetime.timedelta | None = None,
    ) -> Vault: ...
    def load(self, name: str = "jwt_secret") -> str: ...
    def load_existing(self, name: str = "jwt_secret") -> str: ...
    def key_set(self, name: str = "jwt_secret") -> KeySet: ...
    def status(self, name: str = "jwt_secret") -> dict[str, Any]: ...
    def set(
        self, name: str, value: str, force: bool = False
    ) -> Literal["created", "unchanged", "replaced"]: ...
    def rotate(
        self, name: str = "jwt_secret", grace: float | datetime.timedelta | None = None
    ) -> datetime.datetime: ...
    def migrate(self, name: str = "jwt_secret") -> bool: ...
