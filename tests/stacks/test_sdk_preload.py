"""stacks/sdk_preload.py: the Kubernetes SDK imported in a thread while the loop runs."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest

from stacks import sdk_preload
from tests.engine.harness import ROOT


def _run(coroutine: Any) -> Any:
    """Run `coroutine` on a loop of its own: `asyncio.run` would leave no current event
    loop behind, which later Pulumi tests in this process expect."""
    loop = asyncio.new_event_loop()
    try:
        return loop.run_until_complete(coroutine)
    finally:
        loop.close()


def _loaded_modules(script: str) -> set[str]:
    """`pulumi_kubernetes` modules a fresh interpreter has executed after `script`
    (the SDK registers its API versions as lazy modules, in `sys.modules` unexecuted
    until first used: those do not count)."""
    code = textwrap.dedent(script) + textwrap.dedent(
        """
        import json, sys
        print(json.dumps(sorted(
            name for name, module in list(sys.modules.items())
            if name.startswith("pulumi_kubernetes") and type(module).__name__ != "_LazyModule"
        )))
        """
    )
    done = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True
    )
    return set(json.loads(done.stdout.strip().splitlines()[-1]))


def test_the_preloaded_modules_cover_every_flavors_platform() -> None:
    """Whatever a platform loads of the SDK, the preload already loaded: else the
    rest is imported on the program's thread, after the wait, and the overlap is lost."""
    preloaded = _loaded_modules(
        "from stacks.sdk_preload import KUBERNETES_MODULES, import_modules\n"
        "import_modules(KUBERNETES_MODULES)\n"
    )
    declared = _loaded_modules(
        """
        import stacks
        from stacks.config import parse_tenant
        from tests.components.cluster.helpers import command_outputs
        from tests.stacks.samples import sample
        from tests.support.mocks import RecordingMocks, run
        for flavor in ("tenant-managed", "ncp-managed", "isv-managed"):
            config = parse_tenant(sample(flavor))
            run(lambda: stacks.deploy(config), RecordingMocks(command_outputs))
        """
    )
    assert "pulumi_kubernetes.core.v1" in declared
    assert declared - preloaded == set()


def test_every_preloaded_module_exists() -> None:
    sdk_preload.import_modules(sdk_preload.KUBERNETES_MODULES)
    assert all(module in sys.modules for module in sdk_preload.KUBERNETES_MODULES)


@pytest.fixture
def slow_module(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    """A module whose import takes 0.3 s (sleeping, so it holds no lock the loop needs)."""
    (tmp_path / "gpu_caas_slow_module.py").write_text("import time\ntime.sleep(0.3)\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.delitem(sys.modules, "gpu_caas_slow_module", raising=False)
    return "gpu_caas_slow_module"


def test_the_event_loop_runs_while_the_modules_import(slow_module: str) -> None:
    ticks: list[int] = []

    async def tick() -> None:
        while True:
            ticks.append(1)
            await asyncio.sleep(0.01)

    async def scenario() -> int:
        ticker = asyncio.ensure_future(tick())
        await sdk_preload.imported_in_background([slow_module])
        ticker.cancel()
        return len(ticks)

    assert _run(scenario()) >= 5
    assert slow_module in sys.modules


def test_an_import_error_reaches_the_awaiting_coroutine() -> None:
    with pytest.raises(ModuleNotFoundError, match="gpu_caas_no_such_module"):
        _run(sdk_preload.imported_in_background(["json", "gpu_caas_no_such_module"]))
