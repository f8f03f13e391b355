"""Bring an example tenant stack up on a local cluster: nodes, mirror, config, Kamaji.

The pieces the live tests and `make sandbox` share:

* `add_nodes(cluster, config)`: the tenant's simulated nodes (`sandbox.nodes`), applied
  and awaited Ready;
* `configure_stack(workspace, config, cluster, mirror)`: point the stack at the local
  cluster (a secret kubeconfig, as a user would set it) and its charts at the mirror;
* `KamajiStandIn`: plays Kamaji's controller for hosted control planes: when a
  `TenantControlPlane` appears it writes the `<name>-admin-kubeconfig` Secret and
  reports the control plane Ready, as Kamaji does
  (https://kamaji.clastix.io/reference/api/#tenantcontrolplanestatus).
"""

from __future__ import annotations

import base64
import contextlib
import json
import threading
from collections.abc import Mapping

import yaml

from sandbox.cluster import ClusterError, LocalCluster
from sandbox.nodes import SimulatedNode, simulated_nodes
from sandbox.workspace import StackWorkspace
from stacks.config import ControlPlaneBackend, Flavor, TenantConfig
from stacks.config.loader import CONFIG_KEY


def add_nodes(
    cluster: LocalCluster,
    config: TenantConfig,
    *,
    autoscaled: int = 1,
    only: list[SimulatedNode] | None = None,
    timeout: int = 120,
) -> list[SimulatedNode]:
    """Create the tenant's simulated nodes (or `only` these) and wait until kwok
    reports them Ready. `ClusterError` when the server refuses one or it stays NotReady."""
    nodes = simulated_nodes(config, autoscaled=autoscaled) if only is None else only
    if not nodes:
        return nodes
    manifests = [node.manifest() for node in nodes]
    cluster.apply([{k: v for k, v in m.items() if k != "status"} for m in manifests])
    # Capacity is status: the device plugins would patch it; so do we.
    for node, manifest in zip(nodes, manifests, strict=True):
        patched = cluster.kubectl(
            "patch", "node", node.name, "--subresource", "status", "--type", "merge",
            "-p", json.dumps({"status": manifest["status"]}),
        )  # fmt: skip
        if patched.returncode != 0:
            raise ClusterError(f"node {node.name}: {patched.stderr.strip()}")
    ready = cluster.kubectl(
        "wait", "--for", "condition=Ready", f"--timeout={timeout}s",
        *[f"node/{node.name}" for node in nodes],
        timeout=timeout + 30,
    )  # fmt: skip
    if ready.returncode != 0:
        raise ClusterError(f"simulated nodes not Ready: {ready.stderr.strip()}\n{cluster.logs()}")
    return nodes


def kubeconfig_secret_path(config: TenantConfig) -> str | None:
    """The config key path of the kubeconfig the stack reaches its cluster with.

    `controlPlane.external.kubeconfig` (isv-managed) or
    `controlPlane.hosted.managementKubeconfig` (hosted); None for kubeadm, which
    bootstraps its own.
    """
    if config.flavor is Flavor.ISV_MANAGED:
        return f"{CONFIG_KEY}.controlPlane.external.kubeconfig"
    if config.backend is ControlPlaneBackend.HOSTED:
        return f"{CONFIG_KEY}.controlPlane.hosted.managementKubeconfig"
    return None


def configure_stack(
    workspace: StackWorkspace,
    config: TenantConfig,
    cluster: LocalCluster,
    mirrors: Mapping[str, object],
) -> None:
    """Point the workspace's stack at `cluster` and its charts at the mirror.

    Args:
        workspace: a workspace whose stack was `init`ed.
        config: the stack's tenant config.
        cluster: the local cluster (the tenant's, or the management cluster).
        mirrors: the `mirrors.chartRepositories` / `defaultChartRepository` block of the
            local chart mirror; merged over the stack's own mirrors (image registries
            are kept).
    """
    document = yaml.safe_load(workspace.stack_file_path.read_text())
    current = dict(document["config"][CONFIG_KEY].get("mirrors") or {})
    current.update(mirrors)
    workspace.edit_config({f"{CONFIG_KEY}.mirrors": current})
    path = kubeconfig_secret_path(config)
    if path is not None:
        workspace.set_secret(path, cluster.kubeconfig.read_text())


class KamajiStandIn:
    """Plays Kamaji's controller on a management cluster, in a background thread.

    For every `TenantControlPlane` it writes the `<name>-admin-kubeconfig` Secret
    (key `admin.conf`, the tenant cluster's admin kubeconfig) and sets
    `status.kubernetesResources.version` to `{status: Ready, version: <spec version>}`,
    which is what gpu-caas's readiness and upgrade gates wait for. The tenant cluster
    may be the management cluster itself.
    """

    def __init__(self, management: LocalCluster, tenant_kubeconfig: str, interval: float = 1):
        self.management = management
        self.tenant_kubeconfig = tenant_kubeconfig
        self.interval = interval
        self.served: set[tuple[str, str, str]] = set()
        """(namespace, name, spec version) of every TenantControlPlane served."""
        self.errors: list[str] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="kamaji-stand-in", daemon=True)

    def __enter__(self) -> KamajiStandIn:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(timeout=30)

    def _loop(self) -> None:
        while not self._stop.wait(self.interval):
            with contextlib.suppress(Exception):
                self.reconcile()

    def reconcile(self) -> None:
        """Serve every TenantControlPlane not served yet (one pass)."""
        listed = self.management.kubectl(
            "get", "tenantcontrolplanes.kamaji.clastix.io", "-A", "-o", "json", timeout=30
        )
        if listed.returncode != 0:
            return  # the CRD may not be installed yet
        for item in json.loads(listed.stdout).get("items", []):
            version = str(item.get("spec", {}).get("kubernetes", {}).get("version", ""))
            key = (item["metadata"]["namespace"], item["metadata"]["name"], version)
            if key not in self.served:
                self._serve(*key)

    def _serve(self, namespace: str, name: str, version: str) -> None:
        secret: dict[str, object] = {
            "apiVersion": "v1",
            "kind": "Secret",
            "metadata": {"name": f"{name}-admin-kubeconfig", "namespace": namespace},
            "data": {"admin.conf": base64.b64encode(self.tenant_kubeconfig.encode()).decode()},
        }
        try:
            self.management.apply([secret])
        except ClusterError as error:
            self.errors.append(str(error))
            return
        # Kamaji reports the version it runs; a changed spec version (an upgrade) is
        # served again, as Kamaji rolls the control plane and reports the new one.
        status = {
            "status": {"kubernetesResources": {"version": {"status": "Ready", "version": version}}}
        }
        patched = self.management.kubectl(
            "patch", "tenantcontrolplanes.kamaji.clastix.io", name, "-n", namespace,
            "--subresource", "status", "--type", "merge", "-p", json.dumps(status),
        )  # fmt: skip
        if patched.returncode == 0:
            self.served.add((namespace, name, version))
        else:
            self.errors.append(patched.stderr.strip())
