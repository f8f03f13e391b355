"""`make bench`, hosts: preview cost of large tenants next to a flat program.

For generated tenant-managed tenants of 16, 128, 512 and 2048 GPU hosts (+3 HA
control-plane hosts, node groups and racks of 16, hosts in an inventory file, one SSH
key declared once under `sshKeys`: `bench.host_tenants`), in one run:

* `pulumi preview` with both policy packs: wall time, resources planned, peak RSS of
  the largest single process and peak RSS of the whole process tree (engine, language
  host, program, providers, packs);
* the same for the flat program (`bench.flat_program`) planning the same number of
  resources, also with both packs;
* the ratio tenant / flat of the wall times, as the median over pairs of back-to-back
  previews (`PAIRS` per size, `bench_size`, `SizeResult.ratio`). Target:
  <= 1.3 at every size (the program's own work grows like the engine's); the
  2048-host preview is also the "2048 hosts validate and preview on the real engine
  with both packs" check;
* between consecutive sizes, the marginal ratio (`marginal_ratio`): what the added
  hosts cost the tenant next to what the added resources cost the flat program,
  fixed costs cancelled out. Reported only.

Why here and not in `make test`: the four sizes take minutes of engine time (the
2048-host preview alone plans ~8,400 resources, over two minutes on two cores, twice:
tenant and flat), beyond the test suite's budget on the CI machines. `make test`
validates a generated 2048-host stack offline and starts the policy packs' config
path on it instead (tests/bench/test_host_tenants.py).

Each stack is a throwaway: a random passphrase-provider salt on a private local
backend, the dev passphrase allowed for it (`GPU_CAAS_ALLOW_DEV_PASSPHRASE=1`), a
freshly generated SSH key set with `pulumi config set --secret` (never on argv).
"""

from __future__ import annotations

import os
import statistics
import subprocess
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import yaml
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import (
    Encoding,
    NoEncryption,
    PrivateFormat,
)

from bench import flat_program, host_tenants
from sandbox.workspace import POLICY_PACKS, StackWorkspace
from stacks.engine_tmpdir import private_tmpdir, with_tmpdir
from tests.engine.harness import ROOT, PreviewResult, parse_events

SIZES = (16, 128, 512, 2048)
"""GPU hosts per generated tenant."""
RATIO_TARGET = 1.3
"""Tenant preview wall time / flat program preview wall time, at every size."""
STACK = "bench"
_SAMPLE_S = 0.25


def throwaway_ssh_key() -> str:
    """A fresh ed25519 private key in OpenSSH format (never written to disk)."""
    key = Ed25519PrivateKey.generate()
    return key.private_bytes(Encoding.PEM, PrivateFormat.OpenSSH, NoEncryption()).decode()


@dataclass
class Measurement:
    """One preview: wall seconds, resources planned, peak memory (MiB), CPU seconds of
    the process tree (user + system, every process the CLI waited for), errors."""

    wall_s: float
    resources: int
    peak_process_mib: float
    peak_tree_mib: float
    cpu_s: float = 0.0
    error: str = ""


def tenant_workspace(work: Path, gpu_hosts: int) -> StackWorkspace:
    """A project with the program, the generated stack file and inventory file, the
    stack created and its SSH key set as a secret."""
    work.mkdir(parents=True, exist_ok=True)
    stack_file = work / f"Pulumi.{STACK}.yaml"
    tenant = host_tenants.tenant_config(gpu_hosts, name=STACK)
    stack_file.write_text(yaml.safe_dump({"config": {"gpu-caas:tenant": tenant}}, sort_keys=False))
    workspace = StackWorkspace(work / "ws", stack_file, STACK)
    (workspace.project / host_tenants.INVENTORY_FILE).write_text(
        yaml.safe_dump(host_tenants.inventory_document(gpu_hosts), sort_keys=False)
    )
    workspace.init()
    workspace.set_secret(host_tenants.SSH_KEY_PATH, throwaway_ssh_key())
    return workspace


