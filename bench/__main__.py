"""Benchmarks: `make bench` (speed and memory targets live here, never in tests).

Measures, for every example stack:
  - offline config validation (`python -m stacks validate` path): mean ms per file;
  - a real-engine `pulumi preview` with every policy pack: wall time, resources
    planned, and peak RSS of the largest process (engine, language host, program,
    providers or policy packs).
  - fleet (bench/fleet.py): `fleet preview` of 20 generated tenants of mixed flavors
    at --parallel 1, 2 and 4 side by side (throughput ratio against --parallel 1,
    failures: target 0, peak memory of the whole run), then 100 at the best one.
  - hosts (bench/hosts_scaling.py): generated tenants of 16, 128, 512 and 2048 GPU
    hosts previewed with both packs next to a flat program of as many resources:
    wall time, peak memory, CPU time and the ratio (target <= 1.3 at every size).

  - live, for `isv-inference` on the local cluster (sandbox/, the live tests' parts),
    side by side in one run: the first `pulumi up`, a no-op `pulumi up` and a
    `pulumi preview`, all with every policy pack, and the ratio no-op up / preview.

Targets (shared/reference/anchors-performance-reliability.md):
  - preview ≤ 6.3 s (Pulumi's own CI budget for an empty Python program, A1)
    + 25 ms per resource (checkpoint cost, A6) + 5 s policy-pack start-up (A15);
  - validation ≤ 50 ms per stack file (interactive editing feel);
  - peak RSS ≤ 1 GiB for any single process of a tenant preview;
  - no-op `up` ≤ 2 × preview: an update with nothing to do adds only the checkpoint
    write to the same plan (A1 budgets preview and update of an empty program alike).

Prints one line per measurement and `N passed, N failed` at the end; exits 1 if a
target is missed.
"""

from __future__ import annotations

import resource
import sys
import tempfile
import time
from pathlib import Path

from stacks.config.loader import load_stack_file
from tests.engine.harness import ROOT, preview

PREVIEW_BASE_S = 6.3
PER_RESOURCE_S = 0.025
POLICY_STARTUP_S = 5.0
VALIDATION_BUDGET_MS = 50.0
RSS_BUDGET_MIB = 1024.0


def _stacks() -> list[str]:
    return sorted(p.name[len("Pulumi.") : -len(".yaml")] for p in ROOT.glob("Pulumi.*.yaml"))


def bench_validation(stack: str, rounds: int = 20) -> tuple[float, bool]:
    path = ROOT / f"Pulumi.{stack}.yaml"
    load_stack_file(path)  # warm imports
    start = time.perf_counter()
    for _ in range(rounds):
        load_stack_file(path)
    mean_ms = (time.perf_counter() - start) * 1000 / rounds
    return mean_ms, mean_ms <= VALIDATION_BUDGET_MS


def bench_preview(stack: str) -> tuple[float, int, float, bool, str]:
    with tempfile.TemporaryDirectory() as tmp:
        start = time.perf_counter()
        result = preview(ROOT, stack, Path(tmp) / "backend")
        wall = time.perf_counter() - start
    if result.returncode != 0:
        return wall, 0, 0.0, False, result.describe()
    resources = sum(result.resource_changes.values())
    # ru_maxrss of children: the largest single child process, in KiB on Linux.
    rss_mib = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    budget = PREVIEW_BASE_S + PER_RESOURCE_S * resources + POLICY_STARTUP_S
    ok = wall <= budget and rss_mib <= RSS_BUDGET_MIB
    return wall, resources, rss_mib, ok, f"budget {budget:.1f}s"


NOOP_UP_OVER_PREVIEW = 2.0
LIVE_EXAMPLE = "isv-inference"


def bench_live(example: str = LIVE_EXAMPLE) -> tuple[float, float, float, str]:
    """(up s, no-op up s, preview s, error) of `example` on a fresh local cluster."""
    from sandbox.cluster import running_cluster
    from sandbox.services import Targets, chart_mirror, prepare_stack, stack_services
    from sandbox.workspace import StackWorkspace

    stack_file = ROOT / f"Pulumi.{example}.yaml"
    config = load_stack_file(stack_file)
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        with (
            chart_mirror(work / "mirror") as mirror,
            running_cluster(work / "cluster") as cluster,
            stack_services(cluster, config, mirror) as services,
        ):
            workspace = StackWorkspace(
                work / "pulumi", stack_file, f"bench-{example}", env=mirror.trust_env({})
            )
            workspace.init()
            prepare_stack(workspace, config, cluster, Targets.of(services))
            runs = [workspace.up(), workspace.up(), workspace.preview()]
            failed = [run for run in runs if run.returncode != 0]
            if failed:
                return 0.0, 0.0, 0.0, failed[0].describe()
            workspace.destroy()
            return runs[0].seconds, runs[1].seconds, runs[2].seconds, ""


def main() -> int:
    passed = failed = 0
    for stack in _stacks():
        mean_ms, ok = bench_validation(stack)
        print(
            f"validate {stack}: {mean_ms:.1f} ms/file (budget {VALIDATION_BUDGET_MS:.0f} ms) "
            f"{'ok' if ok else 'MISSED'}"
        )
        passed, failed = (passed + 1, failed) if ok else (passed, failed + 1)
    for stack in _stacks():
        wall, resources, rss, ok, note = bench_preview(stack)
        print(
            f"preview {stack}: {wall:.1f} s, {resources} resources, peak RSS {rss:.0f} MiB "
            f"({note}) {'ok' if ok else 'MISSED'}"
        )
        passed, failed = (passed + 1, failed) if ok else (passed, failed + 1)
    up_s, noop_s, preview_s, error = bench_live()
    ratio = noop_s / preview_s if preview_s else float("inf")
    ok = not error and ratio <= NOOP_UP_OVER_PREVIEW
    print(
        f"live {LIVE_EXAMPLE}: up {up_s:.1f} s, no-op up {noop_s:.1f} s, "
        f"preview {preview_s:.1f} s, no-op up / preview {ratio:.2f} "
        f"(target <= {NOOP_UP_OVER_PREVIEW}) "
        f"{'ok' if ok else 'MISSED'}{error and chr(10) + error}"
    )
    passed, failed = (passed + 1, failed) if ok else (passed, failed + 1)
    from bench.fleet import measure, report

    runs = measure()  # prints each small run as it ends
    print("\n".join(report(runs)[-1:]))  # the large run
    fleet_failed = sum(1 for run in runs if run.failures)
    passed, failed = passed + len(runs) - fleet_failed, failed + fleet_failed
    # Generated tenants of 16..2048 hosts next to a flat program (bench/hosts_scaling.py).
    from bench import hosts_scaling

    hosts_passed, hosts_failed = hosts_scaling.run()
    passed, failed = passed + hosts_passed, failed + hosts_failed
    print(f"{passed} passed, {failed} failed")
    return 0 if failed == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
