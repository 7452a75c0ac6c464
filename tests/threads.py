"""Running test work on several threads and failing with the first error any raised."""

from __future__ import annotations

import threading
from collections.abc import Callable


def run_on_threads(work: Callable[[int], None], count: int, *, timeout_s: float) -> None:
    """Call ``work(0)`` .. ``work(count - 1)`` concurrently, each on its own thread."""
    errors: list[BaseException] = []

    def guarded(index: int) -> None:
        try:
            work(index)
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=guarded, args=(i,)) for i in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout_s)
    assert not any(t.is_alive() for t in threads), f"a thread is still running after {timeout_s} s"
    assert not errors, errors[0]