def flat_workspace(work: Path, resources: int) -> StackWorkspace:
    """A project running `bench.flat_program` with `flat:resources` = `resources`."""
    program = work / "flat-program"
    program.mkdir(parents=True, exist_ok=True)
    # The same warm start as the tenant's project (Pulumi.yaml `preload`): the flat
    # program's interpreter is started with its SDKs imported while the engine starts
    # the policy packs, so the comparison is not skewed by the language host.
    (program / "Pulumi.yaml").write_text(
        "name: gpu-caas-flat\nruntime:\n  name: python\n  options:\n    toolchain: pip\n"
        f"    preload:\n      - {flat_program.PRELOAD}\n"
    )
    (program / "__main__.py").write_text(flat_program.PROGRAM.format(root=str(ROOT)))
    stack_file = work / f"Pulumi.{STACK}.yaml"
    key = f"{flat_program.CONFIG_NAMESPACE}:{flat_program.RESOURCES_KEY}"
    stack_file.write_text(yaml.safe_dump({"config": {key: str(resources)}}))
    workspace = StackWorkspace(work / "ws", stack_file, STACK, program=program)
    workspace.init()
    return workspace


def _tree_rss_kib(root: int) -> int:
    """Sum of the resident memory (KiB) of `root` and every process below it."""
    children: dict[int, list[int]] = {}
    rss: dict[int, int] = {}
    for status in Path("/proc").glob("[0-9]*/status"):
        try:
            text = status.read_text()
        except OSError:
            continue
        fields = dict(line.split(":", 1) for line in text.splitlines() if ":" in line)
        pid = int(status.parent.name)
        children.setdefault(int(fields.get("PPid", "0").strip() or 0), []).append(pid)
        rss[pid] = int(fields.get("VmRSS", "0 kB").split()[0]) if "VmRSS" in fields else 0
    total, stack = 0, [root]
    while stack:
        pid = stack.pop()
        total += rss.get(pid, 0)
        stack.extend(children.get(pid, []))
    return total


def measure_preview(
    workspace: StackWorkspace, timeout_s: float = 1800, *, packs: bool = True
) -> Measurement:
    """`pulumi preview --json` with both packs: wall time, resources, peak memory.

    Peak process RSS is `wait4`'s `ru_maxrss` (the largest single process of the
    tree); peak tree RSS is sampled every 0.25 s from /proc (sum over the tree)."""
    args = ["pulumi", "preview", "--json", "--non-interactive", "--stack", workspace.stack]
    for pack in POLICY_PACKS if packs else ():
        args += ["--policy-pack", str(pack)]
    env = {**workspace.environment(), "PULUMI_ENABLE_STREAMING_JSON_PREVIEW": "true"}
    with (
        private_tmpdir() as tmp,
        tempfile.TemporaryFile("w+") as out,
        tempfile.TemporaryFile("w+") as err,
    ):
        env = with_tmpdir(env, tmp)
        start = time.perf_counter()
        proc = subprocess.Popen(
            args, cwd=workspace.project, env=env, stdout=out, stderr=err, stdin=subprocess.DEVNULL
        )
        peak_tree = 0
        done = threading.Event()

        def sample() -> None:
            nonlocal peak_tree
            while not done.wait(_SAMPLE_S):
                peak_tree = max(peak_tree, _tree_rss_kib(proc.pid))

        sampler = threading.Thread(target=sample, daemon=True)
        sampler.start()
        deadline = start + timeout_s
        status, usage = 0, None
        while True:
            pid, status, usage = os.wait4(proc.pid, os.WNOHANG)
            if pid:
                break
            if time.perf_counter() > deadline:
                proc.kill()
                pid, status, usage = os.wait4(proc.pid, 0)
                break
            time.sleep(0.05)
        wall = time.perf_counter() - start
        done.set()
        sampler.join()
        proc.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0)
        err.seek(0)
        result: PreviewResult = parse_events(out.read(), proc.returncode, err.read())
    resources = sum(result.resource_changes.values())
    error = "" if proc.returncode == 0 else result.describe()
    cpu = usage.ru_utime + usage.ru_stime
    return Measurement(wall, resources, usage.ru_maxrss / 1024, peak_tree / 1024, cpu, error)


