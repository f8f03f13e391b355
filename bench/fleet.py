"""Fleet benchmark (`make bench`; alone: `python -m bench.fleet [--tenants 20]
[--parallel 1,2,4] [--large 100]`).

Generates tenants of mixed flavors from the example stacks (tenant-managed `dev`,
ncp-managed `h100-training`, isv-managed `isv-inference`, in turn), each a copy under a
new stack and tenant name that keeps the example's salt (dummy secrets on the dev
passphrase, allowed for these throwaway stacks), and runs `fleet preview` with both
policy packs on a fresh local backend at each parallelism, side by side in one run:
wall time, throughput (tenants/min) and its ratio to `--parallel 1`, failures (target:
0), and the peak memory of the whole run (the sum of the resident sets of this process
and every process below it, sampled every 0.25 s). Then the large run: `--large`
tenants at the best parallelism measured.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
import threading
from dataclasses import dataclass
from pathlib import Path

import yaml

from sandbox.workspace import descendants, engine_environment
from stacks.config.example_stacks import ALLOW_DEV_PASSPHRASE_ENV, DEV_PASSPHRASE
from stacks.config.loader import CONFIG_KEY
from stacks.fleet.runner import ROOT, FleetOptions, run_fleet
from stacks.fleet.selection import discover

FLAVORS = ("dev", "h100-training", "isv-inference")


def generate_tenants(directory: Path, count: int, examples: tuple[str, ...] = FLAVORS) -> list[str]:
    """Write `count` stack files into `directory`, copies of `examples` in turn; return
    their names."""
    directory.mkdir(parents=True, exist_ok=True)
    names = []
    for index in range(count):
        example = examples[index % len(examples)]
        name = f"t{index:03d}-{example.split('-')[0]}"
        document = yaml.safe_load((ROOT / f"Pulumi.{example}.yaml").read_text())
        document["config"][CONFIG_KEY]["name"] = name
        (directory / f"Pulumi.{name}.yaml").write_text(yaml.safe_dump(document, sort_keys=False))
        names.append(name)
    return names


SNAPSHOT = ("__main__.py", "Pulumi.yaml", "components", "stacks", "policies")


def snapshot_program(destination: Path) -> Path:
    """Copy the program and the policy packs to `destination` (the repository's `.venv`
    linked in), so a run measures one revision even while the working tree changes."""
    destination.mkdir(parents=True, exist_ok=True)
    for name in SNAPSHOT:
        source = ROOT / name
        if source.is_dir():
            shutil.copytree(
                source, destination / name, ignore=shutil.ignore_patterns("__pycache__")
            )
        else:
            shutil.copy2(source, destination / name)
    (destination / ".venv").symlink_to(ROOT / ".venv")
    return destination


def _rss_kib(pid: int) -> int:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    except OSError:
        pass
    return 0


class PeakMemory:
    """Samples the summed RSS of this process and all its descendants."""

    def __init__(self, interval: float = 0.25) -> None:
        self.interval, self.peak_kib = interval, 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        me = os.getpid()
        while not self._stop.is_set():
            total = sum(_rss_kib(pid) for pid in [me, *descendants(me)])
            self.peak_kib = max(self.peak_kib, total)
            self._stop.wait(self.interval)

    def __enter__(self) -> PeakMemory:
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        self._thread.join()


@dataclass
class Run:
    tenants: int
    parallel: int
    seconds: float
    failures: int
    peak_mib: float
    failed: list[str]

    @property
    def per_minute(self) -> float:
        return self.tenants * 60 / self.seconds if self.seconds else 0.0


def fleet_preview(stacks_dir: Path, parallel: int, program: Path = ROOT) -> Run:
    """One `fleet preview` of every stack in `stacks_dir` on a fresh backend, with the
    program and packs in `program` (`snapshot_program`)."""
    with tempfile.TemporaryDirectory() as tmp:
        backend = Path(tmp) / "backend"
        backend.mkdir()
        options = FleetOptions(
            "preview",
            Path(tmp) / "work",
            parallel=parallel,
            env=engine_environment(backend, allow_dev_passphrase=True),
            project_dir=program,
            policy_packs=tuple(
                sorted(p.parent for p in (program / "policies").glob("*/PulumiPolicy.yaml"))
            ),
        )
        stacks = discover(stacks_dir)
        with PeakMemory() as memory:
            summary = run_fleet(stacks, options)
    failed = [
        f"{r.tenant}: {r.failure} {(r.errors or r.config_errors or [''])[0][:200]}"
        for r in summary.failed
    ]
    return Run(len(stacks), parallel, summary.seconds, len(failed), memory.peak_kib / 1024, failed)


def report(runs: list[Run]) -> list[str]:
    """One line per run: throughput ratio against `--parallel 1` of the same size."""
    base = {r.tenants: r.per_minute for r in runs if r.parallel == 1}
    first = next(iter(base.values()), 0.0)  # the large run: against the small --parallel 1
    lines = []
    for run in runs:
        reference = base.get(run.tenants, first)
        ratio = run.per_minute / reference if reference else float("nan")
        lines.append(
            f"fleet preview {run.tenants} tenants --parallel {run.parallel}: {run.seconds:.0f} s, "
            f"{run.per_minute:.1f} tenants/min, x{ratio:.2f} vs --parallel 1, "
            f"failures {run.failures} (target 0), peak memory {run.peak_mib:.0f} MiB "
            f"{'ok' if run.failures == 0 else 'MISSED'}"
        )
        lines += [f"    failed {line}" for line in run.failed[:5]]
    return lines


def measure(
    tenants: int = 20,
    parallels: tuple[int, ...] = (1, 2, 4),
    large: int = 100,
    examples: tuple[str, ...] = FLAVORS,
) -> list[Run]:
    """The side-by-side runs of `tenants` tenants at each of `parallels`, then `large`
    tenants (0: none) at the parallelism with the best throughput."""
    # The offline validation reads this process's environment: throwaway copies of the
    # examples on the dev passphrase are allowed.
    os.environ[ALLOW_DEV_PASSPHRASE_ENV] = "1"
    os.environ.setdefault("PULUMI_CONFIG_PASSPHRASE", DEV_PASSPHRASE)
    runs: list[Run] = []
    with tempfile.TemporaryDirectory() as tmp:
        program = snapshot_program(Path(tmp) / "program")
        small = Path(tmp) / "small"
        generate_tenants(small, tenants, examples)
        for parallel in parallels:
            runs.append(fleet_preview(small, parallel, program))
            print(report(runs)[-1 - len(runs[-1].failed[:5])], flush=True)
        if large:
            best = max(runs, key=lambda r: r.per_minute)
            generate_tenants(Path(tmp) / "large", large, examples)
            runs.append(fleet_preview(Path(tmp) / "large", best.parallel, program))
    return runs


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.fleet")
    parser.add_argument("--tenants", type=int, default=20)
    parser.add_argument("--parallel", default="1,2,4")
    parser.add_argument("--large", type=int, default=100, help="0 skips the large run")
    parser.add_argument("--examples", default=",".join(FLAVORS), help="examples to copy")
    args = parser.parse_args(argv)
    runs = measure(
        args.tenants,
        tuple(int(p) for p in args.parallel.split(",")),
        args.large,
        tuple(args.examples.split(",")),
    )
    print("\n".join(report(runs)))
    failed = sum(1 for run in runs if run.failures)
    print(f"{len(runs) - failed} passed, {failed} failed")
    return 0 if failed == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
