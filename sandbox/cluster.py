"""A local Kubernetes control plane on 127.0.0.1, with kwok playing every kubelet.

`make setup-test` builds the binaries from the Go module proxy (scripts/toolchain/):
etcd, kube-apiserver, kube-controller-manager and kube-scheduler at one Kubernetes
version, and kwok (https://kwok.sigs.k8s.io/) with upstream's default "fast" Stages.

What is real: the API server (authentication, RBAC, admission: Pod Security,
ResourceQuota, LimitRange, ServiceAccount, CRD validation and CEL), the controllers
(namespace finalization, garbage collection, ReplicaSets, DaemonSets, Jobs, quota
status, service-account tokens) and the scheduler (taints, tolerations, node
affinity, extended-resource fit). What is simulated: kubelets (kwok marks nodes
Ready and keeps their leases, and moves scheduled pods to Running and Ready); no
container ever runs and no traffic goes anywhere.

`running_cluster(workdir)` starts everything on free loopback ports and stops it on
exit; logs stay in `workdir` (the tests keep it on failure).
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import socket
import ssl
import subprocess
import time
import urllib.request
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import yaml

ADMIN_TOKEN = "gpu-caas-test-admin-token"  # noqa: S105 - a throwaway loopback cluster's token
"""Static bearer token of the cluster admin (`system:masters`) of every local cluster."""

KWOK_NODE_ANNOTATION = "kwok.x-k8s.io/node"
"""Nodes carrying this annotation (value `fake`) are simulated by kwok."""

_SERVICE_CIDR = "10.96.0.0/16"
"""Service ClusterIPs are allocated from here; nothing ever listens on them."""


_CONTROLLERS = (
    "*",
    # No cloud, no node IPAM (kwok assigns pod IPs), no CSR signing keys.
    "-nodeipam",
    "-csrsigning",
    "-cloud-node-lifecycle",
    "-service-lb-controller",
    "-node-route-controller",
)
"""kube-controller-manager `--controllers`: every default controller but these."""


class ClusterError(RuntimeError):
    """A local cluster component failed to start; the message ends with its log tail."""


def free_port(host: str = "127.0.0.1") -> int:
    """A free TCP port on `host` (a loopback address)."""
    with socket.socket() as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


LIVE_CLUSTER_TOOLS = (
    "etcd",
    "kube-apiserver",
    "kube-controller-manager",
    "kube-scheduler",
    "kwok",
    "kubectl",
)
"""What a live cluster runs (`make setup-test` builds them; `kubectl` is the user's)."""


def missing_tools(names: Iterable[str] = LIVE_CLUSTER_TOOLS) -> list[str]:
    """The tools of `names` that are not on PATH, in order."""
    return [name for name in names if shutil.which(name) is None]


def binary(name: str) -> str:
    """Path of a test tool on PATH; `ClusterError` saying how to build it otherwise."""
    path = shutil.which(name)
    if path is None:
        raise ClusterError(
            f"{name} is not on PATH: run `make setup-test` (it builds the live-cluster tools) "
            "and `. scripts/env.sh` (it puts them on PATH)"
        )
    return path


def kwok_stages() -> Path:
    """kwok's default Stages, installed beside the kwok binary by `make setup-test`."""
    stages = Path(binary("kwok")).resolve().parent.parent / "share" / "kwok" / "stages.yaml"
    if not stages.is_file():
        raise ClusterError(f"{stages} is missing: rebuild kwok with `make setup-test`")
    return stages


def kubeconfig_yaml(url: str, token: str, *, name: str = "gpu-caas-local") -> str:
    """A kubeconfig for `url` with bearer `token` (TLS not verified: a loopback test server)."""
    return yaml.safe_dump(
        {
            "apiVersion": "v1",
            "kind": "Config",
            "clusters": [
                {"name": name, "cluster": {"server": url, "insecure-skip-tls-verify": True}}
            ],
            "users": [{"name": "admin", "user": {"token": token}}],
            "contexts": [{"name": name, "context": {"cluster": name, "user": "admin"}}],
            "current-context": name,
        },
        sort_keys=False,
    )


@dataclass
class LocalCluster:
    """A running local cluster: its API URL, admin kubeconfig and working directory."""

    url: str
    kubeconfig: Path
    workdir: Path
    detach: bool = False
    processes: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)

    @classmethod
    def attach(cls, workdir: Path) -> LocalCluster:
        """The detached cluster running from `workdir` (`ClusterError` when none is)."""
        kubeconfig = workdir / "kubeconfig"
        pids = workdir / "pids.json"
        if not kubeconfig.is_file() or not pids.is_file():
            raise ClusterError(f"no local cluster runs from {workdir}")
        url = yaml.safe_load(kubeconfig.read_text())["clusters"][0]["cluster"]["server"]
        cluster = cls(url=url, kubeconfig=kubeconfig, workdir=workdir, detach=True)
        if _get(f"{url}/readyz", ADMIN_TOKEN) != 200:
            raise ClusterError(f"the local cluster in {workdir} does not answer at {url}")
        return cluster

    def kubectl(
        self,
        *args: str,
        stdin: str | None = None,
        timeout: int = 300,
        as_user: str | None = None,
        as_groups: Sequence[str] = (),
    ) -> subprocess.CompletedProcess[str]:
        """Run kubectl as the admin, or impersonating `as_user` in `as_groups`."""
        command = [binary("kubectl"), "--kubeconfig", str(self.kubeconfig)]
        if as_user is not None:
            command += ["--as", as_user, *[f"--as-group={group}" for group in as_groups]]
        return subprocess.run(
            [*command, *args],
            input=stdin,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )

    def apply(self, manifests: Sequence[dict[str, object]]) -> None:
        """Server-side apply `manifests` as the admin; `ClusterError` on failure."""
        done = self.kubectl(
            "apply", "--server-side", "--field-manager", "gpu-caas-sandbox", "-f", "-",
            stdin=yaml.safe_dump_all(list(manifests)),
        )  # fmt: skip
        if done.returncode != 0:
            raise ClusterError(f"kubectl apply failed: {done.stderr.strip()}")

    def logs(self, tail: int = 3000) -> str:
        """The tail of every component's log, for failure messages."""
        parts = []
        for log in sorted(self.workdir.glob("*.log")):
            parts.append(f"--- {log.name}\n{log.read_text(errors='replace')[-tail:]}")
        return "\n".join(parts)

    def check_running(self) -> None:
        """`ClusterError` when a component has exited."""
        for name, process in self.processes.items():
            if process.poll() is not None:
                log = self.workdir / f"{name}.log"
                raise ClusterError(
                    f"{name} exited with {process.returncode}:\n"
                    f"{log.read_text(errors='replace')[-3000:]}"
                )


