"""The live progress display: redrawn on a terminal, one line per phase change on a
pipe (CI logs)."""

from __future__ import annotations

import io

from rich.console import Console

from stacks.fleet.progress import LiveProgress
from stacks.fleet.summary import TenantResult


def test_on_a_pipe_each_phase_change_is_one_line() -> None:
    out = io.StringIO()
    console = Console(file=out, width=120)
    with LiveProgress({"dev": "tenant-managed", "isv": "isv-managed"}, console) as progress:
        progress.update("dev", phase="preview")
        progress.update("dev", started=10, finished=4)  # counts only: no new line
        progress.update("dev", phase="preview")  # same phase: no new line
        done = TenantResult(
            "dev",
            "tenant-managed",
            "preview",
            result="succeeded",
            counts={"create": 55},
            seconds=9.5,
        )
        progress.done(done)
    assert out.getvalue().splitlines() == ["dev: preview", "dev: succeeded, +55, 9.5 s"]


def test_on_a_terminal_one_row_per_tenant_with_resource_progress() -> None:
    out = io.StringIO()
    console = Console(file=out, width=120, force_terminal=True, record=True)
    with LiveProgress({"dev": "tenant-managed", "isv": "isv-managed"}, console) as progress:
        progress.update("dev", phase="preview", started=10, finished=4)
        failed = TenantResult("isv", "isv-managed", "preview", result="failed", failure="policy")
        progress.done(failed)
    text = console.export_text()
    assert "4/10" in text and "failed (policy)" in text and "isv-managed" in text
