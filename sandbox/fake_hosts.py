"""Stand-in bare-metal hosts: one SSH server per inventory host, on 127.0.0.1.

The stacks bootstrap hosts over SSH (`command:remote:Command`): containerd mirrors,
`kubeadm init`, bootstrap tokens, `kubeadm join`, `kubeadm reset`. A live test cannot
run kubeadm on this machine, so each inventory host is played by an SSH server
(asyncssh, https://asyncssh.readthedocs.io/) that recognises gpu-caas's scripts by
what they run and answers as the host would:

* `kubeadm init` (config on stdin): registers the control-plane Node named in the
  InitConfiguration and prints the local cluster's admin kubeconfig;
* `kubeadm token create --print-join-command`: prints a join command (plus a
  `--certificate-key` when certificates are uploaded);
* `kubeadm join` (JoinConfiguration on stdin): registers the Node as its kubelet
  would, with exactly the labels and taints of the JoinConfiguration, the capacity
  the device plugins would advertise (`sandbox.nodes`) and, as init does, the kubelet
  version the script checks kubeadm against (`.status.nodeInfo.kubeletVersion`);
* `kubeadm upgrade apply|node` (`components.cluster.upgrade`): refuses a downgrade and
  a skipped minor version like the real script, else sets the Node's kubelet version
  (and kube-proxy version, when it holds one) to the target, as the restarted kubelet
  would report it, and prints `upgraded <version>` (`already at v<version>` when it
  is there);
* `kubeadm reset`: deletes the host's Node;
* a host in `FakeHosts.refuse_joins` fails its join as kubeadm's preflight checks
  would on a broken host (a test of a bring-up where one host fails), without
  registering a Node;
* containerd `certs.d` mirror files: recorded, nothing written.

Anything else fails with "unrecognised script", so a new script cannot pass unseen.
Scripts are never executed. Every session is recorded (`FakeHosts.sessions`) with its
environment variable names and whether stdin was empty (never the values: they hold
secrets).
"""

from __future__ import annotations

import asyncio
import json
import re
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import asyncssh
import yaml

from sandbox.cluster import KWOK_NODE_ANNOTATION, ClusterError, LocalCluster, free_port
from sandbox.nodes import SimulatedNode

JOIN_TOKEN = "abcdef.0123456789abcdef"  # noqa: S105 - a fake host's bootstrap token
CA_HASH = "sha256:" + "0" * 64
CERTIFICATE_KEY = "1" * 64

_CHECKED_VERSION = re.compile(r'\[ "\$have" = \'?v(\d+\.\d+\.\d+)')
"""The version init and join scripts check `kubeadm version` against
(`components.cluster.kubeadm._version_check`)."""
_UPGRADE_TARGET = re.compile(r"^want=v(\d+\.\d+\.\d+)$", re.MULTILINE)
"""The target version of an upgrade script (`components.cluster.upgrade`)."""
_VERSION = re.compile(r"^v(\d+)\.(\d+)\.(\d+)$")


_Answer = Callable[[str, str, str], tuple[int, str, str]]
"""A fake host's answer to a script: (host, stdin, command) -> (exit status, stdout, stderr)."""


@dataclass
class Session:
    """One SSH command a fake host answered."""

    host: str
    kind: str
    exit_status: int
    env_names: tuple[str, ...]
    stdin_empty: bool


@dataclass
class FakeHost:
    """One inventory host: its name and the loopback address and port of its SSH server
    (each host its own address in 127.0.0.0/8, as inventory addresses are unique)."""

    name: str
    address: str
    port: int


def loopback_address(index: int) -> str:
    """The `index`-th host address: 127.0.1.1, 127.0.1.2, ... (127.0.0.1 is the cluster's)."""
    if not 0 <= index < 250 * 250:
        raise ValueError(f"no loopback address for host #{index}")
    return f"127.0.{1 + index // 250}.{1 + index % 250}"


def _kubelet_labels(registration: Mapping[str, Any]) -> dict[str, str]:
    args = registration.get("kubeletExtraArgs") or []
    for arg in args:
        if arg.get("name") == "node-labels":
            pairs = [pair.split("=", 1) for pair in str(arg.get("value", "")).split(",") if pair]
            return {key: value for key, value in pairs}
    return {}