@dataclass
class SizeResult:
    """The tenant and flat measurements of one size, as pairs: pair i is
    `(tenants[i], flats[i])`, previewed one right after the other (`bench_size`)."""

    gpu_hosts: int
    tenants: list[Measurement]
    flats: list[Measurement]

    def __post_init__(self) -> None:
        if not self.tenants or len(self.tenants) != len(self.flats):
            raise ValueError(
                f"{len(self.tenants)} tenant and {len(self.flats)} flat previews: "
                "a size needs pairs, at least one"
            )

    @property
    def tenant(self) -> Measurement:
        """The tenant's run of median wall time (a failed run if any failed)."""
        return _median_run(self.tenants)

    @property
    def flat(self) -> Measurement:
        """The flat program's run of median wall time (a failed run if any failed)."""
        return _median_run(self.flats)

    def _good_pairs(self) -> list[tuple[Measurement, Measurement]]:
        return [
            (t, f)
            for t, f in zip(self.tenants, self.flats, strict=True)
            if not t.error and not f.error
        ]

    @property
    def pair_ratios(self) -> list[float]:
        """Tenant wall time / flat wall time of each pair where both succeeded."""
        return [t.wall_s / f.wall_s for t, f in self._good_pairs() if f.wall_s]

    @property
    def ratio(self) -> float:
        """The median of the pairs' ratios (inf without a successful pair)."""
        ratios = self.pair_ratios
        return statistics.median(ratios) if ratios else float("inf")

    @property
    def cpu_ratio(self) -> float:
        """The median of the pairs' CPU-seconds ratios (less sensitive to a busy machine)."""
        ratios = [t.cpu_s / f.cpu_s for t, f in self._good_pairs() if f.cpu_s]
        return statistics.median(ratios) if ratios else float("inf")

    @property
    def ok(self) -> bool:
        """Every preview succeeded, all planned the same count, and the ratio is met."""
        runs = [*self.tenants, *self.flats]
        return (
            not any(m.error for m in runs)
            and len({m.resources for m in runs}) == 1
            and self.ratio <= RATIO_TARGET
        )


