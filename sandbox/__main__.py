"""`python -m sandbox`: a tenant on a local cluster with simulated GPU nodes.

    python -m sandbox up [EXAMPLE]     start the cluster and `pulumi up` Pulumi.<EXAMPLE>.yaml
    python -m sandbox pulumi ARGS...   run pulumi on the sandbox stack (preview, stack output, ...)
    python -m sandbox down             `pulumi destroy`, stop everything, delete .sandbox/

`make sandbox` and `make sandbox-down` call these. Everything lives in `.sandbox/` in
the repository: the cluster (`cluster/`, with `kubeconfig` and every component's
log), the stand-ins' process (`services.log`) and the Pulumi project and state
(`pulumi/`). Nothing listens anywhere but 127.0.0.1.

`up` checks first, before anything starts, that the upstream reference files
(`sandbox.upstream`) and the live-cluster tools are there (`preflight`). A start that
fails stops what it started and leaves only its logs in `.sandbox/` (no marker of a
running sandbox), so the next `make sandbox` starts afresh.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import shutil
import signal
import subprocess
import sys
import threading
import time

from sandbox.cluster import (
    ClusterError,
    LocalCluster,
    missing_tools,
    start_cluster,
    stop_detached,
)
from sandbox.services import Targets, chart_mirror, prepare_stack, stack_services
from sandbox.upstream import UpstreamError, copy_problem
from sandbox.workspace import POLICY_PACKS, ROOT, StackWorkspace
from stacks.config import TenantConfig
from stacks.config.loader import load_stack_file
from stacks.engine_tmpdir import private_tmpdir, with_tmpdir

STATE = ROOT / ".sandbox"
DEFAULT_EXAMPLE = "isv-inference"
MARKERS = ("sandbox.json", "services.json", "services.json.tmp", "services.pid")
"""Files in `STATE` that say a sandbox runs (or is starting); logs are not among them."""


def _say(message: str) -> None:
    print(f"[sandbox] {message}", flush=True)


def _workspace(example: str, targets: Targets | None = None) -> StackWorkspace:
    bundle = (targets or _targets()).trust_bundle
    return StackWorkspace(
        directory=STATE / "pulumi",
        stack_file=ROOT / f"Pulumi.{example}.yaml",
        stack=f"sandbox-{example}",
        env={"SSL_CERT_FILE": bundle},
    )


def _targets() -> Targets:
    data = json.loads((STATE / "services.json").read_text())
    data["host_endpoints"] = {k: tuple(v) for k, v in data["host_endpoints"].items()}
    return Targets(**data)


def _example() -> str:
    return str(json.loads((STATE / "sandbox.json").read_text())["example"])


def serve(example: str) -> int:
    """Run the stand-ins for `example` until SIGTERM (the background half of `up`)."""
    cluster = LocalCluster.attach(STATE / "cluster")
    config = load_stack_file(ROOT / f"Pulumi.{example}.yaml")
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    with (
        chart_mirror(STATE / "mirror") as mirror,
        stack_services(cluster, config, mirror) as services,
    ):
        targets = Targets.of(services)
        partial = STATE / "services.json.tmp"
        partial.write_text(json.dumps(targets.__dict__))
        partial.rename(STATE / "services.json")
        stop.wait()
    return 0


def _wait_for_services(process: subprocess.Popen[bytes], timeout: float = 300) -> Targets:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if (STATE / "services.json").is_file():
            return _targets()
        if process.poll() is not None:
            break
        time.sleep(0.5)
    log = (STATE / "services.log").read_text(errors="replace")[-3000:]
    raise ClusterError(f"the sandbox stand-ins did not start:\n{log}")


def preflight() -> str | None:
    """Why a sandbox cannot start, checked before anything starts; None when it can.

    The upstream reference files first (the chart mirror ships their CRDs and values
    files): `sandbox.upstream.copy_problem()`'s message, the one `make test` stops
    with. Then the live-cluster tools on PATH (`sandbox.cluster.missing_tools`)."""
    try:
        problem = copy_problem()
    except UpstreamError as error:
        problem = str(error)
    if problem:
        return problem
    missing = missing_tools()
    if missing:
        return (
            f"not on PATH: {', '.join(missing)}. `make setup-test` builds the live-cluster "
            "tools and `. scripts/env.sh` puts them on PATH; kubectl is your own."
        )
    return None


def up(example: str) -> int:
    """Start the cluster and stand-ins (unless running) and `pulumi up` the example."""
    stack_file = ROOT / f"Pulumi.{example}.yaml"
    if not stack_file.is_file():
        examples = sorted(p.name[7:-5] for p in ROOT.glob("Pulumi.*.yaml"))
        _say(f"no example {example!r}; choose one of {', '.join(examples)}")
        return 2
    if (STATE / "sandbox.json").is_file() and not (STATE / "services.json").is_file():
        _say(
            "an earlier `make sandbox` is still starting, or was killed while starting: wait "
            "for it, or run `make sandbox-down` to stop what it started"
        )
        return 2
    if (STATE / "sandbox.json").is_file() and _example() != example:
        running = _example()
        _say(
            f"the sandbox runs {running!r}: `make sandbox SANDBOX_STACK={running}` updates it; "
            "`make sandbox-down` first to start another example"
        )
        return 2
    config = load_stack_file(stack_file)
    if not (STATE / "sandbox.json").is_file():
        problem = preflight()
        if problem is not None:
            print(problem, file=sys.stderr)
            return 2
        if STATE.exists():
            _say("removing .sandbox/, the logs of an earlier start that failed")
            _stop_everything()  # nothing should run; make sure before deleting its PIDs
            shutil.rmtree(STATE)
        try:
            cluster, workspace = _start(example, config)
        except BaseException:
            _say("starting failed; stopping what did start (its logs stay in .sandbox/)")
            stopped = _stop_everything()
            _forget_start()
            _say(
                f"stopped {', '.join(stopped) or 'nothing'}; the next `make sandbox` starts afresh"
            )
            raise
    else:
        cluster = LocalCluster.attach(STATE / "cluster")
        workspace = _workspace(example)
    _say(f"pulumi up {workspace.stack} (both policy packs)")
    packs = [arg for pack in POLICY_PACKS for arg in ("--policy-pack", str(pack))]
    code = _pulumi(workspace, ["up", "--yes", "--stack", workspace.stack, *packs])
    if code == 0:
        stack_file = workspace.stack_file_path.relative_to(ROOT)
        _say("the tenant is up. Try:")
        print(f"  export KUBECONFIG={cluster.kubeconfig}")
        print("  kubectl get nodes -L gpu-caas.io/node-group,nvidia.com/gpu.product")
        print("  kubectl get namespaces,resourcequotas -A")
        print("  . scripts/env.sh && python -m sandbox pulumi stack output   # any pulumi command")
        print(f"  day-2: edit {stack_file} (the sandbox's copy), then `make sandbox`")
        print(f"  python -m stacks mirror-list {stack_file}   # every chart and image it needs")
        print("  make sandbox-down   # destroy and stop everything")
    return code


def _start(example: str, config: TenantConfig) -> tuple[LocalCluster, StackWorkspace]:
    """Start the cluster and the stand-ins; create and configure the sandbox stack."""
    STATE.mkdir(exist_ok=True)
    (STATE / "sandbox.json").write_text(json.dumps({"example": example}))
    _say("starting etcd, kube-apiserver, kube-controller-manager, kube-scheduler and kwok")
    cluster = start_cluster(STATE / "cluster", detach=True)
    _say("starting the chart mirror, simulated nodes and stand-in hosts")
    with (STATE / "services.log").open("wb") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "sandbox", "serve", example],
            cwd=ROOT,
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )
    (STATE / "services.pid").write_text(str(process.pid))
    targets = _wait_for_services(process)
    workspace = _workspace(example, targets)
    workspace.init()
    prepare_stack(workspace, config, cluster, targets)
    return cluster, workspace


def _stop_everything() -> list[str]:
    """Stop the stand-ins' process and the cluster (no destroy); returns what was stopped."""
    stopped = []
    pid_file = STATE / "services.pid"
    if pid_file.is_file():
        with contextlib.suppress(ProcessLookupError):
            os.kill(int(pid_file.read_text()), signal.SIGTERM)
            stopped.append("the stand-ins")
        pid_file.unlink()
    return stopped + stop_detached(STATE / "cluster")


