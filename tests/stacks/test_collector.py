"""`stacks.collector.paused_then_frozen`, in a child process: a freeze in the test
process would keep every later test's cyclic garbage."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import textwrap

import pytest

from tests.engine.harness import ROOT

_PROBE = textwrap.dedent(
    """
    import gc, json, sys
    from stacks.collector import paused_then_frozen

    seen = {}
    mode = sys.argv[1]

    class Node:
        def __init__(self):
            self.me = self  # a cycle: only the cyclic collector frees it

    def declare():
        seen["enabled_inside"] = gc.isenabled()
        seen["kept"] = [Node() for _ in range(1000)]
        if mode == "raise":
            raise SystemExit(32)

    if mode == "off":
        gc.disable()
    before = gc.get_freeze_count()
    try:
        with paused_then_frozen():
            declare()
    except SystemExit as exit:
        seen["exit"] = exit.code
    print(json.dumps({
        "enabled_inside": seen["enabled_inside"],
        "enabled_after": gc.isenabled(),
        "frozen": gc.get_freeze_count() - before,
        "exit": seen.get("exit"),
    }))
    """
)


def _probe(mode: str) -> dict[str, object]:
    done = subprocess.run(
        [sys.executable, "-c", _PROBE, mode], cwd=ROOT, capture_output=True, text=True, check=True
    )
    result: dict[str, object] = json.loads(done.stdout)
    return result


@pytest.mark.parametrize(
    ("mode", "enabled_after", "exit_code"),
    [
        ("on", True, None),  # the program process: collection back on for registration
        ("off", False, None),  # someone turned it off: left off
        ("raise", True, 32),  # a reported config error exits: still restored, survivors frozen
    ],
)
def test_collection_paused_while_declaring_then_survivors_frozen(
    mode: str, enabled_after: bool, exit_code: int | None
) -> None:
    result = _probe(mode)
    assert result["enabled_inside"] is False
    assert result["enabled_after"] is enabled_after
    assert result["exit"] == exit_code
    # The 1,000 declared objects (and everything imported) moved to the permanent
    # generation: later collections and the exit's final ones skip them.
    frozen = result["frozen"]
    assert isinstance(frozen, int) and frozen >= 1000


def test_program_entry_point_runs_through_the_collector(monkeypatch: pytest.MonkeyPatch) -> None:
    main = (ROOT / "__main__.py").read_text()
    assert "stacks.main(program)" in main and "await stacks.program()" in main
    assert "stacks.run()" not in main
    import gc

    import stacks

    seen: dict[str, object] = {}

    async def deploy(config: object) -> dict[str, object]:
        seen["collecting"] = gc.isenabled()
        seen["config"] = config
        return {"kubeconfig": "k"}

    monkeypatch.setattr(stacks, "validated", lambda: "the config")
    monkeypatch.setattr(stacks, "deploy_overlapping", deploy)
    # Not this test process's objects: only that the program freezes its own.
    monkeypatch.setattr(gc, "freeze", lambda: seen.setdefault("frozen", True))
    loop = asyncio.new_event_loop()
    try:
        outputs = loop.run_until_complete(stacks.program())
    finally:
        loop.close()
    assert outputs == {"kubeconfig": "k"}
    assert seen == {"collecting": False, "config": "the config", "frozen": True}
    assert gc.isenabled()
