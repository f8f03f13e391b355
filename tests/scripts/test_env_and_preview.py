"""scripts/env.sh sets no passphrase; scripts/preview.sh gives the examples' public
passphrase to example stacks only and creates no other stack.

Runs in a throwaway copy of the repository (tests/docs/doc_blocks.py) with this
repository's `.toolchain/env`, as a shell that has not sourced env.sh yet.
"""

from __future__ import annotations

import shutil
import signal
import subprocess
import time
from pathlib import Path

import pytest

from stacks.config.example_stacks import DEV_PASSPHRASE, EXAMPLE_STACKS
from tests.docs.doc_blocks import ROOT, new_user_env, repo_copy
from tests.support.shell import bash


def _shell(repo: Path, home: Path, script: str, **extra: str) -> subprocess.CompletedProcess[str]:
    return bash(script, env={**new_user_env(home), **extra}, cwd=repo)


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    copy = repo_copy(tmp_path / "repo")
    (copy / ".toolchain").mkdir()
    shutil.copyfile(ROOT / ".toolchain/env", copy / ".toolchain/env")
    (tmp_path / "home").mkdir()
    return copy


def test_env_sh_sets_no_passphrase(repo: Path) -> None:
    proc = _shell(
        repo,
        repo.parent / "home",
        '. scripts/env.sh && echo "[${PULUMI_CONFIG_PASSPHRASE-unset}]'
        ' [${PULUMI_CONFIG_PASSPHRASE_FILE-unset}] $PULUMI_BACKEND_URL"',
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.split() == ["[unset]", "[unset]", f"file://{repo}/.pulumi"]


def test_env_sh_keeps_a_passphrase_you_exported(repo: Path) -> None:
    proc = _shell(
        repo,
        repo.parent / "home",
        '. scripts/env.sh && echo "$PULUMI_CONFIG_PASSPHRASE_FILE"',
        PULUMI_CONFIG_PASSPHRASE_FILE="/somewhere/acme.passphrase",
    )
    assert proc.stdout.strip() == "/somewhere/acme.passphrase", proc.stderr


def test_example_stacks_helper_matches_the_python_constants(repo: Path) -> None:
    proc = _shell(
        repo,
        repo.parent / "home",
        '. scripts/example-stacks.sh && echo "$GPU_CAAS_DEV_PASSPHRASE" && '
        'echo "$GPU_CAAS_EXAMPLE_STACKS" && gpu_caas_is_example dev && '
        "! gpu_caas_is_example acme && ! gpu_caas_is_example de && echo classified",
    )
    assert proc.returncode == 0, proc.stderr
    passphrase, stacks, verdict = proc.stdout.splitlines()
    assert passphrase == DEV_PASSPHRASE
    assert stacks.split() == sorted(EXAMPLE_STACKS)
    assert verdict == "classified"


FAKE_PULUMI = """#!/bin/sh
# Stands in for the CLI: every stack exists; preview reports what it was given.
[ "$1" = stack ] && exit 0
echo "passphrase=${PULUMI_CONFIG_PASSPHRASE-unset}"
echo "file=${PULUMI_CONFIG_PASSPHRASE_FILE-unset}"
echo "args=$*"
"""

FAKE_PYTHON = """#!/bin/sh
# Stands in for `python -m stacks validate` (tested on its own in tests/stacks): records
# what it was asked to check and the passphrase it was given.
echo "$* passphrase=${PULUMI_CONFIG_PASSPHRASE-unset}" >> "$FAKE_PYTHON_LOG"
"""

PASSPHRASE_CASES = {
    # name: (stack, exported, expected passphrase, expected file)
    "example, nothing exported": ("dev", {}, DEV_PASSPHRASE, "unset"),
    "example, your tenant's passphrase file exported": (
        "gb200-baremetal",
        {"PULUMI_CONFIG_PASSPHRASE_FILE": "/p/acme"},
        DEV_PASSPHRASE,
        "unset",
    ),
    "example, a passphrase exported": (
        "dev",
        {"PULUMI_CONFIG_PASSPHRASE": "mine"},
        "mine",
        "unset",
    ),
    "your tenant, passphrase file": (
        "acme",
        {"PULUMI_CONFIG_PASSPHRASE_FILE": "/p/acme"},
        "unset",
        "/p/acme",
    ),
    "your tenant, nothing exported": ("acme", {}, "unset", "unset"),
}


@pytest.mark.parametrize("case", sorted(PASSPHRASE_CASES))
def test_preview_sh_gives_the_dev_passphrase_to_example_stacks_only(repo: Path, case: str) -> None:
    stack, exported, passphrase, passphrase_file = PASSPHRASE_CASES[case]
    fake_bin = repo.parent / "bin"
    fake_bin.mkdir()
    (fake_bin / "pulumi").write_text(FAKE_PULUMI)
    (fake_bin / "pulumi").chmod(0o755)
    (fake_bin / "python").write_text(FAKE_PYTHON)
    (fake_bin / "python").chmod(0o755)
    log = repo.parent / "validate.log"
    shutil.copyfile(ROOT / "Pulumi.dev.yaml", repo / "Pulumi.acme.yaml")
    env = new_user_env(repo.parent / "home")
    env.update(exported, PATH=f"{fake_bin}:{env['PATH']}", FAKE_PYTHON_LOG=str(log))
    proc = subprocess.run(
        ["scripts/preview.sh", stack, "--diff"],
        cwd=repo,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    assert lines[:2] == [f"passphrase={passphrase}", f"file={passphrase_file}"]
    assert lines[2].startswith(f"args=preview --stack {stack} --policy-pack policies/")
    assert lines[2].endswith(" --diff")  # extra arguments (make preview ARGS=...) go last
    # The offline checks ran first, on this stack's file, with the same passphrase.
    assert log.read_text().splitlines() == [
        f"-m stacks validate Pulumi.{stack}.yaml passphrase={passphrase}"
    ]


@pytest.mark.engine
def test_preview_sh_creates_no_stack_that_is_not_an_example(repo: Path) -> None:
    """A new tenant's stack is created by its owner with their secrets provider
    (docs/quickstart.md); preview.sh refuses instead of creating it with a passphrase."""
    text = (ROOT / "Pulumi.dev.yaml").read_text(encoding="utf-8")
    (repo / "Pulumi.acme.yaml").write_text(
        "".join(
            line for line in text.splitlines(keepends=True) if not line.startswith("encryptionsalt")
        ),
        encoding="utf-8",
    )
    proc = _shell(repo, repo.parent / "home", ". scripts/env.sh && scripts/preview.sh acme")
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert "pulumi stack init acme --secrets-provider" in proc.stderr, proc.stderr
    assert "encryptionsalt" not in (repo / "Pulumi.acme.yaml").read_text(encoding="utf-8")
    assert not list((repo / ".pulumi").rglob("acme.json*")), "preview.sh created the stack"


LEAVING_PULUMI = """#!/bin/sh
# Stands in for the CLI: preview leaves a kubeconfig in TMPDIR, as the Kubernetes
# provider does (stacks/engine_tmpdir.py), records where and how private it was, and
# then fails, or waits to be killed.
[ "$1" = stack ] && exit 0
echo "token: t" > "$TMPDIR/kubeconfig123"
echo "$TMPDIR $(stat -c %a "$TMPDIR")" > "$FAKE_TMPDIR_LOG"
[ -n "${FAKE_WAIT:-}" ] && exec sleep 60
exit 3
"""


def _wait_gone(path: Path, timeout: float = 10) -> bool:
    deadline = time.monotonic() + timeout
    while path.exists() and time.monotonic() < deadline:
        time.sleep(0.1)
    return not path.exists()


@pytest.mark.parametrize("ending", ["exit 3", "SIGTERM"])
def test_preview_sh_runs_pulumi_in_a_private_tmpdir_removed_after_it(
    repo: Path, ending: str
) -> None:
    fake_bin = repo.parent / "bin"
    fake_bin.mkdir()
    (fake_bin / "pulumi").write_text(LEAVING_PULUMI)
    (fake_bin / "python").write_text(FAKE_PYTHON)
    for name in ("pulumi", "python"):
        (fake_bin / name).chmod(0o755)
    record = repo.parent / "tmpdir.log"
    env = new_user_env(repo.parent / "home")
    env.update(
        PATH=f"{fake_bin}:{env['PATH']}",
        FAKE_PYTHON_LOG=str(repo.parent / "validate.log"),
        FAKE_TMPDIR_LOG=str(record),
        TMPDIR=str(repo.parent),
    )
    if ending == "SIGTERM":
        env["FAKE_WAIT"] = "1"
    proc = subprocess.Popen(["scripts/preview.sh", "dev"], cwd=repo, env=env)
    if ending == "SIGTERM":
        deadline = time.monotonic() + 30
        while not record.exists() and time.monotonic() < deadline:
            time.sleep(0.1)
        # `exec`: the signal reaches the command itself, as without the private TMPDIR.
        proc.send_signal(signal.SIGTERM)
    assert proc.wait(timeout=60) == (3 if ending == "exit 3" else -signal.SIGTERM)
    used, mode = record.read_text().split()
    assert Path(used).parent == repo.parent and Path(used).name.startswith("gpu-caas-pulumi-")
    assert mode == "700"
    assert _wait_gone(Path(used)), "the private TMPDIR (with its kubeconfig) outlived the preview"


def test_private_tmpdir_refuses_an_interactive_shell() -> None:
    # There $$ is the user's shell: the directory would live, and be shared, until logout.
    proc = subprocess.run(
        ["bash", "-ic", ". scripts/private-tmpdir.sh && gpu_caas_private_tmpdir; echo rc=$?"],
        cwd=ROOT,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert "rc=1" in proc.stdout, proc.stdout + proc.stderr
    assert "source it from a script that then execs pulumi" in proc.stderr