def checked_version(command: str) -> str | None:
    """The Kubernetes version (`1.34.2`) an init or join script installs, i.e. the
    version its kubelet reports once joined; None when the script checks none."""
    match = _CHECKED_VERSION.search(command)
    return match[1] if match else None


def upgrade_target(command: str) -> str:
    """The version (`1.35.1`) an upgrade script upgrades to.

    Raises:
        ValueError: the script names no target.
    """
    match = _UPGRADE_TARGET.search(command)
    if match is None:
        raise ValueError("no target version in the upgrade script")
    return match[1]


def upgrade_refusal(current: str, target: str) -> str | None:
    """Why the upgrade script refuses to take a kubelet at `current` (`v1.34.2`, as
    `.status.nodeInfo.kubeletVersion`) to `target` (`1.35.1`), as it says it; None
    when it does not (one minor version up, a patch, or already there).

    kubeadm supports neither downgrades nor skipped minor versions
    (https://kubernetes.io/docs/tasks/administer-cluster/kubeadm/kubeadm-upgrade/).
    """
    have = _VERSION.match(current)
    want = _VERSION.match(f"v{target}")
    if want is None:
        return f"{target!r} is not a Kubernetes version"
    if have is None:
        return f"cannot read the version of the kubelet ({current!r})"
    have_v = tuple(int(part) for part in have.groups())
    want_v = tuple(int(part) for part in want.groups())
    if have_v > want_v:
        return f"the kubelet is at {current}, newer than v{target}: downgrades are not supported"
    if have_v[:2] < (want_v[0], want_v[1] - 1):
        return (
            f"the kubelet is at {current}: upgrade one minor version at a time, next to "
            f"{have_v[0]}.{have_v[1] + 1}"
        )
    return None


def _documents(text: str) -> list[dict[str, Any]]:
    return [doc for doc in yaml.safe_load_all(text) if isinstance(doc, dict)]


def _registration(stdin: str, kind: str) -> dict[str, Any]:
    for document in _documents(stdin):
        if document.get("kind") == kind:
            registration: dict[str, Any] = document.get("nodeRegistration") or {}
            return registration
    raise ValueError(f"no {kind} with nodeRegistration on stdin")


