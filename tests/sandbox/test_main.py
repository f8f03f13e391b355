"""`python -m sandbox up` (`make sandbox`): checks before anything starts, and a start
that fails leaves nothing that makes the next one refuse."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

import sandbox.__main__ as sandbox_main
from sandbox.cluster import ClusterError, missing_tools
from sandbox.upstream import CACHE_ENV, UPSTREAM_DIR_ENV

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture
def state(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """`.sandbox/` in a temporary directory; starting the real cluster is refused."""
    directory = tmp_path / ".sandbox"
    monkeypatch.setattr(sandbox_main, "STATE", directory)

    def no_cluster(*args: object, **kwargs: object) -> None:
        raise AssertionError("the cluster must not be started")

    monkeypatch.setattr(sandbox_main, "start_cluster", no_cluster)
    return directory


def test_no_upstream_files_stop_up_before_anything_starts(
    state: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    empty = tmp_path / "no-copy"
    empty.mkdir()
    monkeypatch.setenv(UPSTREAM_DIR_ENV, str(empty))
    monkeypatch.setenv(CACHE_ENV, str(tmp_path / "cache"))
    assert sandbox_main.main(["up"]) == 2
    err = capsys.readouterr().err
    # The one message `make test` stops with (tests/conftest.py), nothing else.
    assert err.startswith(f"{empty} (from ${UPSTREAM_DIR_ENV}) holds none of the upstream ")
    assert "run `make upstream`" in err and f"set {UPSTREAM_DIR_ENV}=<path>" in err
    assert "Traceback" not in err
    assert not state.exists()  # nothing started, nothing written


def test_missing_tools_are_named_before_anything_starts(
    state: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(sandbox_main, "copy_problem", lambda: None)
    monkeypatch.setattr(sandbox_main, "missing_tools", lambda: ["etcd", "kwok"])
    assert sandbox_main.main(["up"]) == 2
    err = capsys.readouterr().err
    assert err == (
        "not on PATH: etcd, kwok. `make setup-test` builds the live-cluster tools and "
        "`. scripts/env.sh` puts them on PATH; kubectl is your own.\n"
    )
    assert not state.exists()


def test_missing_tools() -> None:
    assert missing_tools(["sh", "gpu-caas-no-such-tool"]) == ["gpu-caas-no-such-tool"]


def _sleeper() -> subprocess.Popen[bytes]:
    """A process standing in for a started component (its own session, as detached)."""
    return subprocess.Popen(["sleep", "300"], start_new_session=True)


def test_a_failed_start_stops_what_started_and_leaves_no_stale_state(
    state: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(sandbox_main, "preflight", lambda: None)
    processes: list[subprocess.Popen[bytes]] = []

    def failing_start(example: str, config: Any) -> Any:
        # What `_start` leaves when the stand-ins die: the markers, a detached cluster's
        # PIDs, the stand-ins' PID and log.
        state.mkdir()
        (state / "sandbox.json").write_text(json.dumps({"example": example}))
        etcd, services = _sleeper(), _sleeper()
        processes.extend([etcd, services])
        (state / "cluster").mkdir()
        (state / "cluster" / "pids.json").write_text(json.dumps({"etcd": etcd.pid}))
        (state / "cluster" / "etcd.log").write_text("etcd log\n")
        (state / "services.pid").write_text(str(services.pid))
        (state / "services.log").write_text("Traceback ...\n")
        raise ClusterError("the sandbox stand-ins did not start:\nTraceback ...")

    monkeypatch.setattr(sandbox_main, "_start", failing_start)
    try:
        assert sandbox_main.main(["up"]) == 1
        for process in processes:
            assert process.wait(timeout=30) is not None  # stopped
    finally:
        for process in processes:
            process.kill()
            process.wait()
    out = capsys.readouterr().out
    assert "starting failed; stopping what did start (its logs stay in .sandbox/)" in out
    assert "stopped the stand-ins, etcd; the next `make sandbox` starts afresh" in out
    assert sorted(p.name for p in state.iterdir()) == ["cluster", "services.log"]
    assert [p.name for p in (state / "cluster").iterdir()] == ["etcd.log"]

    # The next `make sandbox` starts afresh instead of asking for `make sandbox-down`.
    started: list[str] = []

    def recording_start(example: str, config: Any) -> Any:
        started.append(example)
        state.mkdir()
        return SimpleNamespace(kubeconfig=state / "kubeconfig"), SimpleNamespace(stack="s")

    monkeypatch.setattr(sandbox_main, "_start", recording_start)
    monkeypatch.setattr(sandbox_main, "_pulumi", lambda workspace, args: 1)
    assert sandbox_main.main(["up"]) == 1  # the (stubbed) pulumi up failed
    out = capsys.readouterr().out
    assert started == ["isv-inference"]
    assert "did not finish starting" not in out and "still starting" not in out
    assert "removing .sandbox/, the logs of an earlier start that failed" in out


def test_an_interrupted_start_is_reported_as_such(
    state: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # A start killed before it could clean up leaves its marker: `make sandbox-down`.
    state.mkdir()
    (state / "sandbox.json").write_text(json.dumps({"example": "isv-inference"}))
    assert sandbox_main.main(["up"]) == 2
    out = capsys.readouterr().out
    assert "is still starting, or was killed while starting" in out
    assert "run `make sandbox-down` to stop what it started" in out


def test_the_cli_checks_the_upstream_files_first(tmp_path: Path) -> None:
    """`python -m sandbox up` as `make sandbox` runs it, without upstream files."""
    env = {
        "PATH": "/usr/bin:/bin",
        "HOME": str(tmp_path),
        UPSTREAM_DIR_ENV: str(tmp_path),
        CACHE_ENV: str(tmp_path / "cache"),
    }
    script = (
        "import sys, pathlib, sandbox.__main__ as m\n"
        "m.STATE = pathlib.Path(sys.argv[1])\n"
        "sys.exit(m.main(['up']))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", script, str(tmp_path / ".sandbox")],
        cwd=REPO, env=env, capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert done.returncode == 2, done.stdout + done.stderr
    assert "holds none of the upstream reference files" in done.stderr
    assert "Traceback" not in done.stderr and done.stdout == ""
    assert not (tmp_path / ".sandbox").exists()
