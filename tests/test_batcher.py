"""The request batcher on its own: which jobs share a batch, and what each gets back.

Jobs are queued before the decoding thread starts, so which batches form does not depend on
timing."""

from __future__ import annotations

import threading

import pytest

from nmt.serving.batcher import Batcher, QueueFull, ShuttingDown

TIMEOUT = 30.0


class Recorder:
    """A decoding function that records its batches and returns each line upper-cased."""

    def __init__(self, fail_on: str | None = None):
        self.batches: list[tuple[object, list[str]]] = []
        self.fail_on = fail_on

    def __call__(self, key, lines):
        self.batches.append((key, list(lines)))
        if self.fail_on in lines:
            raise ValueError(f"cannot decode {self.fail_on}")
        return [line.upper() for line in lines]


def results(futures):
    return [future.result(timeout=TIMEOUT) for future in futures]


def test_queued_jobs_with_one_key_share_a_batch_and_each_gets_its_own_results():
    run = Recorder()
    batcher = Batcher(run, max_tokens=100, max_wait_s=0.0, max_queue=100)
    futures = [batcher.submit("k", lines, tokens=len(lines)) for lines in (["a", "b"], ["c"], ["d", "e", "f"])]
    batcher.start()
    assert results(futures) == [["A", "B"], ["C"], ["D", "E", "F"]]
    batcher.close(TIMEOUT)
    assert run.batches == [("k", ["a", "b", "c", "d", "e", "f"])]
    assert (batcher.stats.batches, batcher.stats.requests, batcher.stats.largest) == (1, 3, 6)


def test_a_batch_stops_at_the_token_budget_and_never_splits_a_job():
    run = Recorder()
    batcher = Batcher(run, max_tokens=5, max_wait_s=0.0, max_queue=100)
    futures = [batcher.submit("k", [x], tokens=t) for x, t in (("a", 3), ("b", 2), ("c", 4), ("d", 9))]
    batcher.start()
    assert results(futures) == [["A"], ["B"], ["C"], ["D"]]
    batcher.close(TIMEOUT)
    assert [lines for _, lines in run.batches] == [["a", "b"], ["c"], ["d"]]  # d alone exceeds the budget


def test_jobs_with_different_keys_are_never_mixed_and_keep_their_order():
    run = Recorder()
    batcher = Batcher(run, max_tokens=100, max_wait_s=0.0, max_queue=100)
    futures = [batcher.submit(key, [x], 1) for key, x in (("beam5", "a"), ("beam1", "b"), ("beam5", "c"), ("beam1", "d"))]
    batcher.start()
    assert results(futures) == [["A"], ["B"], ["C"], ["D"]]
    batcher.close(TIMEOUT)
    assert run.batches == [("beam5", ["a", "c"]), ("beam1", ["b", "d"])]


def test_batching_off_decodes_each_job_alone():
    run = Recorder()
    batcher = Batcher(run, max_tokens=100, max_wait_s=1.0, max_queue=100, enabled=False)
    futures = [batcher.submit("k", [x], 1) for x in "abc"]
    batcher.start()
    assert results(futures) == [["A"], ["B"], ["C"]]
    batcher.close(TIMEOUT)
    assert [lines for _, lines in run.batches] == [["a"], ["b"], ["c"]]


def test_a_full_queue_refuses_at_once_but_an_empty_queue_takes_any_job():
    batcher = Batcher(Recorder(), max_tokens=100, max_wait_s=0.0, max_queue=3)
    batcher.submit("k", ["a", "b", "c", "d"], 4)  # larger than the queue, but alone: taken
    with pytest.raises(QueueFull):
        batcher.submit("k", ["e"], 1)
    assert batcher.stats.refused == 1 and batcher.queued == 4
    batcher.start()
    batcher.close(TIMEOUT)