class FakeHosts:
    """SSH servers for a tenant's inventory hosts, serving from a background thread.

    Args:
        cluster: the local cluster the hosts "join" (Nodes are created there).
        hosts: inventory host names.
        simulated: the tenant's simulated nodes by name (capacity and GFD labels of a
            joining host come from there, as its device plugins and GFD would add them).
        kubeconfig: what `kubeadm init` prints (the local cluster's admin kubeconfig).
    """

    def __init__(
        self,
        cluster: LocalCluster,
        hosts: list[str],
        simulated: Mapping[str, SimulatedNode],
        kubeconfig: str,
    ) -> None:
        self.cluster = cluster
        addresses = [loopback_address(i) for i in range(len(hosts))]
        self.hosts = [
            FakeHost(name, address, free_port(address))
            for name, address in zip(hosts, addresses, strict=True)
        ]
        self.simulated = simulated
        self.kubeconfig = kubeconfig
        self.sessions: list[Session] = []
        self.refuse_joins: set[str] = set()
        """Hosts whose `kubeadm join` fails (preflight), until removed from the set."""
        self._loop = asyncio.new_event_loop()
        self._servers: list[asyncssh.SSHAcceptor] = []
        self._thread = threading.Thread(
            target=self._loop.run_forever, name="fake-hosts", daemon=True
        )
        self._lock = threading.Lock()

    def endpoint(self, host: str) -> tuple[str, int]:
        """The SSH address and port of `host`."""
        found = next(h for h in self.hosts if h.name == host)
        return found.address, found.port

    def __enter__(self) -> FakeHosts:
        self._thread.start()
        key = asyncssh.generate_private_key("ssh-ed25519")
        for host in self.hosts:
            future = asyncio.run_coroutine_threadsafe(self._serve(host, key), self._loop)
            self._servers.append(future.result(timeout=30))
        return self

    def __exit__(self, *exc: object) -> None:
        for server in self._servers:
            self._loop.call_soon_threadsafe(server.close)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=30)

    async def _serve(self, host: FakeHost, key: asyncssh.SSHKey) -> asyncssh.SSHAcceptor:
        def handler(process: asyncssh.SSHServerProcess[str]) -> Any:
            return self._handle(host.name, process)

        return await asyncssh.create_server(
            _AcceptAnyKey,
            host.address,
            host.port,
            server_host_keys=[key],
            process_factory=handler,
            encoding="utf-8",
        )

    async def _handle(self, host: str, process: asyncssh.SSHServerProcess[str]) -> None:
        command = process.command or ""
        stdin = await process.stdin.read() if "cat >" in command or "cat > " in command else ""
        kind, answer = self._classify(command)
        try:
            status, out, err = await asyncio.get_running_loop().run_in_executor(
                None, answer, host, stdin, command
            )
        except Exception as error:  # noqa: BLE001 - report every failure to the client
            status, out, err = 1, "", f"fake host {host}: {error}"
        with self._lock:
            self.sessions.append(
                Session(host, kind, status, tuple(sorted(process.env)), not stdin.strip())
            )
        if out:
            process.stdout.write(out if out.endswith("\n") else out + "\n")
        if err:
            process.stderr.write(err + "\n")
        process.exit(status)

    def _classify(
        self, command: str
    ) -> tuple[str, Callable[[str, str, str], tuple[int, str, str]]]:
        if "kubeadm upgrade apply" in command or "kubeadm upgrade node" in command:
            return "upgrade", self._upgrade
        if "kubeadm init --config" in command:
            return "init", self._init
        if "kubeadm token create" in command:
            return "join-token", self._join_token
        if "kubeadm join --config" in command:
            return "join", self._join
        if "kubeadm reset" in command:
            return "reset", self._reset
        if "certs.d" in command:
            return "registry-mirrors", lambda *_: (0, "", "")
        return "unrecognised", lambda host, *_: (1, "", f"fake host {host}: unrecognised script")

    def _register(
        self,
        host: str,
        registration: Mapping[str, Any],
        control_plane: bool,
        version: str | None,
    ) -> None:
        name = str(registration.get("name") or host)
        simulated = self.simulated.get(name)
        labels = _kubelet_labels(registration)
        if simulated is not None:
            # What GFD and kubelet add at run time; never what the stack chose.
            labels = {**{k: v for k, v in simulated.labels.items() if _runtime_label(k)}, **labels}
        labels.setdefault("kubernetes.io/hostname", name)
        if control_plane:
            labels["node-role.kubernetes.io/control-plane"] = ""
        node: dict[str, object] = {
            "apiVersion": "v1",
            "kind": "Node",
            "metadata": {
                "name": name,
                "labels": labels,
                "annotations": {KWOK_NODE_ANNOTATION: "fake"},
            },
            "spec": {"taints": list(registration.get("taints") or [])},
        }
        self.cluster.apply([node])
        capacity = dict(simulated.capacity) if simulated is not None else {}
        status: dict[str, Any] = {}
        if capacity:
            status.update(capacity=capacity, allocatable=capacity)
        if version is not None:
            status["nodeInfo"] = {"kubeletVersion": f"v{version}"}
        if status:
            self._patch_status(name, status)

    def _patch_status(self, name: str, status: Mapping[str, Any]) -> None:
        """Merge `status` into Node `name`'s, once kwok has initialized it.

        kwok's `node-initialize` Stage writes a whole status (capacity, nodeInfo) from
        the Node it last saw, keeping the values already set: a patch that lands
        before kwok has seen it may be overwritten, one after it stays.
        """
        ready = self.cluster.kubectl(
            "wait", f"node/{name}", "--for=condition=Ready", "--timeout=60s", timeout=90
        )
        if ready.returncode != 0:
            raise ClusterError(f"kwok did not mark node {name} Ready: {ready.stderr.strip()}")
        done = self.cluster.kubectl(
            "patch", "node", name, "--subresource", "status", "--type", "merge",
            "-p", json.dumps({"status": status}),
        )  # fmt: skip
        if done.returncode != 0:
            raise ClusterError(done.stderr.strip())

    def _init(self, host: str, stdin: str, command: str) -> tuple[int, str, str]:
        registration = _registration(stdin, "InitConfiguration")
        self._register(host, registration, control_plane=True, version=checked_version(command))
        return 0, self.kubeconfig, "[init] fake host: control plane is the local cluster"

    def _join_token(self, _host: str, _stdin: str, command: str) -> tuple[int, str, str]:
        server = self.cluster.url.removeprefix("https://")
        join = (
            f"kubeadm join {server} --token {JOIN_TOKEN} --discovery-token-ca-cert-hash {CA_HASH}"
        )
        if "upload-certs" in command:
            join += f" --certificate-key {CERTIFICATE_KEY}"
        return 0, join, ""

    def _join(self, host: str, stdin: str, command: str) -> tuple[int, str, str]:
        if host in self.refuse_joins:
            preflight = (
                "[preflight] Some fatal errors occurred:\n"
                "\t[ERROR Port-10250]: Port 10250 is in use\n"
                f"gpu-caas: {host}: kubeadm join failed its preflight checks (fake host)"
            )
            return 1, "", preflight
        documents = _documents(stdin)
        control_plane = any("controlPlane" in doc for doc in documents)
        registration = _registration(stdin, "JoinConfiguration")
        self._register(host, registration, control_plane, version=checked_version(command))
        return 0, "joined", ""

    def _upgrade(self, host: str, _stdin: str, command: str) -> tuple[int, str, str]:
        """The kubelet of `host` (its Node) moves to the script's target version."""
        target = upgrade_target(command)
        found = self.cluster.kubectl("get", "node", host, "-o", "json")
        if found.returncode != 0 and "NotFound" in found.stderr:
            return 1, "", f"gpu-caas: {host}: read the installed versions: never joined"
        if found.returncode != 0:
            raise ClusterError(found.stderr.strip())
        info: dict[str, str] = json.loads(found.stdout).get("status", {}).get("nodeInfo", {})
        current = info.get("kubeletVersion", "")
        if current == f"v{target}":
            return 0, f"already at v{target}", ""
        refusal = upgrade_refusal(current, target)
        if refusal is not None:
            return 1, "", f"gpu-caas: {host}: check the version skew: {refusal}"
        node_info = {"kubeletVersion": f"v{target}"}
        if _VERSION.match(info.get("kubeProxyVersion", "")):
            node_info["kubeProxyVersion"] = f"v{target}"
        self._patch_status(host, {"nodeInfo": node_info})
        return 0, f"upgraded {target}", f"gpu-caas: {host}: kubelet v{target} (fake host)"

    def _reset(self, host: str, _stdin: str, _command: str) -> tuple[int, str, str]:
        done = self.cluster.kubectl("delete", "node", host, "--ignore-not-found")
        return done.returncode, "", done.stderr.strip()


_KUBELET_LABELS = ("kubernetes.io/os", "kubernetes.io/arch")
_RUNTIME_LABEL_PREFIXES = ("nvidia.com/gpu.", "nvidia.com/mig.capable", "nvidia.com/mig.strategy")


def _runtime_label(key: str) -> bool:
    """Labels GPU Feature Discovery or kubelet add after registration."""
    if key in ("nvidia.com/gpu.product",):
        return False  # ours (kubelet --node-labels) must match GFD's; keep the stack's
    return key.startswith(_RUNTIME_LABEL_PREFIXES) or key in (
        "kubernetes.io/os",
        "kubernetes.io/arch",
    )


class _AcceptAnyKey(asyncssh.SSHServer):
    """Any user with any public key may log in (the client's key is still required)."""

    def begin_auth(self, username: str) -> bool:
        return True

    def public_key_auth_supported(self) -> bool:
        return True

    def validate_public_key(self, username: str, key: asyncssh.SSHKey) -> bool:
        return True