def _insecure_context() -> ssl.SSLContext:
    context = ssl.create_default_context()
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    return context


def _get(url: str, token: str) -> int:
    request = urllib.request.Request(url, headers={"Authorization": f"Bearer {token}"})
    try:
        with urllib.request.urlopen(request, context=_insecure_context(), timeout=2) as response:
            return int(response.status)
    except OSError:
        return 0


def _wait(what: str, ready: Callable[[], bool], cluster: LocalCluster, deadline: float) -> None:
    while time.monotonic() < deadline:
        cluster.check_running()
        if ready():
            return
        time.sleep(0.5)
    raise ClusterError(f"{what} not ready in time:\n{cluster.logs()}")


def _start(cluster: LocalCluster, name: str, argv: list[str]) -> None:
    with (cluster.workdir / f"{name}.log").open("wb") as log:
        cluster.processes[name] = subprocess.Popen(
            argv,
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=cluster.detach,
        )
    if cluster.detach:
        pids = {n: p.pid for n, p in cluster.processes.items()}
        (cluster.workdir / "pids.json").write_text(json.dumps(pids))


def _etcd(cluster: LocalCluster) -> str:
    client, peer = free_port(), free_port()
    _start(
        cluster,
        "etcd",
        [
            binary("etcd"),
            "--data-dir", str(cluster.workdir / "etcd"),
            "--listen-client-urls", f"http://127.0.0.1:{client}",
            "--advertise-client-urls", f"http://127.0.0.1:{client}",
            "--listen-peer-urls", f"http://127.0.0.1:{peer}",
            "--initial-advertise-peer-urls", f"http://127.0.0.1:{peer}",
            "--initial-cluster", f"default=http://127.0.0.1:{peer}",
            "--listen-metrics-urls", f"http://127.0.0.1:{free_port()}",
            "--log-level", "warn",
        ],
    )  # fmt: skip
    return f"http://127.0.0.1:{client}"


