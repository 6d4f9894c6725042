"""Helpers of the serving tests: a server on a free loopback port in a thread, and a client on
the standard library (what the tests check is the server, not a client library)."""

from __future__ import annotations

import contextlib
import http.client
import json
import threading
import time
from typing import Any, Callable, Iterator, Optional
from urllib.parse import urlsplit

import uvicorn

from nmt.config import ServeConfig
from nmt.serving.app import create_app
from nmt.serving.server import Server
from nmt.serving.service import TranslationService

TIMEOUT = 60.0  # seconds any wait in these tests may take before it is a failure


def serve_config(**fields) -> ServeConfig:
    """A `ServeConfig` that decodes on the batcher's thread: no child process to start (4 s of
    imports each); `test_sigterm_...` and `test_the_decoder_process_...` run the child."""
    return ServeConfig(**{"decoder_process": False, **fields})


@contextlib.contextmanager
def running(service: TranslationService) -> Iterator[str]:
    """`service` behind uvicorn on 127.0.0.1:<free port>; yields the base URL."""
    listening: dict[str, str] = {}
    ready = threading.Event()

    def on_listening(url: str) -> None:
        listening["url"] = url
        ready.set()

    config = uvicorn.Config(create_app(service), host="127.0.0.1", port=0, log_level="error", lifespan="off")
    server = Server(config, on_listening, on_stop=service.batcher.drain)
    service.start()
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    try:
        assert ready.wait(TIMEOUT), "the server did not start listening"
        yield listening["url"]
    finally:
        server.should_exit = True
        thread.join(TIMEOUT)
        service.close()


def request(url: str, method: str, path: str, body: Any = None, raw: Optional[bytes] = None,
            headers: Optional[dict] = None) -> tuple[int, dict, Any]:
    """(status, headers, parsed JSON body) of one request; `raw` sends bytes as they are."""
    parts = urlsplit(url)
    connection = http.client.HTTPConnection(parts.hostname, parts.port, timeout=TIMEOUT)
    try:
        data = raw if raw is not None else (None if body is None else json.dumps(body).encode())
        connection.request(method, path, body=data, headers={"Content-Type": "application/json", **(headers or {})})
        response = connection.getresponse()
        payload = response.read()
        text = payload.decode("utf-8")
        parsed = json.loads(text) if response.getheader("content-type", "").startswith("application/json") else text
        return response.status, {k.lower(): v for k, v in response.getheaders()}, parsed
    finally:
        connection.close()


def post(url: str, path: str, body: Any = None, **kwargs) -> tuple[int, dict, Any]:
    return request(url, "POST", path, body, **kwargs)


def wait_until(condition: Callable[[], bool], what: str, timeout: float = TIMEOUT) -> None:
    """Poll observable state until `condition()` holds; fail after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.01)
