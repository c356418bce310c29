"""``held_exclusively``: one holder at a time across processes (another Database object on the
same database stands for another process), never waiting, released by a holder that dies."""

from __future__ import annotations

import multiprocessing
from collections.abc import Callable
from pathlib import Path

import pytest

from shared.db import Database
from shared.exclusive import held_exclusively
from shared.platform import ServiceContext


def test_a_second_holder_is_refused_at_once_then_admitted(make_ctx: Callable[[str], ServiceContext]) -> None:
    ctx = make_ctx("loans")
    other = Database(ctx.settings.database_url)  # another process's view of the same database
    try:
        with held_exclusively(ctx.db, "work") as first:
            assert first
            with held_exclusively(other, "work") as second:
                assert not second
            with held_exclusively(other, "other-work") as unrelated:
                assert unrelated  # names are independent
        with held_exclusively(other, "work") as later:
            assert later
    finally:
        other.dispose()


def test_an_exception_in_the_block_releases_it(make_ctx: Callable[[str], ServiceContext]) -> None:
    ctx = make_ctx("loans")

    def failing_work() -> None:
        with held_exclusively(ctx.db, "work") as held:
            assert held
            raise RuntimeError("the work failed")

    with pytest.raises(RuntimeError):
        failing_work()
    with held_exclusively(ctx.db, "work") as again:
        assert again


def _hold_and_die(url: str, ready: multiprocessing.synchronize.Event) -> None:
    db = Database(url)
    with held_exclusively(db, "work") as held:
        assert held
        ready.set()
        multiprocessing.current_process().kill()  # dies holding it: no release runs


def test_a_holder_that_dies_leaves_it_free(make_ctx: Callable[[str], ServiceContext]) -> None:
    ctx = make_ctx("loans")
    spawn = multiprocessing.get_context("spawn")
    ready = spawn.Event()
    child = spawn.Process(target=_hold_and_die, args=(ctx.settings.database_url, ready))
    child.start()
    assert ready.wait(timeout=60), "the child never took the lock"
    child.join(timeout=60)
    assert child.exitcode is not None and child.exitcode != 0
    with held_exclusively(ctx.db, "work") as held:
        assert held


def test_the_lock_file_beside_sqlite_is_private(make_ctx: Callable[[str], ServiceContext]) -> None:
    ctx = make_ctx("loans")
    if not ctx.db.is_sqlite:
        pytest.skip("PostgreSQL holds an advisory lock, not a file")
    with held_exclusively(ctx.db, "work"):
        path = Path(ctx.db.engine.url.database or "").with_name(
            Path(ctx.db.engine.url.database or "").name + ".work.lock"
        )
        assert path.exists() and path.stat().st_mode & 0o777 == 0o600