def test_a_decoding_error_goes_to_its_batch_and_the_next_batch_still_runs():
    run = Recorder(fail_on="bad")
    batcher = Batcher(run, max_tokens=100, max_wait_s=0.0, max_queue=100)
    failing = [batcher.submit("k", ["x"], 1), batcher.submit("k", ["bad"], 1)]
    fine = batcher.submit("other", ["y"], 1)
    batcher.start()
    for future in failing:
        with pytest.raises(ValueError, match="cannot decode bad"):
            future.result(timeout=TIMEOUT)
    assert fine.result(timeout=TIMEOUT) == ["Y"]
    batcher.close(TIMEOUT)


def test_a_cancelled_job_is_skipped():
    run = Recorder()
    batcher = Batcher(run, max_tokens=100, max_wait_s=0.0, max_queue=100)
    gone, kept = batcher.submit("k", ["a"], 1), batcher.submit("k", ["b"], 1)
    assert gone.cancel()  # what a request that timed out does
    batcher.start()
    assert kept.result(timeout=TIMEOUT) == ["B"]
    batcher.close(TIMEOUT)
    assert run.batches == [("k", ["b"])]


def test_close_decodes_what_is_queued_then_refuses_new_jobs():
    started, release = threading.Event(), threading.Event()

    def slow(key, lines):
        started.set()
        assert release.wait(TIMEOUT)
        return lines

    batcher = Batcher(slow, max_tokens=1, max_wait_s=0.0, max_queue=100).start()
    first = batcher.submit("k", ["a"], 1)
    assert started.wait(TIMEOUT)  # "a" is being decoded
    queued = batcher.submit("k", ["b"], 1)
    closer = threading.Thread(target=batcher.close, args=(TIMEOUT,))
    closer.start()
    with pytest.raises(ShuttingDown):
        while True:  # close() sets the flag at once; until then submissions are still taken
            batcher.submit("k", ["late"], 1).cancel()
    release.set()
    closer.join(TIMEOUT)
    assert (first.result(timeout=TIMEOUT), queued.result(timeout=TIMEOUT)) == (["a"], ["b"])
    assert not batcher.running


def test_the_first_job_waits_for_more_until_the_budget_is_reached():
    run = Recorder()
    batcher = Batcher(run, max_tokens=3, max_wait_s=TIMEOUT, max_queue=100).start()
    futures = [batcher.submit("k", [x], 1) for x in "abc"]  # the third fills the budget: no waiting out max_wait
    assert results(futures) == [["A"], ["B"], ["C"]]
    batcher.close(TIMEOUT)
    assert run.batches == [("k", ["a", "b", "c"])]


def test_after_a_batch_the_next_waits_for_as_many_requests_as_it_answered():
    run = Recorder()
    batcher = Batcher(run, max_tokens=100, max_wait_s=0.0, max_queue=100)
    first = [batcher.submit("k", [x], 1) for x in "ab"]
    batcher.start()
    assert results(first) == [["A"], ["B"]]  # two answered: the next batch waits for two
    batcher.max_wait_s = TIMEOUT
    second = [batcher.submit("k", [x], 1) for x in "cd"]
    assert results(second) == [["C"], ["D"]]
    batcher.close(TIMEOUT)
    assert [lines for _, lines in run.batches] == [["a", "b"], ["c", "d"]]  # "c" waited for "d"


def test_a_lone_client_never_waits_out_max_wait():
    run = Recorder()
    batcher = Batcher(run, max_tokens=100, max_wait_s=0.0, max_queue=100).start()
    assert batcher.submit("k", ["a"], 1).result(timeout=TIMEOUT) == ["A"]
    batcher.max_wait_s = 3600.0
    for x in "bc":  # one answered, one back: decoded at once (else this test would hang an hour)
        assert batcher.submit("k", [x], 1).result(timeout=TIMEOUT) == [x.upper()]
    batcher.close(TIMEOUT)
    assert [lines for _, lines in run.batches] == [["a"], ["b"], ["c"]]
