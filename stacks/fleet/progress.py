"""The live display of a fleet run: one line per tenant with its phase and resource
progress, redrawn in place on a terminal (rich `Live`); on a pipe (CI logs) one line
per phase change instead."""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from types import TracebackType

from rich.console import Console
from rich.live import Live
from rich.table import Table

from stacks.fleet.summary import TenantResult


@dataclass
class _Line:
    flavor: str
    phase: str = "queued"
    started: int = 0
    finished: int = 0
    since: float = field(default_factory=time.monotonic)
    result: str = ""


class LiveProgress:
    """A `stacks.fleet.runner.Progress` on a rich console (stderr by default).

    Use as a context manager around `run_fleet`; thread-safe (workers report from
    their own threads)."""

    def __init__(self, tenants: dict[str, str], console: Console | None = None) -> None:
        """`tenants`: tenant name -> flavor, in display order."""
        self.console = console or Console(stderr=True)
        self._lines = {name: _Line(flavor) for name, flavor in tenants.items()}
        self._lock = threading.Lock()
        self._live: Live | None = None

    def __enter__(self) -> LiveProgress:
        if self.console.is_terminal:
            self._live = Live(self._render(), console=self.console, refresh_per_second=4)
            self._live.__enter__()
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        trace: TracebackType | None,
    ) -> None:
        if self._live is not None:
            self._live.update(self._render())
            self._live.__exit__(kind, error, trace)
            self._live = None

    def update(
        self, tenant: str, *, phase: str | None = None, started: int = 0, finished: int = 0
    ) -> None:
        """Record a tenant's new phase and/or resource counts."""
        with self._lock:
            line = self._lines[tenant]
            if phase is not None and phase != line.phase:
                line.phase, line.since = phase, time.monotonic()
                if self._live is None:
                    self.console.print(f"{tenant}: {phase}", highlight=False)
            line.started = max(line.started, started)
            line.finished = max(line.finished, finished)
        self._refresh()

    def done(self, result: TenantResult) -> None:
        """Record a tenant's final result."""
        text = result.result + (f" ({result.failure})" if result.failure else "")
        with self._lock:
            line = self._lines[result.tenant]
            line.phase, line.result = "done", text
            if self._live is None:
                self.console.print(
                    f"{result.tenant}: {text}, {result.change_text()}, {result.seconds:.1f} s",
                    highlight=False,
                )
        self._refresh()

    def _refresh(self) -> None:
        if self._live is not None:
            self._live.update(self._render())

    def _render(self) -> Table:
        table = Table(box=None, pad_edge=False)
        for column in ("tenant", "flavor", "phase", "resources", "time"):
            table.add_column(column)
        now = time.monotonic()
        with self._lock:
            for name, line in self._lines.items():
                phase = line.result or line.phase
                style = (
                    "green" if line.result.startswith("succeeded")
                    else "red" if line.result else "yellow" if line.phase != "queued" else "dim"
                )  # fmt: skip
                resources = f"{line.finished}/{line.started}" if line.started else ""
                elapsed = (
                    "" if line.result or line.phase == "queued" else f"{now - line.since:.0f} s"
                )
                table.add_row(name, line.flavor, f"[{style}]{phase}[/{style}]", resources, elapsed)
        return table
