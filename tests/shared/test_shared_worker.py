"""The worker loop (``shared.worker.run_jobs``): each job in its own thread on its own interval,
so a slow job starves no other; a failing job stops nothing; on stop, jobs finish their
current call within the grace, and the ones that did not are named."""

from __future__ import annotations

import contextlib
import threading

from shared.worker import Job, claim_each, run_jobs, stop_requested

FAST_RUNS = 20


def _run_in_background(
    jobs: list[Job], stop: threading.Event, **kw: float
) -> tuple[threading.Thread, list[list[str]]]:
    left: list[list[str]] = []
    thread = threading.Thread(target=lambda: left.append(run_jobs(jobs, stop, **kw)))
    thread.start()
    return thread, left


def test_a_job_that_blocks_for_5_s_does_not_delay_the_others() -> None:
    stop, release, slow_done = threading.Event(), threading.Event(), threading.Event()
    fast_runs: list[int] = []
    seen_while_blocked: list[int] = []

    def slow() -> None:  # a webhook subscriber that hangs, a long training
        if slow_done.is_set():
            return
        release.wait(5)
        seen_while_blocked.append(len(fast_runs))
        slow_done.set()

    def fast() -> None:  # payment confirmation
        fast_runs.append(1)
        if len(fast_runs) >= FAST_RUNS:
            release.set()

    def failing() -> None:
        raise RuntimeError("this job always fails")

    thread, left = _run_in_background(
        [("slow", 0.05, slow), ("failing", 0.05, failing), ("fast", 0.05, fast)], stop
    )
    try:
        assert slow_done.wait(10)
    finally:
        stop.set()
        thread.join(10)
    # Serially, the fast job would not have run at all while the slow one blocked.
    assert seen_while_blocked[0] >= FAST_RUNS
    assert left == [[]]


def test_on_stop_jobs_finish_their_call_within_the_grace_and_stragglers_are_named() -> None:
    stop, started, finished = threading.Event(), threading.Event(), threading.Event()
    hanging, hung = threading.Event(), threading.Event()

    def finishes_its_item() -> None:
        if finished.is_set():
            return
        started.set()
        stop.wait(10)
        finished.set()  # the item in hand is finished and recorded after the stop

    def never_returns() -> None:
        hanging.set()
        hung.wait(30)

    thread, left = _run_in_background(
        [("drains", 0.05, finishes_its_item), ("hangs", 0.05, never_returns)], stop, grace=0.5
    )
    assert started.wait(10) and hanging.wait(10)
    stop.set()
    thread.join(10)
    hung.set()
    assert finished.is_set()
    assert left == [["hangs"]]


def test_claim_each_takes_no_more_items_once_the_worker_stops() -> None:
    stop = threading.Event()
    items = iter(range(10))
    worked: list[int] = []

    class FakeDb:
        """claim_each only needs unit_of_work()."""

        def unit_of_work(self) -> contextlib.nullcontext[None]:
            return contextlib.nullcontext(None)

    def work(_: object, item: int) -> None:
        worked.append(item)
        if item == 2:
            stop.set()  # SIGTERM arrives while item 2 is in hand

    def job() -> None:
        claim_each(FakeDb(), limit=10, claim=lambda _: next(items), work=work)  # type: ignore[arg-type]

    assert not stop_requested()  # outside a worker job
    thread, _ = _run_in_background([("items", 60.0, job)], stop, grace=5)
    thread.join(10)
    assert worked == [0, 1, 2]
