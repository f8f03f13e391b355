"""Each pulumi command gets a private TMPDIR, removed when it ends."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest

from stacks.engine_tmpdir import PREFIX, private_tmpdir, with_tmpdir


def test_private_tmpdir_is_owner_only_and_removed_with_its_files() -> None:
    with private_tmpdir() as tmp:
        assert tmp.is_dir() and tmp.name.startswith(PREFIX)
        assert stat.S_IMODE(tmp.stat().st_mode) == 0o700
        (tmp / "kubeconfig123").write_text("users: [{name: admin, user: {token: t}}]")
        (tmp / "helm").mkdir()
        (tmp / "helm" / "cache").write_text("x")
    assert not tmp.exists()


def test_private_tmpdir_is_removed_when_the_command_fails() -> None:
    with pytest.raises(RuntimeError, match="engine failed"), private_tmpdir() as tmp:
        (tmp / "kubeconfig123").write_text("secret")
        raise RuntimeError("engine failed")
    assert not tmp.exists()


def test_each_command_gets_its_own_directory() -> None:
    with private_tmpdir() as first, private_tmpdir() as second:
        assert first != second


def test_with_tmpdir_sets_only_tmpdir(tmp_path: Path) -> None:
    env = {"PATH": "/usr/bin", "TMPDIR": "/tmp"}
    assert with_tmpdir(env, tmp_path) == {"PATH": "/usr/bin", "TMPDIR": str(tmp_path)}
    assert env["TMPDIR"] == "/tmp"  # the caller's mapping is left as it was
