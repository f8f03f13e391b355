"""Workspace helpers: recovery of a file backend, config edits, readable failures."""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import time
from pathlib import Path

import pytest

from sandbox.workspace import (
    ROOT,
    Run,
    StackWorkspace,
    descendants,
    engine_environment,
    repair_file_backend,
    set_path,
)


def test_repair_removes_only_empty_attribute_sidecars(tmp_path: Path) -> None:
    stacks = tmp_path / ".pulumi" / "stacks" / "gpu-caas"
    stacks.mkdir(parents=True)
    (stacks / "dev.json").write_text("{}")
    (stacks / "dev.json.attrs").write_text("")  # what a SIGKILL mid-write leaves
    (stacks / "dev.json.bak.attrs").write_text('{"user.cache_control": ""}')
    removed = repair_file_backend(tmp_path)
    assert removed == [stacks / "dev.json.attrs"]
    assert (stacks / "dev.json").is_file() and (stacks / "dev.json.bak.attrs").is_file()
    assert repair_file_backend(tmp_path) == []


@pytest.mark.parametrize(
    ("tree", "dotted", "value", "expected"),
    [
        ({}, "a", 1, {"a": 1}),
        ({}, "a.b.c", "x", {"a": {"b": {"c": "x"}}}),
        ({"a": {"keep": 1}}, "a.b", 2, {"a": {"keep": 1, "b": 2}}),
        ({"a": {"b": 1}}, "a.b", [1, 2], {"a": {"b": [1, 2]}}),
    ],
)
def test_set_path(tree: dict[str, object], dotted: str, value: object, expected: object) -> None:
    set_path(tree, dotted, value)
    assert tree == expected


def test_describe_shows_diagnostics_and_summary_not_the_whole_log() -> None:
    stdout = (
        "Updating (dev)\n" + "  + resource\n" * 2000
        + "Diagnostics:\n  pulumi:pulumi:Stack (x):\n    error: boom\n\n"
        "Outputs:\n  secret: [secret]\n\nResources:\n    + 3 created\n    1 errored\n"
    )  # fmt: skip
    text = Run(("up",), 1, stdout, "", 2.0).describe()
    assert "error: boom" in text and "1 errored" in text
    assert "  + resource" not in text
    assert "pulumi up -> 1 in 2.0s" in text


def test_descendants_reach_children_in_other_process_groups() -> None:
    """Pulumi's plugins run in their own process groups; a killed CLI must take them too."""
    script = "setsid sleep 30 & sleep 30 & wait"
    parent = subprocess.Popen(["sh", "-c", script], start_new_session=True)
    try:
        deadline = time.monotonic() + 10
        while len(descendants(parent.pid)) < 2 and time.monotonic() < deadline:
            time.sleep(0.05)
        found = descendants(parent.pid)
        assert len(found) == 2, found
        groups = {os.getpgid(pid) for pid in found}
        assert len(groups) == 2, "one child should be in a process group of its own"
    finally:
        for pid in [*descendants(parent.pid), parent.pid]:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        parent.wait(timeout=10)


def test_dev_passphrase_opt_in_only_when_asked(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Throwaway copies of examples may run on the dev passphrase; nothing else inherits
    the opt-in from the caller's environment."""
    monkeypatch.setenv("GPU_CAAS_ALLOW_DEV_PASSPHRASE", "1")
    assert "GPU_CAAS_ALLOW_DEV_PASSPHRASE" not in engine_environment(tmp_path)
    allowed = engine_environment(tmp_path, allow_dev_passphrase=True)
    assert allowed["GPU_CAAS_ALLOW_DEV_PASSPHRASE"] == "1"
    workspace = StackWorkspace(tmp_path / "ws", ROOT / "Pulumi.dev.yaml", "copy-of-dev")
    assert workspace.environment()["GPU_CAAS_ALLOW_DEV_PASSPHRASE"] == "1"


def test_each_pulumi_command_runs_with_a_private_tmpdir_removed_after_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A stand-in `pulumi` that records its TMPDIR and leaves a kubeconfig in it, as the
    # Kubernetes provider does (stacks/engine_tmpdir.py).
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    record = tmp_path / "tmpdirs"
    fake = bin_dir / "pulumi"
    fake.write_text(
        f'#!/bin/sh\necho "$TMPDIR" >> {record}\necho "token: t" > "$TMPDIR/kubeconfig123"\n'
    )
    fake.chmod(0o755)
    monkeypatch.setenv("PATH", f"{bin_dir}:{os.environ['PATH']}")
    workspace = StackWorkspace(tmp_path / "ws", ROOT / "Pulumi.dev.yaml", "copy-of-dev")
    assert workspace.pulumi("version").returncode == 0
    assert workspace.pulumi("version").returncode == 0
    used = [Path(line) for line in record.read_text().splitlines()]
    assert len(used) == 2 and used[0] != used[1]
    assert all(p.name.startswith("gpu-caas-pulumi-") and not p.exists() for p in used)


def test_a_relative_directory_is_resolved(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Relative paths are made absolute: the backend URL needs it, the program's symlinks
    must not point relative to the project, and commands run with `cwd=project`."""
    monkeypatch.chdir(tmp_path)
    program = tmp_path / "program"
    program.mkdir()
    (program / "Pulumi.yaml").write_text((ROOT / "Pulumi.yaml").read_text())
    (program / "__main__.py").write_text("")
    shutil.copyfile(ROOT / "Pulumi.dev.yaml", tmp_path / "Pulumi.dev.yaml")
    workspace = StackWorkspace(
        Path("ws"), Path("Pulumi.dev.yaml"), "copy-of-dev", program=Path("program")
    )
    # was `ValueError: relative path can't be expressed as a file URI`
    assert (
        workspace.environment()["PULUMI_BACKEND_URL"]
        == (tmp_path.resolve() / "ws" / ".state").as_uri()
    )
    assert workspace.directory == tmp_path.resolve() / "ws"
    assert workspace.project.is_absolute() and workspace.backend.is_absolute()
    assert (workspace.project / "__main__.py").resolve() == (program / "__main__.py").resolve()
    assert workspace.stack_file_path.is_file()
