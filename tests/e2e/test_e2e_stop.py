"""Graceful stop with real processes: SIGTERM to ``agrifin worker`` while a job is mid-item
lets it finish and record the item, claims nothing more and exits 0 within the grace; a
child of ``agrifin run`` that ignores SIGTERM is killed after the grace and ``run`` exits
non-zero, naming it."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from services.cli import supervise
from services.registry import SERVICE_NAMES, definition
from services.scoring.service.registry import TRAIN_JOB
from shared.jobs import enqueue_job
from shared.platform import ServiceContext

REPO = Path(__file__).resolve().parents[2]
GRACE = 20


def _wait_for(probe: Callable[[], Any], what: str, timeout: float = 120.0) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if result := probe():
            return result
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")


def _job(ctx: ServiceContext, job_id: str) -> dict[str, Any]:
    t = ctx.tables.jobs
    with ctx.db.unit_of_work(read_only=True) as session:
        return dict(session.execute(select(t).where(t.c.id == job_id)).mappings().one())


def test_sigterm_lets_the_worker_finish_and_record_the_job_in_hand(
    tmp_path: Path, keys_dir: Path, sqlite_templates: Callable[[str], Path]
) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("AGRIFIN_")}
    env.update(
        {
            "AGRIFIN_VAR_DIR": str(tmp_path),
            "AGRIFIN_KEYS_DIR": str(keys_dir),
            "AGRIFIN_STOP_GRACE_SECONDS": str(GRACE),
            "PYTHONPATH": str(REPO),
        }
    )
    for name in SERVICE_NAMES:
        path = tmp_path / f"{name}.db"
        shutil.copyfile(sqlite_templates(name), path)
        env[f"AGRIFIN_{name.upper()}_DATABASE_URL"] = f"sqlite:///{path}"
    svc = definition("scoring")
    settings = svc.settings_factory().model_copy(
        update={
            "database_url": env["AGRIFIN_SCORING_DATABASE_URL"],
            "keys_dir": keys_dir,
            "var_dir": tmp_path,
        }
    )
    ctx = ServiceContext.build(svc, settings)
    payload = {"segment": "farmer", "rows": 40_000, "seed": 1}
    with ctx.db.unit_of_work() as session:
        in_hand = enqueue_job(session, ctx, kind=TRAIN_JOB, payload=payload, actor="test").job_id
    time.sleep(0.01)  # the second is younger: claimed after the first
    with ctx.db.unit_of_work() as session:
        queued = enqueue_job(session, ctx, kind=TRAIN_JOB, payload=payload, actor="test").job_id

    worker = subprocess.Popen(
        [sys.executable, "-m", "services.cli", "worker"],
        env=env,
        cwd=REPO,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        _wait_for(
            lambda: json.loads(_job(ctx, in_hand)["progress"] or "{}").get("stage") == "training",
            "the worker to start training",
        )
        worker.send_signal(signal.SIGTERM)
        stopped_at = time.monotonic()
        output, _ = worker.communicate(timeout=GRACE + 10)
    finally:
        if worker.poll() is None:
            worker.kill()
            worker.wait()
    took = time.monotonic() - stopped_at
    assert worker.returncode == 0, output
    assert took < GRACE, took
    assert "every job finished its work in hand" in output
    done = _job(ctx, in_hand)
    assert done["state"] == "succeeded", done
    result = json.loads(done["result"])
    assert result["version"] == "farmer-v1" and result["created_by"] == "test"
    # The model it trained is registered: the item was recorded, not lost.
    with ctx.db.unit_of_work(read_only=True) as session:
        versions = session.execute(select(svc.metadata.tables["scoring_models"].c.version)).scalars().all()
    assert versions == ["farmer-v1"]
    # After SIGTERM the worker claimed nothing new.
    waiting = _job(ctx, queued)
    assert (waiting["state"], waiting["started_at"]) == ("queued", None)
    ctx.db.dispose()


def _child(tmp_path: Path, name: str, on_sigterm: str) -> list[str]:
    ready = tmp_path / f"{name}.ready"
    code = (
        "import pathlib, signal, sys, time\n"
        f"signal.signal(signal.SIGTERM, {on_sigterm})\n"
        f"pathlib.Path({str(ready)!r}).touch()\n"
        "time.sleep(120)\n"
    )
    return [sys.executable, "-c", code]


def test_run_kills_a_child_that_ignores_sigterm_after_the_grace_and_exits_non_zero(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    commands = {
        "obedient": _child(tmp_path, "obedient", "lambda *_: sys.exit(0)"),
        "stubborn": _child(tmp_path, "stubborn", "signal.SIG_IGN"),
    }
    stopping = threading.Event()
    codes: list[int] = []
    supervisor = threading.Thread(target=lambda: codes.append(supervise(commands, stopping, grace=0.5)))
    supervisor.start()
    _wait_for(lambda: all((tmp_path / f"{n}.ready").exists() for n in commands), "the children", 30)
    stopping.set()  # what run's SIGTERM handler does
    supervisor.join(30)
    assert not supervisor.is_alive()
    assert codes == [1]
    err = capsys.readouterr().err
    assert "stubborn did not stop within 0.5 s of SIGTERM; killed" in err
    assert "obedient" not in err


def test_run_exits_zero_when_every_child_stops_cleanly(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    commands = {"obedient": _child(tmp_path, "obedient", "lambda *_: sys.exit(0)")}
    stopping = threading.Event()
    codes: list[int] = []
    supervisor = threading.Thread(target=lambda: codes.append(supervise(commands, stopping, grace=5)))
    supervisor.start()
    _wait_for(lambda: (tmp_path / "obedient.ready").exists(), "the child", 30)
    stopping.set()
    supervisor.join(30)
    assert codes == [0] and capsys.readouterr().err == ""
