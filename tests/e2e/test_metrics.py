"""--metrics-bind in one serving process: known traffic over HTTP/1.1 and HTTP/2 with
TLS, a WebSocket, rejections and a failed handshake, then the scrape read back.

Each exposition is checked by `promtool check metrics` (Debian's prometheus
package) and parsed with prometheus-client's parser.
"""

from __future__ import annotations

import asyncio
import socket
import ssl
import subprocess
import sys
import threading
from pathlib import Path

import httpx
import pytest
import trustme
from websockets.asyncio.client import connect

from hurtle.config import LoopName
from metrics_support import metrics_url, promtool_check, samples, scrape, total, value
from support import ServerProcess, wait_for

APP = "apps.metrics_apps:app"


@pytest.fixture
def tls_files(tmp_path: Path) -> tuple[Path, Path, Path]:
    ca = trustme.CA()
    cert = ca.issue_cert("127.0.0.1", "localhost")
    ca_file, cert_file, key_file = (tmp_path / n for n in ("ca.pem", "cert.pem", "key.pem"))
    ca.cert_pem.write_to_path(str(ca_file))
    cert.cert_chain_pems[0].write_to_path(str(cert_file))
    cert.private_key_pem.write_to_path(str(key_file))
    return ca_file, cert_file, key_file


def _raw_tls(port: int, context: ssl.SSLContext, data: bytes) -> bytes:
    with (
        socket.create_connection(("127.0.0.1", port), timeout=10) as plain,
        context.wrap_socket(plain, server_hostname="127.0.0.1") as sock,
    ):
        sock.sendall(data)
        chunks = []
        while chunk := sock.recv(65536):
            chunks.append(chunk)
        return b"".join(chunks)


async def _websocket_session(url: str, context: ssl.SSLContext, messages: int) -> None:
    async with connect(url, ssl=context) as websocket:
        for i in range(messages):
            await websocket.send(f"message {i}")
            assert await websocket.recv() == f"message {i}"


def test_metrics_count_known_traffic(
    tls_files: tuple[Path, Path, Path], loop_name: LoopName
) -> None:
    ca_file, cert_file, key_file = tls_files
    server = ServerProcess(
        [
            *(APP, "--port", "0", "--loop", loop_name, "--http2"),
            *("--metrics-bind", "127.0.0.1:0", "--limit-request-body", "1000"),
            *("--ssl-certfile", str(cert_file), "--ssl-keyfile", str(key_file)),
        ]
    )
    try:
        base = server.wait_ready().replace("http://", "https://")
        endpoint = metrics_url(lambda: server.output)
        port = server.port

        def client_context() -> ssl.SSLContext:
            # One each: httpx sets the context's ALPN protocols (h2 would be chosen).
            return ssl.create_default_context(cafile=str(ca_file))

        context = client_context()
        with httpx.Client(verify=client_context(), timeout=10) as http1:
            for _ in range(5):
                assert http1.get(f"{base}/status?200").status_code == 200
            for _ in range(3):
                assert http1.post(f"{base}/status?404", content=b"x" * 10).status_code == 404
            assert http1.get(f"{base}/status?503").status_code == 503
        with httpx.Client(verify=client_context(), timeout=10, http2=True) as http2:
            for _ in range(4):
                response = http2.get(f"{base}/status?201")
                assert response.http_version == "HTTP/2"
                assert response.status_code == 201
            assert http2.delete(f"{base}/status?500").status_code == 500
        asyncio.run(_websocket_session(f"wss://127.0.0.1:{port}/ws", context, 3))
        too_large = _raw_tls(
            port,
            context,
            b"POST / HTTP/1.1\r\nHost: t\r\nContent-Length: 5000\r\n\r\n" + b"x" * 5000,
        )
        assert too_large.startswith(b"HTTP/1.1 413 ")
        too_many = b"".join(b"X-%d: y\r\n" % i for i in range(150))
        many_headers = _raw_tls(
            port, context, b"GET / HTTP/1.1\r\nHost: t\r\n" + too_many + b"\r\n"
        )
        assert many_headers.startswith(b"HTTP/1.1 431 ")
        # Plain HTTP to the TLS port: the handshake fails.
        with socket.create_connection(("127.0.0.1", port), timeout=10) as plain:
            plain.sendall(b"GET / HTTP/1.1\r\nHost: t\r\n\r\n")
            try:
                while plain.recv(4096):
                    pass
            except ConnectionResetError:
                pass

        def settled() -> bool:
            found = samples(scrape(endpoint))
            return (
                value(found, "hurtle_tls_handshake_failures_total") >= 1
                and total(found, "hurtle_websocket_messages_total") >= 6
            )

        wait_for(settled, timeout=10)
        text = scrape(endpoint)
        promtool_check(text)
        found = samples(text)
        requests = "hurtle_requests_total"
        h1, h2 = "HTTP/1.1", "HTTP/2"
        assert value(found, requests, method="GET", status="2xx", protocol=h1) == 5
        assert value(found, requests, method="POST", status="4xx", protocol=h1) == 3
        assert value(found, requests, method="GET", status="5xx", protocol=h1) == 1
        assert value(found, requests, method="GET", status="2xx", protocol=h2) == 4
        assert value(found, requests, method="DELETE", status="5xx", protocol=h2) == 1
        assert total(found, requests) == 14
        assert value(found, "hurtle_request_duration_seconds_count") == 14
        assert value(found, "hurtle_request_duration_seconds_bucket", le="+Inf") == 14
        assert value(found, "hurtle_websocket_sessions_total") == 1
        assert value(found, "hurtle_websocket_messages_total", direction="received") == 3
        assert value(found, "hurtle_websocket_messages_total", direction="sent") == 3
        assert value(found, "hurtle_rejected_requests_total", reason="413") == 1
        assert value(found, "hurtle_rejected_requests_total", reason="431") == 1
        assert value(found, "hurtle_tls_handshake_failures_total") == 1
        for protocol in (h1, h2, "WebSocket"):
            assert value(found, "hurtle_received_bytes_total", protocol=protocol) > 0
            assert value(found, "hurtle_sent_bytes_total", protocol=protocol) > 0
        assert value(found, "hurtle_requests_in_flight") == 0
        assert value(found, "hurtle_event_loop_lag_seconds") >= 0
        # Not a supervisor: no worker metrics.
        assert total(found, "hurtle_worker_starts_total") == 0
    finally:
        server.stop()