def _apiserver(cluster: LocalCluster, etcd: str, port: int, extra: Sequence[str]) -> None:
    workdir = cluster.workdir
    key = workdir / "sa.key"
    subprocess.run(["openssl", "genrsa", "-out", str(key), "2048"], capture_output=True, check=True)
    (workdir / "tokens.csv").write_text(f'{ADMIN_TOKEN},admin,admin,"system:masters"\n')
    _start(
        cluster,
        "kube-apiserver",
        [
            binary("kube-apiserver"),
            "--etcd-servers", etcd,
            "--bind-address", "127.0.0.1",
            "--advertise-address", "127.0.0.1",
            "--secure-port", str(port),
            "--cert-dir", str(workdir / "certs"),
            "--token-auth-file", str(workdir / "tokens.csv"),
            "--service-account-issuer", "https://kubernetes.default.svc",
            "--service-account-key-file", str(key),
            "--service-account-signing-key-file", str(key),
            "--service-cluster-ip-range", _SERVICE_CIDR,
            # As kubeadm and every real cluster: privileged containers are allowed by
            # the server and refused per namespace by Pod Security (what we test).
            "--allow-privileged=true",
            *extra,
        ],
    )  # fmt: skip


def _component_flags(kubeconfig: str) -> list[str]:
    """Flags kube-controller-manager and kube-scheduler share: the admin kubeconfig for
    the API and for delegated auth, their own endpoint on loopback, one instance."""
    return [
        "--kubeconfig", kubeconfig,
        "--authentication-kubeconfig", kubeconfig,
        "--authorization-kubeconfig", kubeconfig,
        "--bind-address", "127.0.0.1",
        "--secure-port", str(free_port()),
        "--leader-elect=false",
    ]  # fmt: skip


def _controllers(cluster: LocalCluster) -> None:
    workdir, kubeconfig = cluster.workdir, str(cluster.kubeconfig)
    _start(
        cluster,
        "kube-controller-manager",
        [
            binary("kube-controller-manager"),
            *_component_flags(kubeconfig),
            "--service-account-private-key-file", str(workdir / "sa.key"),
            "--root-ca-file", str(workdir / "certs" / "apiserver.crt"),
            "--use-service-account-credentials=false",
            "--controllers", ",".join(_CONTROLLERS),
            # Simulated nodes never go away by themselves: keep pods bound to them.
            "--node-monitor-grace-period", "120s",
        ],
    )  # fmt: skip
    _start(
        cluster,
        "kube-scheduler",
        [binary("kube-scheduler"), *_component_flags(kubeconfig)],
    )  # fmt: skip
    _start(
        cluster,
        "kwok",
        [
            binary("kwok"),
            "--kubeconfig", kubeconfig,
            "--config", str(kwok_stages()),
            "--manage-all-nodes=false",
            "--manage-nodes-with-annotation-selector", f"{KWOK_NODE_ANNOTATION}=fake",
            "--node-lease-duration-seconds", "40",
            "--cidr", "10.244.0.1/16",
            "--node-ip", "127.0.0.1",
        ],
    )  # fmt: skip


def _default_service_account_ready(cluster: LocalCluster) -> bool:
    done = cluster.kubectl("get", "serviceaccount", "default", "-n", "default", timeout=10)
    return done.returncode == 0


