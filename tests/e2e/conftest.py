"""One started system shared by the e2e modules of the ``e2e-system`` xdist group.

Bootstrapping and starting the whole system take most of a minute, so ``test_e2e_run`` and
``test_e2e_demo`` share one: both modules are in the group, ``--dist loadgroup`` (the
Makefile's; tests/conftest.py makes xdist honour groups under pytest 9) runs them on one
worker, and this package-scoped fixture starts the system once there. Neither test relies on
running first, or alone. At the end the system gets SIGTERM and ``agrifin run`` must exit 0:
every process stopped cleanly (a teardown error otherwise).
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.e2e.system import RunningSystem, start_system


@pytest.fixture(scope="package")
def running_system(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningSystem]:
    """The whole system bootstrapped (twice) and started; stopped by SIGTERM at the end (exit 0)."""
    system = start_system(tmp_path_factory.mktemp("e2e-system") / "var")
    yield system
    code = system.stop()
    assert code == 0, f"agrifin run exited {code} after SIGTERM: a process did not stop cleanly"
