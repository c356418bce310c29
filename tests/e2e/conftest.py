"""One started system shared by the e2e modules of the ``e2e-system`` xdist group.

Bootstrapping and starting the whole system take most of a minute, so ``test_e2e_run`` and
``test_e2e_demo`` share one: both modules are in the group, ``--dist loadgroup`` (the
Makefile's) runs them on one worker, and this package-scoped fixture starts the system once
there. Neither test relies on running first, or alone. At the end the system gets SIGTERM and
``agrifin run`` must exit 0: every process stopped cleanly (a teardown error otherwise).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from _pytest.nodeid import NodeId

from tests.e2e.system import GROUP, RunningSystem, start_system

HERE = Path(__file__).resolve().parent


@pytest.hookimpl(trylast=True)
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Give this directory's ``GROUP`` tests the ``@group`` node-id suffix ``--dist loadgroup``
    schedules by. pytest-xdist 3.8 sets it as ``item._nodeid``, which pytest 9 no longer reads
    (node ids live in ``Node._id``), so without this the group is ignored and each module
    would start its own system on its own worker. Only this directory's items are touched."""
    if not getattr(config.option, "loadgroup", False):
        return
    suffix = f"@{GROUP}"
    for item in items:
        grouped = any(GROUP in mark.args for mark in item.iter_markers("xdist_group"))
        if grouped and HERE in item.path.parents and not item.nodeid.endswith(suffix):
            item._id = NodeId.parse(item.nodeid + suffix)


@pytest.fixture(scope="package")
def running_system(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningSystem]:
    """The whole system bootstrapped (twice) and started; stopped by SIGTERM at the end (exit 0)."""
    system = start_system(tmp_path_factory.mktemp("e2e-system") / "var")
    yield system
    code = system.stop()
    assert code == 0, f"agrifin run exited {code} after SIGTERM: a process did not stop cleanly"
