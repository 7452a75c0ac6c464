"""Progress on stderr with ``tqdm``: shown only on a terminal, never with ``--quiet``.

Without ``tqdm`` installed the commands still work, without a progress display.
"""

from __future__ import annotations

import sys
from typing import Any, TextIO


class Progress:
    """A progress bar (``tqdm``) that results printed to stdout never tear."""

    def __init__(self, total: int | None, *, desc: str, unit: str, quiet: bool, scale: int = 1) -> None:
        """``scale``: units per step (e.g. images per request), so the rate shows units/s."""
        self._bar: Any = None
        try:
            from tqdm import tqdm
        except ImportError:
            return
        # disable=None: tqdm turns itself off when stderr is not a terminal
        self._bar = tqdm(
            total=total,
            desc=desc,
            unit=unit,
            file=sys.stderr,
            leave=False,
            dynamic_ncols=True,
            disable=True if quiet else None,
            unit_scale=scale if scale != 1 else False,
        )

    def update(self, n: int = 1, **postfix: Any) -> None:
        if self._bar is not None:
            if postfix:
                self._bar.set_postfix(postfix, refresh=False)
            self._bar.update(n)

    def print(self, text: str, *, file: TextIO | None = None) -> None:
        """Print a line to stdout (or ``file``), clearing and redrawing the bar around it."""
        stream = file or sys.stdout
        if self._bar is None or self._bar.disable:
            print(text, file=stream, flush=True)
        else:
            self._bar.write(text, file=stream)
            stream.flush()

    def close(self) -> None:
        if self._bar is not None:
            self._bar.close()

    def __enter__(self) -> Progress:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def note(message: str, *, quiet: bool) -> None:
    """A status line on stderr, only on a terminal and without ``--quiet``."""
    if not quiet and sys.stderr.isatty():
        print(message, file=sys.stderr, flush=True)
