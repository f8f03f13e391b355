"""`make setup` builds nothing when a matching Pulumi CLI and providers are installed.

A user with the normal installer has `pulumi` 3.259.0 (with its bundled Python
language host) on PATH and the providers in their plugin cache. This runs the
setup script from a scratch copy of `scripts/` with an empty toolchain cache,
presenting the toolchain `make setup` already built as that "system" install.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.engine.harness import ROOT
from tests.support.envfile import read_env_file
from tests.support.shell import bash

pytestmark = pytest.mark.engine


def _toolchain_env() -> dict[str, str]:
    return read_env_file(ROOT / ".toolchain/env")


def test_a_matching_system_pulumi_is_used_and_nothing_is_built(tmp_path: Path) -> None:
    built = _toolchain_env()
    assert "GPU_CAAS_TOOLCHAIN_BIN" in built, "run through `make test` (it runs `make setup`)"
    repo = tmp_path / "repo"
    shutil.copytree(ROOT / "scripts", repo / "scripts")
    cache = tmp_path / "cache"
    env = dict(
        os.environ,
        PATH=f"{built['GPU_CAAS_TOOLCHAIN_BIN']}:{os.environ['PATH']}",
        PULUMI_HOME=built["GPU_CAAS_PULUMI_HOME"],
        GPU_CAAS_CACHE=str(cache),
        PULUMI_SKIP_UPDATE_CHECK="true",
    )
    proc = subprocess.run(
        [str(repo / "scripts/build-toolchain.sh")],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    output = proc.stdout + proc.stderr
    assert proc.returncode == 0, output
    assert "nothing to build" in output, output
    assert not list((cache / "tools").glob("*")), "a tool was built although the system has it"
    written = (repo / ".toolchain/env").read_text()
    # Nothing to add: the user's own `pulumi` and plugin cache are used as they are.
    assert "GPU_CAAS_TOOLCHAIN_BIN" not in written
    assert "GPU_CAAS_PULUMI_HOME" not in written


def test_a_different_system_pulumi_version_is_not_used(tmp_path: Path) -> None:
    fake_bin = tmp_path / "bin"
    fake_bin.mkdir()
    fake = fake_bin / "pulumi"
    fake.write_text("#!/bin/sh\necho v3.100.0\n")
    fake.chmod(0o755)
    repo = tmp_path / "repo"
    shutil.copytree(ROOT / "scripts", repo / "scripts")
    script = (
        f'. "{repo}/scripts/toolchain.env"; ROOT="{repo}"; CACHE="{tmp_path}/cache"; '
        # Source only the detection functions, then ask them.
        "eval \"$(sed -n -e '/^path_without_ours()/,/^}/p' -e '/^system_pulumi_matches()/,/^}/p' "
        f'{repo}/scripts/build-toolchain.sh)"; '
        "if system_pulumi_matches >/dev/null; then echo MATCH; else echo NO-MATCH; fi"
    )
    proc = bash(script, env=dict(os.environ, PATH=f"{fake_bin}:{os.environ['PATH']}"), timeout=60)
    assert proc.stdout.strip() == "NO-MATCH", proc.stdout + proc.stderr


def test_setup_from_a_shell_with_the_toolchain_on_path_keeps_it(tmp_path: Path) -> None:
    """The quickstart's order: `. scripts/env.sh`, then `make setup`. The cached CLI that
    env.sh put on PATH (and the cache's PULUMI_HOME) is ours, not a system install:
    `.toolchain/env` must keep naming it, or `pulumi` is gone from every later shell."""
    built = _toolchain_env()
    assert "GPU_CAAS_TOOLCHAIN_BIN" in built, "run through `make test` (it runs `make setup`)"
    cache = Path(built["GPU_CAAS_TOOLCHAIN_BIN"]).parents[2]  # <cache>/tools/<tool>/bin
    repo = tmp_path / "repo"
    shutil.copytree(ROOT / "scripts", repo / "scripts")
    (repo / ".toolchain").mkdir()
    shutil.copyfile(ROOT / ".toolchain/env", repo / ".toolchain/env")
    (repo / ".venv").symlink_to(ROOT / ".venv")
    # A shell before `. scripts/env.sh`: no toolchain on PATH, no Pulumi variables.
    path = ":".join(p for p in os.environ["PATH"].split(":") if not p.startswith(f"{cache}/"))
    env = {k: v for k, v in os.environ.items() if not k.startswith("PULUMI_")}
    env.update(PATH=path, GPU_CAAS_CACHE=str(cache), PULUMI_SKIP_UPDATE_CHECK="true")
    # Reuses the cache (nothing is built): only the env file is rewritten.
    setup = bash(
        ". scripts/env.sh && command -v pulumi && scripts/build-toolchain.sh", env=env, cwd=repo
    )
    output = setup.stdout + setup.stderr
    assert setup.returncode == 0, output
    assert setup.stdout.startswith(built["GPU_CAAS_TOOLCHAIN_BIN"]), output  # on PATH
    assert "nothing to build" not in output, output
    written = read_env_file(repo / ".toolchain/env")
    assert written.get("GPU_CAAS_TOOLCHAIN_BIN") == built["GPU_CAAS_TOOLCHAIN_BIN"], written
    assert written.get("GPU_CAAS_PULUMI_HOME") == built["GPU_CAAS_PULUMI_HOME"], written
    # A later shell finds pulumi again.
    later = bash(". scripts/env.sh && command -v pulumi", env=env, cwd=repo, timeout=60)
    assert later.stdout.strip() == f"{built['GPU_CAAS_TOOLCHAIN_BIN']}/pulumi", later.stderr