def test_in_flight_and_open_connections_are_gauges() -> None:
    server = ServerProcess([APP, "--port", "0", "--metrics-bind", "127.0.0.1:0"])
    try:
        base = server.wait_ready()
        endpoint = metrics_url(lambda: server.output)
        with httpx.Client(timeout=10) as client:

            def slow() -> None:
                client.get(f"{base}/slow?1.5")

            waiting = threading.Thread(target=slow)
            waiting.start()
            try:
                wait_for(lambda: value(samples(scrape(endpoint)), "hurtle_requests_in_flight") == 1)
                found = samples(scrape(endpoint))
                assert value(found, "hurtle_open_connections", protocol="HTTP/1.1") == 1
            finally:
                waiting.join(10)
        wait_for(lambda: value(samples(scrape(endpoint)), "hurtle_requests_in_flight") == 0)
    finally:
        server.stop()


def test_limit_concurrency_rejections_are_counted() -> None:
    server = ServerProcess(
        [APP, "--port", "0", "--metrics-bind", "127.0.0.1:0", "--limit-concurrency", "1"]
    )
    try:
        base = server.wait_ready()
        endpoint = metrics_url(lambda: server.output)
        with httpx.Client(timeout=10) as first, httpx.Client(timeout=10) as second:
            waiting = threading.Thread(target=lambda: first.get(f"{base}/slow?1.5"))
            waiting.start()
            try:
                wait_for(lambda: value(samples(scrape(endpoint)), "hurtle_requests_in_flight") == 1)
                assert second.get(f"{base}/").status_code == 503
            finally:
                waiting.join(10)
        found = samples(scrape(endpoint))
        assert value(found, "hurtle_rejected_requests_total", reason="503") == 1
    finally:
        server.stop()


def test_without_prometheus_client_the_flag_is_a_clear_usage_error() -> None:
    code = (
        "import sys; sys.modules['prometheus_client'] = None; "
        "sys.argv = ['hurtle', '--port', '0', '--metrics-bind', '127.0.0.1:0']; "
        "from hurtle.cli import main; main()"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert done.returncode == 2, done.stdout + done.stderr
    assert "pip install 'hurtle[metrics]'" in done.stdout + done.stderr


@pytest.mark.parametrize("bind", ["9100", "localhost:", ":9100", "127.0.0.1:99999"])
def test_a_bad_metrics_bind_is_a_usage_error(bind: str) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "hurtle", "--metrics-bind", bind],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 2
    assert "HOST:PORT" in done.stdout + done.stderr
