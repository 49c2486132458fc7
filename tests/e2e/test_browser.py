"""The demo in a real browser: headless Chromium (Debian's chromium and chromium-driver,
installed when missing) driven through WebDriver (selenium) against a real hurtle.

Over cleartext the browser speaks HTTP/1.1 (browsers do not speak h2c); over TLS
it negotiates HTTP/2 by ALPN. Either way the page's server-sent events run to
their end, its WebSocket chat carries messages both ways between the page and
a second member (a Python client), and its POST echo shows the request as the
app saw it. HURTLE_DEMO_SCREENSHOT=path keeps the HTTP/2 page's screenshot
there (docs/demo.png is made so).
"""

from __future__ import annotations

import base64
import json
import os
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from selenium import webdriver
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys
from selenium.webdriver.support.wait import WebDriverWait
from websockets.sync.client import ClientConnection, connect

from e2e.test_tls import TLSFiles, tls  # noqa: F401 (the fixture)
from support import ServerProcess, debian_tool

WAIT = 20.0  # seconds for anything the page does; the slowest, ten events, takes ~5 s
SSE_COUNT = 10  # what the page's Start button asks /sse for
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def spki_hash(cert_file: Path) -> str:
    """base64(SHA-256(SubjectPublicKeyInfo)) of the certificate: Chromium trusts that key
    with --ignore-certificate-errors-spki-list, and nothing else it would not trust."""
    cert = x509.load_pem_x509_certificate(cert_file.read_bytes())
    spki = cert.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    digest = hashes.Hash(hashes.SHA256())
    digest.update(spki)
    return base64.b64encode(digest.finalize()).decode("ascii")


@pytest.fixture
def chromium(tmp_path: Path, tls: TLSFiles) -> Iterator[webdriver.Chrome]:  # noqa: F811
    driver_path = debian_tool("chromedriver", "chromium-driver")
    options = webdriver.ChromeOptions()
    options.binary_location = debian_tool("chromium", "chromium")
    for argument in (
        "--headless",
        "--no-sandbox",  # root in a container has no user namespace for the sandbox
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--window-size=1000,1500",
        f"--user-data-dir={tmp_path / 'profile'}",
        # The test CA's server key is trusted, and only it: no blanket ignoring.
        f"--ignore-certificate-errors-spki-list={spki_hash(tls.cert_file)}",
    ):
        options.add_argument(argument)
    service = Service(executable_path=driver_path, log_output=str(tmp_path / "chromedriver.log"))
    driver = webdriver.Chrome(service=service, options=options)
    try:
        driver.set_page_load_timeout(WAIT)
        driver.set_script_timeout(WAIT)
        yield driver
    finally:
        driver.quit()


def wait_until(driver: webdriver.Chrome, condition: Callable[[webdriver.Chrome], Any]) -> Any:
    return WebDriverWait(driver, WAIT, poll_frequency=0.05).until(condition)


def text_of(driver: webdriver.Chrome, element_id: str) -> str:
    return str(driver.find_element(By.ID, element_id).text)


def items(driver: webdriver.Chrome, list_id: str) -> list[str]:
    return [str(item.text) for item in driver.find_elements(By.CSS_SELECTOR, f"#{list_id} li")]


def full_page_png(driver: webdriver.Chrome) -> bytes:
    """The whole page, not only the window (Chrome DevTools Protocol, Page domain)."""
    size = driver.execute_cdp_cmd("Page.getLayoutMetrics", {})["cssContentSize"]
    clip = {"x": 0, "y": 0, "width": size["width"], "height": size["height"], "scale": 1}
    shot = driver.execute_cdp_cmd(
        "Page.captureScreenshot", {"format": "png", "captureBeyondViewport": True, "clip": clip}
    )
    return base64.b64decode(shot["data"])


def receive_chat(member: ClientConnection, kind: str, text: str | None = None) -> dict[str, Any]:
    """The next broadcast of `kind` (with `text`) the Python member gets."""
    deadline = time.monotonic() + WAIT
    while True:
        document: dict[str, Any] = json.loads(member.recv(max(deadline - time.monotonic(), 0.1)))
        if document["kind"] == kind and (text is None or document.get("text") == text):
            return document


@pytest.mark.timeout(120)
@pytest.mark.parametrize("protocol", ["http/1.1", "h2"])
def test_the_demo_in_chromium(
    protocol: str,
    chromium: webdriver.Chrome,
    tls: TLSFiles,  # noqa: F811 (the fixture)
    hurtle_process: Callable[..., ServerProcess],
) -> None:
    secure = protocol == "h2"
    server = hurtle_process("--host", "127.0.0.1", *(tls.server_args() if secure else []))
    assert server.url.startswith("https://" if secure else "http://")

    chromium.get(server.url + "/")
    wait_until(chromium, lambda d: text_of(d, "chat-status") == "connected")
    navigation = "return performance.getEntriesByType('navigation')[0].nextHopProtocol"
    assert chromium.execute_script(navigation) == protocol

    # Server-sent events: the page's Start button, ten events, the stream's end.
    chromium.find_element(By.ID, "sse-start").click()
    wait_until(chromium, lambda d: text_of(d, "sse-status") == "done: the server ended the stream")
    events = items(chromium, "sse-events")
    assert [line.split()[:4] for line in events] == [
        ["event", str(n), "of", str(SSE_COUNT)] for n in range(1, SSE_COUNT + 1)
    ]
    assert chromium.execute_script(
        "return performance.getEntriesByType('resource')"
        ".filter((e) => new URL(e.name).pathname === '/sse').map((e) => e.nextHopProtocol)"
    ) == [protocol]

    # The WebSocket chat, both ways between the page and a Python member.
    scheme = "wss" if secure else "ws"
    client_tls = tls.client_context() if secure else None
    with connect(f"{scheme}://127.0.0.1:{server.port}/chat", ssl=client_tls) as member:
        me = receive_chat(member, "joined")["from"]
        wait_until(chromium, lambda d: f"{me} joined (2 online)" in items(d, "chat-log"))
        typed = chromium.find_element(By.ID, "chat-text")
        typed.send_keys("hello from chromium", Keys.ENTER)
        page_member = receive_chat(member, "message", "hello from chromium")["from"]
        wait_until(
            chromium, lambda d: f"{page_member}: hello from chromium" in items(d, "chat-log")
        )
        assert typed.get_attribute("value") == ""  # the page clears what it sent
        member.send("hello from python")
        wait_until(chromium, lambda d: f"{me}: hello from python" in items(d, "chat-log"))

    # The POST echo: the request as the app saw it, on the protocol negotiated.
    chromium.find_element(By.CSS_SELECTOR, "#echo button[type=submit]").click()
    wait_until(chromium, lambda d: text_of(d, "echo-result").startswith("{"))
    echoed = json.loads(text_of(chromium, "echo-result"))
    assert echoed["method"] == "POST"
    assert echoed["http_version"] == ("2" if secure else "1.1")
    assert echoed["scheme"] == ("https" if secure else "http")
    assert echoed["body"]["text"] == "Hello, hurtle!"

    screenshot = full_page_png(chromium)
    assert screenshot.startswith(PNG_SIGNATURE)
    keep = os.environ.get("HURTLE_DEMO_SCREENSHOT")
    if keep and secure:
        Path(keep).write_bytes(screenshot)
