"""Readable output, and bounded waiting for what the worker does asynchronously.

``DemoStopped`` is the one way the story stops on its own (something did not happen in
time, or the system is not in a state the story can go on from); the CLI prints its text
as one line and exits 1.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TypeVar

import typer

_T = TypeVar("_T")


class DemoStopped(Exception):
    """The story cannot go on; the message says why, in plain words."""


def money(minor: int, currency: str) -> str:
    """``USD 1,234.56`` from minor units (two decimals; the demo's currency has them)."""
    sign = "-" if minor < 0 else ""
    units, cents = divmod(abs(minor), 100)
    return f"{currency} {sign}{units:,}.{cents:02d}"


def percent(value: object) -> str:
    """A rate in [0, 1] (a Decimal, a float or a decimal string) as ``12.5%``."""
    try:
        return f"{float(str(value)) * 100:.1f}%"
    except ValueError:
        return str(value)


class Progress:
    """Numbered steps, indented lines, and dots while waiting."""

    def __init__(self, steps: int) -> None:
        self._steps = steps
        self._step = 0
        self._started = time.monotonic()

    def step(self, title: str) -> None:
        """Start the next numbered step."""
        self._step += 1
        typer.echo("")
        typer.secho(f"[{self._step}/{self._steps}] {title}", bold=True)

    def blank(self) -> None:
        """An empty line."""
        typer.echo("")

    def line(self, text: str, *, indent: int = 1) -> None:
        """One line of the story."""
        typer.echo("  " * indent + text)

    def elapsed(self) -> float:
        """Seconds since the story started."""
        return time.monotonic() - self._started

    def wait_for(
        self, what: str, probe: Callable[[], _T | None], *, timeout: float, interval: float = 0.25
    ) -> _T:
        """Call ``probe`` until it answers something truthy (dots meanwhile); ``DemoStopped`` at last."""
        deadline = time.monotonic() + timeout
        shown = False
        while True:
            result = probe()
            if result:
                if shown:
                    typer.echo(" done")
                return result
            if time.monotonic() >= deadline:
                if shown:
                    typer.echo(" gave up")
                raise DemoStopped(f"waited {timeout:g} s for {what}; is the worker running (agrifin run)?")
            if not shown:
                typer.echo(f"    waiting for {what} ", nl=False)
                shown = True
            typer.echo(".", nl=False)
            time.sleep(interval)