def _median_run(runs: list[Measurement]) -> Measurement:
    """The first failed run, else the run of median wall time (the lower middle one of
    an even count)."""
    failed = [m for m in runs if m.error]
    if failed:
        return failed[0]
    ordered = sorted(runs, key=lambda m: m.wall_s)
    return ordered[(len(ordered) - 1) // 2]


def bench_size(gpu_hosts: int, pairs: int = 2) -> SizeResult:
    """Preview the generated tenant of `gpu_hosts` and the flat program of as many
    resources as the tenant planned, as `pairs` pairs of back-to-back previews: the
    tenant first in the first pair (its plan gives the flat program's size), the flat
    program first in the next, and so on.

    A machine shared with other work changes speed from one second to the next (up to
    1.7x on the CI type): the two previews of a pair see about the same machine, so
    each pair gives one ratio and the size's ratio is their median. Keeping each
    side's fastest run instead could set one side's quiet moment against the other's
    busy one. Swapping the order from pair to pair keeps a trend (a machine slowing
    down, the first preview of a fresh workspace) from always falling on one side.
    """
    with tempfile.TemporaryDirectory(prefix=f"gpu-caas-hosts-{gpu_hosts}-") as tmp:
        tenant_ws = tenant_workspace(Path(tmp) / "tenant", gpu_hosts)
        tenants = [measure_preview(tenant_ws)]
        flat_ws = flat_workspace(Path(tmp) / "flat", tenants[0].resources or 2)
        flats = [measure_preview(flat_ws)]
        for pair in range(1, pairs):
            if pair % 2:
                flats.append(measure_preview(flat_ws))
                tenants.append(measure_preview(tenant_ws))
            else:
                tenants.append(measure_preview(tenant_ws))
                flats.append(measure_preview(flat_ws))
    return SizeResult(gpu_hosts, tenants, flats)


def line(result: SizeResult) -> str:
    """One line of the bench report for a size."""
    t, f = result.tenant, result.flat
    text = (
        f"hosts {result.gpu_hosts}+{host_tenants.CONTROL_PLANE_HOSTS}: tenant preview "
        f"{t.wall_s:.1f} s, {t.resources} resources, peak RSS {t.peak_process_mib:.0f} MiB "
        f"(tree {t.peak_tree_mib:.0f} MiB); flat program {f.wall_s:.1f} s, {f.resources} "
        f"resources, peak RSS {f.peak_process_mib:.0f} MiB (tree {f.peak_tree_mib:.0f} MiB); "
        f"CPU {t.cpu_s:.1f} s / {f.cpu_s:.1f} s (ratio {result.cpu_ratio:.2f}); "
        f"ratio {result.ratio:.2f} (target <= {RATIO_TARGET}) {'ok' if result.ok else 'MISSED'}"
    )
    ratios = result.pair_ratios
    if len(ratios) > 1:
        text += (
            f"\n  median of {len(ratios)} pairs of back-to-back previews (order swapped "
            "from pair to pair); "
            f"pair ratios {min(ratios):.2f}-{max(ratios):.2f}; times are each side's "
            "median run (the faster middle one of an even count)"
        )
    for what, m in (("tenant", t), ("flat", f)):
        if m.error:
            text += f"\n  {what}: {m.error[-3000:]}"
    return text


def marginal_ratio(smaller: SizeResult, larger: SizeResult) -> float:
    """What the hosts between two sizes add: (tenant wall time at `larger` - at
    `smaller`) / (the same for the flat program). The fixed costs a tenant has and the
    flat program has not (the Kubernetes SDK and provider, the config models, the
    platform's ordering) cancel out, so this is how the tenant's own cost grows next to
    the engine's. Reported, not part of the target.

    Raises:
        ValueError: `larger` does not have more hosts than `smaller`, a preview of
            either size failed, or the flat program did not take longer at `larger`.
    """
    if larger.gpu_hosts <= smaller.gpu_hosts:
        raise ValueError(f"{larger.gpu_hosts} hosts is not more than {smaller.gpu_hosts}")
    for size in (smaller, larger):
        if any(m.error for m in [*size.tenants, *size.flats]):
            raise ValueError(f"a preview at {size.gpu_hosts} hosts failed")
    flat = larger.flat.wall_s - smaller.flat.wall_s
    if flat <= 0:
        raise ValueError(
            f"the flat program took no longer at {larger.gpu_hosts} hosts than at "
            f"{smaller.gpu_hosts} ({larger.flat.wall_s:.1f} s, {smaller.flat.wall_s:.1f} s)"
        )
    return (larger.tenant.wall_s - smaller.tenant.wall_s) / flat


def marginal_line(smaller: SizeResult, larger: SizeResult) -> str:
    """One report line for `marginal_ratio` (or why it cannot be computed)."""
    head = f"hosts {smaller.gpu_hosts} -> {larger.gpu_hosts}:"
    try:
        ratio = marginal_ratio(smaller, larger)
    except ValueError as error:
        return f"{head} no marginal ratio: {error}"
    return (
        f"{head} tenant +{larger.tenant.wall_s - smaller.tenant.wall_s:.1f} s, flat program "
        f"+{larger.flat.wall_s - smaller.flat.wall_s:.1f} s (marginal ratio {ratio:.2f})"
    )


PAIRS = {16: 5, 128: 3, 512: 2, 2048: 1}
"""Alternating (tenant, flat program) pairs per size, the ratio being their median:
small previews are the most disturbed by other load; the 2048-host pair takes
minutes, so it runs once."""


def run(sizes: tuple[int, ...] = SIZES) -> tuple[int, int]:
    """Print one line per size; return `(passed, failed)`."""
    passed = failed = 0
    results: list[SizeResult] = []
    for size in sizes:
        result = bench_size(size, PAIRS.get(size, 1))
        print(line(result), flush=True)
        passed, failed = (passed + 1, failed) if result.ok else (passed, failed + 1)
        results.append(result)
    ordered = sorted(results, key=lambda r: r.gpu_hosts)
    for smaller, larger in zip(ordered, ordered[1:], strict=False):
        if larger.gpu_hosts > smaller.gpu_hosts:
            print(marginal_line(smaller, larger), flush=True)
    return passed, failed


if __name__ == "__main__":
    import sys

    chosen = tuple(int(a) for a in sys.argv[1:]) or SIZES
    _, missed = run(chosen)
    sys.exit(1 if missed else 0)
