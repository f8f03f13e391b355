"""The runnable blocks of README.md and docs/policies.md work as written.

Each document's marked blocks (`<!-- doc-test ... -->`) run in one bash shell, as a
new user's: a throwaway copy of the repository (tests/docs/doc_blocks.py), no .venv or
toolchain on PATH, no Pulumi variables, a fresh HOME. `make setup` there reuses the
built toolchain cache and writes only the copy's `.toolchain/env` and `.pulumi/`.
docs/quickstart.md runs in test_quickstart.py.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from tests.docs.doc_blocks import (
    ROOT,
    new_user_env,
    repo_copy,
    resources_to_create,
    run_blocks,
    runnable_blocks,
)

pytestmark = pytest.mark.engine


def test_readme_quickstart_runs_as_written_and_its_resource_count_is_true(
    tmp_path: Path,
) -> None:
    """README's quickstart: `make preview` (setup, then dev with both packs), env.sh,
    validate, another example with `ARGS=--diff`. The README's measured `make preview` of
    `dev` names its resource count; it is the count this preview plans."""
    home = tmp_path / "home"
    home.mkdir()
    run = run_blocks(runnable_blocks("README.md"), repo_copy(tmp_path / "repo"), new_user_env(home))
    assert run.returncode == 0, run.output[-6000:]
    (output,) = run.block_outputs()
    assert "ok (tenant-managed" in output  # validate ran on every example
    # The two previews, dev first; --diff prints every input of the second one.
    summaries = re.findall(r"^Resources:\n\s*\+ (\d+) to create$", output, flags=re.M)
    assert len(summaries) == 2, output[-6000:]
    assert "+ pulumi:pulumi:Stack" in output
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    stated = re.search(r"`make preview` of `dev` \((\d+) resources", readme)
    assert stated, "README no longer states the dev preview's resource count"
    assert int(stated.group(1)) == resources_to_create(output), (
        f"README says `make preview` of dev plans {stated.group(1)} resources; "
        f"it plans {summaries[0]}: update the README's build-times table"
    )


def test_policies_md_preview_with_the_example_pack_configs_runs_as_written(
    tmp_path: Path,
) -> None:
    """docs/policies.md: setup, env.sh, the examples' passphrase, and `pulumi preview
    --stack dev` with both packs and their example configs in policies/config/."""
    home = tmp_path / "home"
    home.mkdir()
    (block,) = runnable_blocks("docs/policies.md")
    assert "--policy-pack-config policies/config/" in block.text
    run = run_blocks([block], repo_copy(tmp_path / "repo"), new_user_env(home))
    assert run.returncode == 0, run.output[-6000:]
    assert resources_to_create(run.output) > 0
    for pack in ("gpu-caas-tenant-isolation", "gpu-caas-platform-safety"):
        assert pack in run.output, run.output[-3000:]