def _forget_start() -> None:
    """Remove the files that say a sandbox runs (`MARKERS`), keeping the logs: after a
    failed start nothing runs, and the next `up` must not refuse as if it did."""
    for name in MARKERS:
        (STATE / name).unlink(missing_ok=True)


def _pulumi(workspace: StackWorkspace, args: list[str]) -> int:
    pulumi = shutil.which("pulumi")
    if pulumi is None:
        _say("the pulumi CLI is not on PATH: run `make setup` and `. scripts/env.sh`")
        return 2
    with (
        private_tmpdir() as tmp,  # the Kubernetes provider leaves kubeconfigs in TMPDIR
        subprocess.Popen(
            [pulumi, *args], cwd=workspace.project, env=with_tmpdir(workspace.environment(), tmp)
        ) as process,
    ):
        while True:
            try:
                return process.wait()
            except KeyboardInterrupt:
                # pulumi got the same Ctrl-C and cancels the update itself (a second
                # one forces it); killing it here would leave pending operations.
                continue


def down() -> int:
    """Destroy the stack (if any), stop the stand-ins and the cluster, delete .sandbox/."""
    if not STATE.exists():
        _say("no sandbox is running")
        return 0
    code = 0
    if (STATE / "services.json").is_file() and (STATE / "pulumi" / "project").is_dir():
        workspace = _workspace(_example())
        _say(f"pulumi destroy {workspace.stack}")
        code = _pulumi(workspace, ["destroy", "--yes", "--stack", workspace.stack])
    stopped = _stop_everything()
    _say(f"stopped {', '.join(stopped) or 'nothing'}")
    if code != 0:
        _say("pulumi destroy failed; .sandbox/ is kept for its logs (remove it by hand)")
        return code
    shutil.rmtree(STATE)
    return 0


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m sandbox", description=__doc__.split("\n")[0])
    commands = parser.add_subparsers(dest="command", required=True)
    up_parser = commands.add_parser("up", help="start the sandbox and pulumi up an example")
    up_parser.add_argument("example", nargs="?", default=DEFAULT_EXAMPLE)
    commands.add_parser("down", help="pulumi destroy and stop the sandbox")
    serve_parser = commands.add_parser("serve", help=argparse.SUPPRESS)
    serve_parser.add_argument("example")
    pulumi_parser = commands.add_parser("pulumi", help="run pulumi on the sandbox stack")
    pulumi_parser.add_argument("args", nargs=argparse.REMAINDER)
    args = parser.parse_args(argv)
    try:
        if args.command == "up":
            return up(args.example)
        if args.command == "down":
            return down()
        if args.command == "serve":
            return serve(args.example)
        if not (STATE / "services.json").is_file():
            _say("no sandbox is running: `make sandbox` starts one")
            return 2
        return _pulumi(_workspace(_example()), list(args.args))
    except ClusterError as error:
        _say(f"error: {error}")
        return 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