def start_cluster(
    workdir: Path, *, controllers: bool = True, timeout: float = 180, detach: bool = False
) -> LocalCluster:
    """Start a local cluster under `workdir` and wait until it serves.

    Args:
        workdir: directory for etcd data, certificates, kubeconfig and `<component>.log`.
        controllers: also run kube-controller-manager, kube-scheduler and kwok, and
            enforce RBAC (a live cluster); False starts only etcd and an AlwaysAllow
            API server (enough for server-side dry runs).
        timeout: seconds to wait for every component to be ready.
        detach: start the processes in their own session, so they outlive this one
            (`make sandbox`); their PIDs are written to `workdir/pids.json`.

    Raises:
        ClusterError: a binary is missing or a component did not become ready; the
            components already started are stopped first.
    """
    workdir.mkdir(parents=True, exist_ok=True)
    port = free_port()
    url = f"https://127.0.0.1:{port}"
    kubeconfig = workdir / "kubeconfig"
    kubeconfig.write_text(kubeconfig_yaml(url, ADMIN_TOKEN))
    os.chmod(kubeconfig, 0o600)
    cluster = LocalCluster(url=url, kubeconfig=kubeconfig, workdir=workdir, detach=detach)
    deadline = time.monotonic() + timeout
    try:
        etcd = _etcd(cluster)
        # Pod Security, ResourceQuota, LimitRange, ServiceAccount, ... admission are on
        # by default. Without controllers no token controller runs, and ServiceAccount
        # admission would wait for it.
        extra = (
            ["--authorization-mode", "Node,RBAC"]
            if controllers
            else [
                "--authorization-mode",
                "AlwaysAllow",
                "--disable-admission-plugins",
                "ServiceAccount",
            ]
        )
        _apiserver(cluster, etcd, port, extra)
        _wait(
            "kube-apiserver", lambda: _get(f"{url}/readyz", ADMIN_TOKEN) == 200, cluster, deadline
        )
        if controllers:
            _controllers(cluster)
            _wait(
                "kube-controller-manager",
                lambda: _default_service_account_ready(cluster),
                cluster,
                deadline,
            )
    except BaseException:
        stop_cluster(cluster)
        raise
    return cluster


def stop_cluster(cluster: LocalCluster) -> None:
    """Stop every component (SIGTERM, then SIGKILL after 20 s), newest first."""
    _stop(cluster.processes.values())
    (cluster.workdir / "pids.json").unlink(missing_ok=True)


def stop_detached(workdir: Path) -> list[str]:
    """Stop the components a detached cluster recorded in `workdir/pids.json`, newest
    first, each before the next (kube-apiserver before etcd: an API server whose etcd
    is gone hangs until it is killed).

    Returns the names of the components that were still running.
    """
    pids_file = workdir / "pids.json"
    if not pids_file.is_file():
        return []
    pids: dict[str, int] = json.loads(pids_file.read_text())
    stopped = []
    for name, pid in reversed(list(pids.items())):
        if not _alive(pid):
            continue
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGTERM)
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline and _alive(pid):
            time.sleep(0.1)
        with contextlib.suppress(ProcessLookupError):
            if _alive(pid):
                os.kill(pid, signal.SIGKILL)
        stopped.append(name)
    pids_file.unlink()
    return stopped


def _alive(pid: int) -> bool:
    """True while `pid` runs; a zombie (exited, not yet reaped by its parent) is gone."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


@contextlib.contextmanager
def running_cluster(
    workdir: Path, *, controllers: bool = True, timeout: float = 180
) -> Iterator[LocalCluster]:
    """`start_cluster` as a context manager: every process is stopped on exit."""
    cluster = start_cluster(workdir, controllers=controllers, timeout=timeout)
    try:
        yield cluster
    finally:
        stop_cluster(cluster)


def _stop(processes: Iterable[subprocess.Popen[bytes]]) -> None:
    """Stop `processes` newest first, each before the next (SIGTERM, SIGKILL after 20 s)."""
    for process in reversed(list(processes)):
        process.terminate()
        with contextlib.suppress(subprocess.TimeoutExpired):
            process.wait(timeout=20)
        if process.poll() is None:
            process.kill()
            process.wait(timeout=10)
