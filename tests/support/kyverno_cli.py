"""The Kyverno CLI (`kubectl-kyverno apply`) against rendered ClusterPolicies, for the
tests of gpu-caas' policies (isolation, NIM pods): one way to write the policies, run
the CLI and read its policy report."""

from __future__ import annotations

import json
import shutil
import subprocess
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml

from components.isolation.kyverno import API_VERSION, KIND


def kyverno() -> str:
    """The CLI's path; fails the test with how to get it when it is not on PATH."""
    path = shutil.which("kubectl-kyverno")
    assert path is not None, (
        "kubectl-kyverno is not on PATH: run the tests through `make test` "
        "(`make setup-test` builds it; `. scripts/env.sh` puts it on PATH)"
    )
    return path


def write_policies(specs: Mapping[str, Mapping[str, Any]], directory: Path) -> list[str]:
    """One ClusterPolicy manifest per `name -> spec` in `directory`; returns the names."""
    for name, spec in specs.items():
        manifest = {"apiVersion": API_VERSION, "kind": KIND, "metadata": {"name": name}}
        manifest["spec"] = dict(spec)
        (directory / f"{name}.yaml").write_text(yaml.safe_dump(manifest))
    return list(specs)


def policy_results(
    policy_dir: Path,
    resources: list[dict[str, Any]],
    work: Path,
    *,
    mutated: Path | None = None,
) -> list[dict[str, Any]]:
    """The `results` of `kyverno apply <policy_dir> --policy-report` on `resources`
    (written under `work`); with `mutated`, the mutated resources are written there.

    Exit code 1 ("some resource failed a policy") is what the cases expect; any other
    fails the test."""
    resource_dir = work / "resources"
    resource_dir.mkdir()
    (resource_dir / "resources.yaml").write_text(yaml.safe_dump_all(resources))
    args = [kyverno(), "apply", str(policy_dir), "--resource", str(resource_dir)]
    args += ["--policy-report", "--output-format", "json", "--remove-color"]
    if mutated is not None:
        args += ["--output", str(mutated)]
    proc = subprocess.run(args, capture_output=True, text=True, timeout=300, check=False)
    assert proc.returncode in (0, 1), proc.stderr
    # With mutate rules the CLI prints a line per mutation before the report.
    report = json.loads(proc.stdout[proc.stdout.index("{") :])
    results: list[dict[str, Any]] = report.get("results", [])
    return results
