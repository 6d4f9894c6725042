"""Helpers of the serving tests: a server on a free loopback port in a thread, and a client on
the standard library (what the tests check is the server, not a client library)."""

from __future__ import annotations

import http.client
import json
import time
from typing import Any, Callable, Optional
from urllib.parse import urlsplit

from nmt.config import ServeConfig
from nmt.serving.server import in_thread
from nmt.serving.service import TranslationService

TIMEOUT = 60.0  # seconds any wait in these tests may take before it is a failure


def serve_config(**fields) -> ServeConfig:
    """A `ServeConfig` that decodes on the batcher's thread: no child process to start (4 s of
    imports each); `test_sigterm_...` and `test_the_decoder_process_...` run the child."""
    return ServeConfig(**{"decoder_process": False, **fields})


def running(service: TranslationService):
    """`service` behind uvicorn on 127.0.0.1:<free port>, in a thread; yields the base URL."""
    return in_thread(service, timeout=TIMEOUT)


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
