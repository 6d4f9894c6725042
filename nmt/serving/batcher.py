"""Request batching: the sentences of concurrent requests decoded in one batch.

A decoding batch of 64 sentences costs little more than one (the Luong recipe model translates
test2016 5.6x faster at batch 64 than sentence by sentence), so a server that decodes each
request alone wastes most of a CPU. Requests queue here; one decoding thread takes the oldest,
waits up to `max_wait_s` for more with the same key (model and search options, which one search
must share), takes them in arrival order up to `max_tokens` source pieces, decodes them together
and hands each request its own slice of the results.

How long to wait: clients that each wait for their answer before sending the next request,
batched as soon as the decoder is free, split into two groups that take turns (measured: 32
clients, batches of 15.4 sentences on average), because one group's batch starts before the
other group, just answered, is back. So a batch waits at most `max_wait_s` from the later of
the oldest job's arrival and the end of the last batch, or until the budget is full; and when
its first job came within `max_wait_s` of the last batch's answers, it stops waiting once as many
new requests have arrived as that batch answered. A lone client (one answered, one back) does
not wait; 32 clients fill batches of about 29; requests that arrive together after a quiet
spell wait up to `max_wait_s` for each other.

Why not a serving library's batcher: LitServe batches whole requests by count (`max_batch_size`),
so a request of 200 sentences and one of a single word weigh the same, and requests with
different search options would land in one batch; the budget that bounds a batch's memory and
latency here is source pieces. The queue itself is small: a deque under a condition variable.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from concurrent.futures import Future
from dataclasses import dataclass, field
from typing import Callable, Hashable, Sequence


class QueueFull(Exception):
    """The queue holds `max_queue` sentences already: the request is refused at once (503)."""


class ShuttingDown(Exception):
    """The server is stopping and takes no new work (503)."""


@dataclass(eq=False)
class Job:
    """One request's sentences; `future` gets their results, in order."""

    key: Hashable  # jobs with equal keys may share a batch
    lines: list[str]
    tokens: int  # source pieces: the job's share of a batch's budget
    future: Future = field(default_factory=Future)
    arrived: float = field(default_factory=time.monotonic)


@dataclass
class BatchStats:
    batches: int = 0  # decoding calls
    sentences: int = 0  # sentences decoded
    requests: int = 0  # jobs answered
    refused: int = 0  # submissions refused because the queue was full
    largest: int = 0  # most sentences in one batch


class Batcher:
    """A queue of jobs and the thread that decodes them. `run(key, lines)` returns one result per
    line; an exception it raises goes to every job of that batch."""

    def __init__(self, run: Callable[[Hashable, list[str]], Sequence], max_tokens: int, max_wait_s: float,
                 max_queue: int, enabled: bool = True):
        self.run = run
        self.max_tokens = max_tokens
        self.max_wait_s = max_wait_s
        self.max_queue = max_queue
        self.enabled = enabled  # False: one job per batch, no waiting
        self.stats = BatchStats()
        self._jobs: deque[Job] = deque()
        self._queued = 0  # sentences in _jobs
        self._cond = threading.Condition()
        self._closing = False
        self._free_since = time.monotonic()  # when the last batch was answered
        self._answered: int | None = None  # requests the last batch answered: as many are expected back
        self._arrivals = 0  # jobs submitted so far
        self._arrivals_when_free = 0  # ... when the last batch was answered
        self._thread = threading.Thread(target=self._loop, name="nmt-batcher", daemon=True)

    @property
    def queued(self) -> int:
        return self._queued

    @property
    def running(self) -> bool:
        return self._thread.is_alive() and not self._closing

    def start(self) -> "Batcher":
        self._thread.start()
        return self

    def submit(self, key: Hashable, lines: list[str], tokens: int) -> Future:
        """Queue a job; `QueueFull` or `ShuttingDown` at once when it cannot be taken. A job alone
        is always taken into an empty queue, whatever its size (requests are bounded before)."""
        job = Job(key, list(lines), tokens)
        with self._cond:
            if self._closing:
                raise ShuttingDown()
            if self._queued and self._queued + len(job.lines) > self.max_queue:
                self.stats.refused += 1
                raise QueueFull()
            self._jobs.append(job)
            self._queued += len(job.lines)
            self._arrivals += 1
            self._cond.notify_all()
        return job.future

    def drain(self) -> None:
        """Take no new jobs and stop waiting for more: what is queued is decoded now. Does not
        block (a server calls it from its event loop when a stop signal comes)."""
        with self._cond:
            self._closing = True
            self._cond.notify_all()

    def close(self, timeout: float | None = None) -> None:
        """Take no new jobs, decode those queued, then stop the thread."""
        self.drain()
        if self._thread.is_alive():
            self._thread.join(timeout)

    def _take(self) -> list[Job]:
        """The next batch: the oldest job and those after it with its key, within the budget;
        [] once closing with nothing left."""
        with self._cond:
            while not self._jobs and not self._closing:
                self._cond.wait()
            if not self._jobs:
                return []
            first = self._jobs[0]
            if self.enabled:
                deadline = max(first.arrived, self._free_since) + self.max_wait_s
                # the clients of the last batch are expected back only if it was answered just now
                expecting = self._answered is not None and first.arrived - self._free_since <= self.max_wait_s
                while not self._closing:
                    tokens = sum(job.tokens for job in self._jobs if job.key == first.key)
                    remaining = deadline - time.monotonic()
                    returned = expecting and self._arrivals - self._arrivals_when_free >= self._answered
                    if tokens >= self.max_tokens or remaining <= 0 or returned:
                        break
                    self._cond.wait(remaining)
            batch, budget = [], 0
            for job in self._jobs:
                if job.key != first.key:
                    continue
                if batch and (not self.enabled or budget + job.tokens > self.max_tokens):
                    break
                batch.append(job)
                budget += job.tokens
            for job in batch:
                self._jobs.remove(job)
                self._queued -= len(job.lines)
            return batch

    def _loop(self) -> None:
        while batch := self._take():
            live = [job for job in batch if job.future.set_running_or_notify_cancel()]  # skip timed-out jobs
            if not live:
                continue
            lines = [line for job in live for line in job.lines]
            try:
                results = self.run(live[0].key, lines)
            except BaseException as err:  # the batch's requests get the error; the thread goes on
                for job in live:
                    job.future.set_exception(err)
                continue
            self.stats.batches += 1
            self.stats.sentences += len(lines)
            self.stats.requests += len(live)
            self.stats.largest = max(self.stats.largest, len(lines))
            with self._cond:  # before the answers go out: their clients' next requests count as new
                self._free_since = time.monotonic()
                self._answered = len(live)
                self._arrivals_when_free = self._arrivals
            start = 0
            for job in live:
                job.future.set_result(list(results[start : start + len(job.lines)]))
                start += len(job.lines)
