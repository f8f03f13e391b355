"""The fleet runner without the engine: workspaces, retries, backoff, validation,
per-tenant passphrases. (Real previews: tests/stacks/fleet/test_fleet_engine.py.)"""

from __future__ import annotations

import random
import shutil
import stat
from pathlib import Path
from typing import Any

import pytest
import yaml
from pulumi.automation import CommandError
from pulumi.automation._cmd import CommandResult

from stacks.fleet import runner
from stacks.fleet.events import read_recorded
from stacks.fleet.runner import (
    FleetError,
    FleetOptions,
    NoProgress,
    backoff_delay,
    is_transient,
    prepare_workspace,
    run_fleet,
    tenant_env,
)
from stacks.fleet.selection import TenantStack, discover
from stacks.fleet.summary import TenantResult

ROOT = Path(__file__).resolve().parents[3]
RECORDED = Path(__file__).parent / "recorded"
UNAVAILABLE = "rpc error: code = Unavailable desc = error reading from server: EOF"


@pytest.mark.parametrize(
    ("text", "transient"),
    [
        (UNAVAILABLE, True),
        ("grpc: the client connection is closing: transport is closing", True),
        ("error: the stack is currently locked by 1 lock(s)", False),
        ("gpu-caas:tenant.hosts[0].name: required", False),
        ("error: preview failed", False),
    ],
)
def test_transient_failures(text: str, transient: bool) -> None:
    assert is_transient(text) is transient


def test_backoff_doubles_with_bounded_jitter() -> None:
    rng = random.Random(7)
    delays = [backoff_delay(n, 2.0, rng) for n in (1, 2, 3)]
    for delay, base in zip(delays, (2.0, 4.0, 8.0), strict=True):
        assert base <= delay <= base * 1.5


def test_each_stack_gets_its_own_project_directory(tmp_path: Path) -> None:
    stack = TenantStack("dev", ROOT / "Pulumi.dev.yaml", "tenant-managed")
    directory = prepare_workspace(ROOT, stack, tmp_path / "dev")
    project = yaml.safe_load((directory / "Pulumi.yaml").read_text())
    assert project["runtime"]["options"]["virtualenv"] == str(ROOT / ".venv")
    assert (directory / "stacks").resolve() == ROOT / "stacks"
    assert (directory / "Pulumi.dev.yaml").read_bytes() == stack.path.read_bytes()
    assert not (directory / "Pulumi.dev.yaml").is_symlink(), "the CLI may rewrite its copy"
    prepare_workspace(ROOT, stack, tmp_path / "dev")  # reused as it is


def test_a_tenant_passphrase_variable_is_that_tenants_only() -> None:
    environ = {"PULUMI_CONFIG_PASSPHRASE_H100_TRAINING": "p1"}
    assert tenant_env("h100-training", {"X": "1"}, environ) == {
        "X": "1",
        "PULUMI_CONFIG_PASSPHRASE": "p1",
    }
    assert tenant_env("dev", {}, environ) == {}


@pytest.mark.parametrize(("field", "value"), [("parallel", 0), ("retries", -1), ("operation", "x")])
def test_bad_options_are_refused(tmp_path: Path, field: str, value: Any) -> None:
    with pytest.raises(FleetError):
        FleetOptions(**{"operation": "preview", "work_dir": tmp_path, field: value})


class _FakeStack:
    """Plays `pulumi.automation.Stack`: fails with `failures` first, then replays the
    recorded preview's events."""

    def __init__(self, failures: list[str], step_first: bool = False) -> None:
        self.failures = failures
        self.step_first = step_first
        self.calls = 0

    def _run(self, on_event: Any, on_output: Any) -> None:
        self.calls += 1
        events = read_recorded(RECORDED / "dev-first-preview.jsonl")
        if self.failures:
            if self.step_first:
                on_event(
                    next(
                        e
                        for e in events
                        if e.resource_pre_event
                        and e.resource_pre_event.metadata.type.startswith("gpu-caas")
                    )
                )
            raise CommandError(CommandResult("", self.failures.pop(0), 255))
        for event in events:
            on_event(event)
        on_output("Previewing update (dev):")

    def preview(self, *, on_event: Any, on_output: Any, **_: Any) -> None:
        self._run(on_event, on_output)

    def up(self, *, on_event: Any, on_output: Any, **_: Any) -> None:
        self._run(on_event, on_output)


