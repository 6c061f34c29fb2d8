"""A frozen keyring (SIGSTOP) blocks only the calling thread, and only until the deadline.

The proofs are orderings, never durations: another thread watches the caller's Python frame
sit inside the call (which it can only do while the call has released the GIL), and acts
while the call is still blocked."""

from __future__ import annotations

import sys
import threading
import time

import pytest

import continuum_vault as cv
from conftest import SecretService

#: Consecutive observations of the caller inside the call, a sleep apart, that count as
#: "blocked in the call" rather than "passing through its first or last bytecodes".
OBSERVATIONS = 3


def call_load(vault: cv.Vault) -> str:
    """The call under watch: any frame of this function is inside `vault.load()`."""
    return vault.load()


def observed_inside(thread_id: int, finished: threading.Event) -> bool:
    """Whether `thread_id` is seen inside `call_load` OBSERVATIONS times in a row before
    `finished` is set. Each sleep releases the GIL; each observation needs it back."""
    seen = 0
    while not finished.is_set():
        frame = sys._current_frames().get(thread_id)
        seen = seen + 1 if frame is not None and frame.f_code is call_load.__code__ else 0
        if seen >= OBSERVATIONS:
            return True
        time.sleep(0.001)
    return False


@pytest.fixture
def frozen(keyring: SecretService) -> SecretService:
    """A keyring vault made while the daemon answered; then the daemon is stopped."""
    cv.Vault(key_source="keyring").load()
    keyring.freeze()
    return keyring


def test_other_threads_run_while_load_waits_for_a_frozen_keyring(
    frozen: SecretService,
) -> None:
    # A new Vault has no key in memory yet: its load must ask the frozen daemon. The
    # deadline is far away: only a thaw done by this thread can let the load succeed.
    vault = cv.Vault(key_source="keyring", timeout=120)
    finished = threading.Event()
    outcome: list[object] = []

    def worker() -> None:
        try:
            outcome.append(call_load(vault))
        except BaseException as error:  # reported by the assertions below
            outcome.append(error)
        finally:
            finished.set()

    thread = threading.Thread(target=worker)
    thread.start()
    assert thread.ident is not None
    assert observed_inside(thread.ident, finished), f"load returned at once: {outcome}"
    still_waiting = not finished.is_set()
    frozen.thaw()
    thread.join()
    assert still_waiting, "this thread ran and thawed the keyring while load was waiting"
    assert outcome == [cv.Vault(key_source="keyring").load()], outcome


def test_load_raises_key_unavailable_within_the_deadline(frozen: SecretService) -> None:
    vault = cv.Vault(key_source="keyring", timeout=1)
    finished = threading.Event()
    watched: list[bool] = []
    watcher = threading.Thread(
        target=lambda: watched.append(observed_inside(threading.main_thread().ident or 0, finished))
    )
    watcher.start()
    try:
        with pytest.raises(cv.KeyUnavailableError) as raised:
            call_load(vault)
    finally:
        finished.set()
        watcher.join()
    assert watched == [True], "the watcher thread ran while load was waiting"
    # It gave up at its deadline, with the daemon still stopped: it did not wait for a thaw.
    assert "(stopped)" in frozen._state()
    assert "CONTINUUM_VAULT_KEYRING_TIMEOUT_MS" in (raised.value.hint or ""), raised.value
    assert raised.value.exit_code == 6
