from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.tools.fake_server import Script, serve


@pytest.fixture()
def fake_server() -> Iterator[tuple[str, Script]]:
    """A real HTTP server answering as the test scripts it: ``(host:port, script)``."""
    script = Script()
    with serve(script) as url:
        yield url, script