def _run_one(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    fake: _FakeStack,
    operation: str = "preview",
    retries: int = 2,
) -> TenantResult:
    monkeypatch.setattr(runner, "_open_stack", lambda *args: fake)
    stack = TenantStack("dev", ROOT / "Pulumi.dev.yaml", "tenant-managed")
    options = FleetOptions(operation, tmp_path, retries=retries, backoff_s=0.0)
    result = TenantResult("dev", "tenant-managed", operation)
    return runner.run_tenant(stack, options, None, NoProgress(), result, sleep=lambda _: None)  # type: ignore[arg-type]


def test_transient_failure_is_retried_and_reported(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    fake = _FakeStack([UNAVAILABLE])
    result = _run_one(tmp_path, monkeypatch, fake)
    assert result.ok and result.counts == {"create": 55}
    assert result.attempts == 2 and fake.calls == 2
    assert result.retried == [f"attempt 1: {UNAVAILABLE}"]


def test_retries_run_out(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    result = _run_one(tmp_path, monkeypatch, _FakeStack([UNAVAILABLE] * 3), retries=1)
    assert (result.result, result.failure, result.attempts) == ("failed", "engine", 2)
    assert UNAVAILABLE in result.errors[0]


def test_a_non_transient_failure_is_not_retried(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    result = _run_one(tmp_path, monkeypatch, _FakeStack(["error: preview failed"]))
    assert (result.result, result.attempts) == ("failed", 1)


def test_an_up_that_touched_a_resource_is_not_retried(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    fake = _FakeStack([UNAVAILABLE], step_first=True)
    result = _run_one(tmp_path, monkeypatch, fake, operation="up")
    assert (result.result, result.attempts, fake.calls) == ("failed", 1, 1)


def test_a_config_error_fails_its_tenant_before_the_engine(tmp_path: Path) -> None:
    shutil.copy(ROOT / "Pulumi.dev.yaml", tmp_path / "Pulumi.dev.yaml")
    broken = (
        (ROOT / "Pulumi.isv-inference.yaml")
        .read_text()
        .replace("flavor: isv-managed", "flavor: isv-manged")
    )
    (tmp_path / "Pulumi.broken.yaml").write_text(broken)
    summary = run_fleet(discover(tmp_path), FleetOptions("validate", tmp_path / "work"))
    by_name = {r.tenant: r for r in summary.results}
    assert by_name["dev"].ok
    assert (by_name["broken"].result, by_name["broken"].failure) == ("failed", "config")
    assert any("isv-manged" in line for line in by_name["broken"].config_errors)
    assert [r.tenant for r in summary.failed] == ["broken"]


@pytest.mark.parametrize("failures", [[], ["error: preview failed"]])
def test_each_run_has_a_private_tmpdir_removed_after_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, failures: list[str]
) -> None:
    # The Kubernetes provider leaves `$TMPDIR/kubeconfig<digits>` (credentials) behind.
    seen: list[Path] = []
    fake = _FakeStack(list(failures))

    def open_stack(*args: Any) -> _FakeStack:
        tmp = args[-1]
        assert tmp.is_dir() and stat.S_IMODE(tmp.stat().st_mode) == 0o700
        (tmp / "kubeconfig123").write_text("users: [{name: admin, user: {token: t}}]")
        seen.append(tmp)
        return fake

    monkeypatch.setattr(runner, "_open_stack", open_stack)
    stack = TenantStack("dev", ROOT / "Pulumi.dev.yaml", "tenant-managed")
    options = FleetOptions("preview", tmp_path, retries=0, backoff_s=0.0)
    result = TenantResult("dev", "tenant-managed", "preview")
    runner.run_tenant(stack, options, None, NoProgress(), result, sleep=lambda _: None)  # type: ignore[arg-type]
    assert result.ok is (not failures)
    assert len(seen) == 1 and not seen[0].exists()


@pytest.mark.parametrize("operation", ["preview", "up"])
def test_the_stack_runs_with_tmpdir_set(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, operation: str
) -> None:
    captured: dict[str, Any] = {}

    def open_workspace_stack(name: str, *, work_dir: str, opts: Any) -> str:
        captured.update(name=name, env=opts.env_vars)
        return "stack"

    monkeypatch.setattr(runner, "select_stack", open_workspace_stack)
    monkeypatch.setattr(runner, "create_or_select_stack", open_workspace_stack)
    stack = TenantStack("dev", ROOT / "Pulumi.dev.yaml", "tenant-managed")
    options = FleetOptions(operation, tmp_path, env={"PULUMI_BACKEND_URL": "file:///x"})
    private = tmp_path / "private"
    runner._open_stack(stack, tmp_path / "dev", options, None, private)  # type: ignore[arg-type]
    assert captured["env"]["TMPDIR"] == str(private)
    assert captured["env"]["PULUMI_BACKEND_URL"] == "file:///x"
