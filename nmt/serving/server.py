"""Running the app under uvicorn: the address printed once listening, and SIGTERM (or Ctrl-C)
as a graceful stop: no new connections, the requests in flight answered, exit status 0."""

from __future__ import annotations

import contextlib
import signal
import sys
import threading
from typing import Callable, Iterator, Optional

import uvicorn

from nmt.serving.app import create_app
from nmt.serving.service import TranslationService

SIGNALS = (signal.SIGINT, signal.SIGTERM)


class Server(uvicorn.Server):
    """uvicorn's server, except that a stop signal ends `run` normally instead of being raised
    again once the server is down (uvicorn does that, and the process then dies of SIGTERM with
    status 143 even though it stopped cleanly)."""

    def __init__(self, config: uvicorn.Config, on_listening: Optional[Callable[[str], None]] = None,
                 on_stop: Optional[Callable[[], None]] = None):
        super().__init__(config)
        self.on_listening = on_listening
        self.on_stop = on_stop  # called when stopping begins, before waiting for the requests in flight

    @contextlib.contextmanager
    def capture_signals(self):
        if threading.current_thread() is not threading.main_thread():
            yield
            return
        previous = {sig: signal.signal(sig, self.handle_exit) for sig in SIGNALS}
        try:
            yield
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)

    async def shutdown(self, sockets=None) -> None:
        if self.on_stop is not None:
            self.on_stop()
        await super().shutdown(sockets)

    async def startup(self, sockets=None) -> None:
        await super().startup(sockets)
        if self.started and self.on_listening is not None:
            host, port = self.servers[0].sockets[0].getsockname()[:2]
            self.on_listening(f"http://{host}:{port}")


def serve(service: TranslationService, host: str, port: int, log_level: str = "warning",
          on_listening: Optional[Callable[[str], None]] = None) -> None:
    """Serve until a stop signal. Stopping drains the batcher at once (a batch waiting for more
    requests is decoded now), answers the requests in flight, then returns."""
    config = uvicorn.Config(create_app(service), host=host, port=port, log_level=log_level, lifespan="off",
                            timeout_graceful_shutdown=int(service.config.request_timeout_s) + 5,
                            access_log=log_level in ("info", "debug"))
    service.start()
    try:
        Server(config, on_listening, on_stop=service.batcher.drain).run()
    finally:
        service.close()


def print_listening(url: str) -> None:
    print(f"nmt serve: listening on {url} (the page: {url}/, the API: {url}/openapi.json)", flush=True)
    sys.stdout.flush()


@contextlib.contextmanager
def in_thread(service: TranslationService, host: str = "127.0.0.1", port: int = 0,
              timeout: float = 60.0) -> Iterator[str]:
    """Serve on a thread of this process (tests, scripts, notebooks): yields the base URL once
    listening (port 0: a free one); on exit, stops as SIGTERM would and closes the service."""
    listening: dict[str, str] = {}
    ready = threading.Event()

    def on_listening(url: str) -> None:
        listening["url"] = url
        ready.set()

    config = uvicorn.Config(create_app(service), host=host, port=port, log_level="error", lifespan="off")
    server = Server(config, on_listening, on_stop=service.batcher.drain)
    service.start()
    thread = threading.Thread(target=server.run, name="nmt-serve", daemon=True)
    thread.start()
    try:
        if not ready.wait(timeout):
            raise RuntimeError(f"the server did not start listening within {timeout:g} s")
        yield listening["url"]
    finally:
        server.should_exit = True
        thread.join(timeout)
        service.close()
