"""An ASGI 2 app through a real hurtle process: detected, and also forced with --interface."""

from __future__ import annotations

from collections.abc import Callable

import httpx
import pytest

from support import ServerProcess


@pytest.mark.parametrize("flags", [[], ["--interface", "asgi2"]], ids=["auto", "forced"])
def test_asgi2_app(start_server: Callable[..., ServerProcess], flags: list[str]) -> None:
    server = start_server("frameworks.asgi2_app:Application", "--lifespan", "on", *flags)
    with httpx.Client(base_url=server.url, timeout=10) as client:
        reply = client.post("/echo", content=b"ping").json()
        assert reply["method"] == "POST" and reply["path"] == "/echo"
        assert reply["body"] == "ping"
        assert reply["started"] == ["startup"]  # lifespan works through the adapter
        stream = client.get("/stream")
        assert stream.headers["transfer-encoding"] == "chunked"
        assert stream.text == "asgi two streams"
