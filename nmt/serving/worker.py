"""Decoding in a child process, so that the HTTP event loop and beam search do not share a GIL.

Beam search is a Python loop of small tensor operations; each releases the GIL around its
kernel and must take it back. In one process with the event loop (parsing, validating and
answering requests), every hand-over can wait for the other thread's switch interval, and the
decoder stalls while requests arrive. The child holds its own copy of the models and decodes
the batches the `Batcher` hands it over a pipe; the server process keeps a copy for the
tokenizer and the configs (cheap next to a batch's activations). Pickle crosses only this pipe
between two processes of the same server, never a file.
"""

from __future__ import annotations

import multiprocessing
import signal
import threading
from typing import Optional, Sequence

from nmt.config import TranslatorConfig
from nmt.errors import NMTError


def _serve_batches(connection, specs: list[tuple[str, str]], options: dict, device: str,
                   threads: Optional[int]) -> None:
    """The child: load the models, then decode (name, search, attention, lines) until told to stop."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the parent stops us, after the requests in flight
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    import torch

    from nmt.decoding.translator import Translator

    if threads is not None:
        torch.set_num_threads(threads)
    try:
        translators = {name: Translator.load(directory, device=device, options=TranslatorConfig(**options))
                       for name, directory in specs}
    except NMTError as err:
        connection.send(("error", str(err)))
        return
    connection.send(("ready", None))
    while True:
        try:
            message = connection.recv()
        except EOFError:  # the server is gone
            return
        if message is None:
            return
        name, search, attention, lines = message
        try:
            connection.send(("ok", translators[name].translate(lines, search, attention=attention)))
        except NMTError as err:
            connection.send(("error", str(err)))
        except Exception as err:  # a bug: reported to the batch's requests, the child goes on
            connection.send(("crash", f"{type(err).__name__}: {err}"))


class DecoderProcess:
    """A child process that decodes batches: `decode(name, search, attention, lines)`."""

    def __init__(self, specs: Sequence[tuple[str, str]], options: TranslatorConfig, device: str = "cpu",
                 threads: Optional[int] = None, start_timeout_s: float = 300.0):
        context = multiprocessing.get_context("spawn")  # no fork of a process with threads and torch
        self._connection, child = context.Pipe()
        self._lock = threading.Lock()
        self.process = context.Process(target=_serve_batches, name="nmt-decoder", daemon=True,
                                       args=(child, [(n, str(d)) for n, d in specs], options.model_dump(), device, threads))
        self.process.start()
        child.close()
        if not self._connection.poll(start_timeout_s):
            self.close()
            raise NMTError(f"the decoding process did not start within {start_timeout_s:g} s")
        status, detail = self._receive()
        if status != "ready":
            self.close()
            raise NMTError(detail)

    def decode(self, name: str, search, attention: bool, lines: list[str]):
        with self._lock:  # one batch at a time (the batcher has one thread anyway)
            try:
                self._connection.send((name, search, attention, lines))
            except OSError:  # a broken pipe: the child is gone
                raise RuntimeError(f"the decoding process died (exit status {self.process.exitcode})") from None
            status, detail = self._receive()
        if status == "ok":
            return detail
        if status == "error":
            raise NMTError(detail)
        raise RuntimeError(f"decoding process: {detail}")

    def _receive(self):
        try:
            return self._connection.recv()
        except EOFError:
            raise RuntimeError(f"the decoding process died (exit status {self.process.exitcode})") from None

    def close(self, timeout: float = 30.0) -> None:
        try:
            self._connection.send(None)
        except (OSError, EOFError, BrokenPipeError):
            pass
        self.process.join(timeout)
        if self.process.is_alive():
            self.process.kill()
            self.process.join(timeout)
        self._connection.close()
