from __future__ import annotations

from collections.abc import Callable

import httpx

from apps.basic import app
from support import InProcessServer, ServerProcess


def test_subprocess_serves(hurtle_process: Callable[..., ServerProcess]) -> None:
    server = hurtle_process("apps.basic:app")
    response = httpx.get(server.url + "/")
    assert response.status_code == 200
    assert response.text == "Hello, world!"


def test_in_process_serves(serve_app: Callable[..., InProcessServer]) -> None:
    server = serve_app(app)
    response = httpx.get(server.url + "/echo", params={"a": "1"})
    assert response.status_code == 200
