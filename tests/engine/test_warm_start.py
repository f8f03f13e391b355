"""The language host's warm start (`preload` runtime option) on the real engine.

A throwaway project preloads `broken_preload` (which raises), `stdin_reader` (which
reads stdin and prints) and `warm_marker`: the program must run in the interpreter
that imported the marker before the stack's configuration existed, see the
configuration, the working directory and stdin as a cold start would; a preload that
fails or reads stdin must change nothing but the time. Without `preload` the same
program runs cold (nothing imported before it). A command that runs no program shows
nothing a preload printed.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
import yaml

from stacks.engine_tmpdir import private_tmpdir, with_tmpdir
from tests.engine.harness import ROOT, engine_env, preview, require_pulumi

pytestmark = pytest.mark.engine

MARKER = """\
import os

print("warm_marker imported")
IMPORTED_WITHOUT_CONFIG = "PULUMI_CONFIG" not in os.environ
PID = os.getpid()
"""

PROGRAM = """\
import os
import sys

import pulumi

preloaded = "warm_marker" in sys.modules
import warm_marker  # noqa: E402

pulumi.export("preloaded", preloaded)
pulumi.export("importedBeforeConfig", warm_marker.IMPORTED_WITHOUT_CONFIG)
pulumi.export("sameProcess", warm_marker.PID == os.getpid())
pulumi.export("greeting", pulumi.Config().require("greeting"))
pulumi.export("cwd", os.getcwd())
pulumi.export("stdin", sys.stdin.read())
pulumi.export("brokenPreloadLeftOut", "broken_preload" not in sys.modules)
if pulumi.Config().get_bool("importBroken"):
    import broken_preload  # noqa: F401
"""


def _project(tmp_path: Path, preload: list[str] | None, *, import_broken: bool = False) -> Path:
    project = tmp_path / "project"
    project.mkdir()
    options: dict[str, object] = {"virtualenv": str(ROOT / ".venv")}
    if preload is not None:
        options["preload"] = preload
    (project / "Pulumi.yaml").write_text(
        yaml.safe_dump({"name": "warmtest", "runtime": {"name": "python", "options": options}})
    )
    (project / "__main__.py").write_text(PROGRAM)
    (project / "warm_marker.py").write_text(MARKER)
    (project / "broken_preload.py").write_text('raise RuntimeError("broken preload module")\n')
    (project / "stdin_reader.py").write_text(
        'import sys\nprint("stdin_reader read", len(sys.stdin.read(10)), "characters")\n'
    )
    config = {"warmtest:greeting": "hello", "warmtest:importBroken": str(import_broken).lower()}
    (project / "Pulumi.test.yaml").write_text(yaml.safe_dump({"config": config}))
    return project


@pytest.mark.parametrize("warm", [True, False], ids=["preload", "no-preload"])
def test_program_runs_in_the_preloaded_interpreter_as_it_would_cold(
    warm: bool, tmp_path: Path
) -> None:
    preload = ["broken_preload", "stdin_reader", "warm_marker"]
    project = _project(tmp_path, preload if warm else None)

    result = preview(project, "test", tmp_path / "backend", policy_packs=[])

    assert result.returncode == 0, result.describe()
    outputs = result.outputs
    assert outputs["preloaded"] is warm
    assert outputs["importedBeforeConfig"] is warm
    assert outputs["sameProcess"] is True
    assert outputs["greeting"] == "hello"
    assert Path(str(outputs["cwd"])).resolve() == project.resolve()
    assert outputs["stdin"] == ""
    assert outputs["brokenPreloadLeftOut"] is True


def test_a_failed_preload_is_reported_by_the_program_as_a_cold_start_would(
    tmp_path: Path,
) -> None:
    project = _project(tmp_path, ["broken_preload", "warm_marker"], import_broken=True)

    result = preview(project, "test", tmp_path / "backend", policy_packs=[])

    assert result.returncode != 0
    assert "broken preload module" in "\n".join(result.errors) + result.stderr, result.describe()


def test_a_warm_interpreter_that_gets_no_program_ends_quietly(tmp_path: Path) -> None:
    """`pulumi destroy` asks for the program's packages (the warm start begins) and
    then runs no program; the engine interrupts its plugins at the end."""
    project = _project(tmp_path, ["stdin_reader", "warm_marker"])
    backend = tmp_path / "backend"
    assert preview(project, "test", backend, policy_packs=[]).returncode == 0

    with private_tmpdir() as tmp:
        env = with_tmpdir(engine_env(backend, allow_dev_passphrase=True), tmp)
        destroy = subprocess.run(
            [require_pulumi(), "destroy", "--yes", "--non-interactive", "--stack", "test"],
            cwd=project,
            env=env,
            capture_output=True,
            text=True,
            timeout=300,
            check=False,
        )

    output = destroy.stdout + destroy.stderr
    assert destroy.returncode == 0, output[-3000:]
    assert "Traceback" not in output and "KeyboardInterrupt" not in output, output[-3000:]
    assert "warm_marker imported" not in output, output[-3000:]
