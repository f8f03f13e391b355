"""The stand-ins a tenant stack talks to besides the cluster, started together.

For one example stack on a local cluster: the chart mirror (stand-in charts, https
and OCI), one fake SSH host per inventory host (`sandbox.fake_hosts`), and for hosted
control planes Kamaji's controller (`sandbox.tenant.KamajiStandIn`, with the Kamaji
CRDs installed on the management cluster, as the provider's Kamaji install would have
them). `prepare_stack` then points the stack's config at all of them.

Used by the live tests (in-process) and by `make sandbox` (in a background process).
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from sandbox.chart_mirror import ChartMirror
from sandbox.cluster import ClusterError, LocalCluster
from sandbox.fake_hosts import FakeHosts
from sandbox.nodes import SimulatedNode, simulated_nodes
from sandbox.standin_charts import all_charts, build_standin_charts
from sandbox.tenant import KamajiStandIn, add_nodes, configure_stack
from sandbox.upstream_copies import crds_root
from sandbox.workspace import StackWorkspace
from stacks.config import ControlPlaneBackend, TenantConfig
from stacks.config.loader import CONFIG_KEY

KAMAJI_CRDS = (
    "kamaji/kamaji.clastix.io_tenantcontrolplanes.yaml",
    "kamaji/kamaji.clastix.io_datastores.yaml",
)
"""On a hosted tenant's management cluster: the provider runs Kamaji."""
KARPENTER_CRDS = (
    "karpenter/v1.14.1/karpenter.sh_nodepools.yaml",
    "karpenter/v1.14.1/karpenter.sh_nodeclaims.yaml",
    "karpenter/v1.14.1/karpenter.sh_nodeoverlays.yaml",
)
"""On a tenant cluster whose provider runs Karpenter itself (`autoscaling.controller.
install: false`, the default): the stack only creates NodePools."""


@dataclass
class Services:
    """What runs beside the cluster for one stack."""

    cluster: LocalCluster
    config: TenantConfig
    mirror: ChartMirror
    hosts: FakeHosts | None
    kamaji: KamajiStandIn | None
    nodes: list[SimulatedNode]
    """Every node the tenant will have (the hosts' register when they join)."""


@contextlib.contextmanager
def chart_mirror(workdir: Path) -> Iterator[ChartMirror]:
    """A mirror serving a stand-in of every chart in components/versions.py."""
    built = build_standin_charts(all_charts(), workdir / "charts")
    with ChartMirror(built, workdir) as mirror:
        yield mirror


def provider_crds(config: TenantConfig) -> tuple[str, ...]:
    """CRDs (paths under ../shared/crds) the provider's own installs bring to the
    clusters this stack uses, beyond what the stack installs itself."""
    crds: tuple[str, ...] = ()
    if config.backend is ControlPlaneBackend.HOSTED:
        crds += KAMAJI_CRDS
    autoscaling = config.services.autoscaling
    if autoscaling.enabled and not autoscaling.controller.install:
        crds += KARPENTER_CRDS
    return crds


def install_crds(cluster: LocalCluster, paths: tuple[str, ...], timeout: float = 60) -> None:
    """Apply CRDs from ../shared/crds and wait until they are Established.

    Polls the condition instead of `kubectl wait`: right after the apply a CRD's
    `status.conditions` can still be null, which kubectl 1.32's wait reports as an
    error instead of waiting.
    """
    root = crds_root()
    names = []
    for path in paths:
        done = cluster.kubectl("apply", "--server-side", "-f", str(root / path), "-o", "name")
        if done.returncode != 0:
            raise ClusterError(f"{path}: {done.stderr.strip()}")
        names += done.stdout.split()
    established = "jsonpath={.status.conditions[?(@.type=='Established')].status}"
    deadline = time.monotonic() + timeout
    for name in names:
        while cluster.kubectl("get", name, "-o", established).stdout.strip() != "True":
            if time.monotonic() > deadline:
                raise ClusterError(f"{name} is not Established after {timeout:.0f}s")
            time.sleep(0.2)


@contextlib.contextmanager
def stack_services(
    cluster: LocalCluster, config: TenantConfig, mirror: ChartMirror
) -> Iterator[Services]:
    """Nodes, fake hosts and Kamaji for `config` on `cluster`; stopped on exit.

    Nodes of inventory hosts are registered by their fake host when the stack joins
    it (kubelet's job); the others (autoscaled groups, ISV clusters) are added now.
    """
    nodes = simulated_nodes(config)
    hosted = {h.name for h in config.hosts}
    bootstrapped = config.backend is ControlPlaneBackend.KUBEADM or any(
        g.hosts for g in config.node_groups
    )
    with contextlib.ExitStack() as stack:
        hosts = None
        if bootstrapped and hosted:
            hosts = stack.enter_context(
                FakeHosts(
                    cluster,
                    [h.name for h in config.hosts],
                    {n.name: n for n in nodes},
                    cluster.kubeconfig.read_text(),
                )
            )
            add_nodes(cluster, config, only=[n for n in nodes if n.name not in hosted])
        else:
            add_nodes(cluster, config)
        install_crds(cluster, provider_crds(config))
        kamaji = None
        if config.backend is ControlPlaneBackend.HOSTED:
            kamaji = stack.enter_context(KamajiStandIn(cluster, cluster.kubeconfig.read_text()))
        yield Services(cluster, config, mirror, hosts, kamaji, nodes)


@dataclass(frozen=True)
class Targets:
    """Where a stack's config must point, as plain data (JSON for `make sandbox`)."""

    mirrors: dict[str, Any]
    """The chart mirror's `mirrors:` block."""
    host_endpoints: dict[str, tuple[str, int]]
    """Inventory host name -> its fake host's loopback address and SSH port."""
    trust_bundle: str
    """CA bundle (system CAs + the mirror's CA) for SSL_CERT_FILE."""

    @classmethod
    def of(cls, services: Services) -> Targets:
        """The targets of running services."""
        hosts = services.hosts
        return cls(
            mirrors=services.mirror.mirrors_config(),
            host_endpoints=(
                {h.name: (h.address, h.port) for h in hosts.hosts} if hosts is not None else {}
            ),
            trust_bundle=services.mirror.trust_env({})["SSL_CERT_FILE"],
        )


def point_hosts(
    hosts: list[dict[str, Any]], endpoints: dict[str, tuple[str, int]]
) -> list[dict[str, Any]]:
    """`hosts` of a stack file with each address and SSH port set to its fake host."""
    pointed = []
    for host in hosts:
        address, port = endpoints[host["name"]]
        pointed.append({**host, "address": address, "ssh": {**host["ssh"], "port": port}})
    return pointed


def prepare_stack(
    workspace: StackWorkspace, config: TenantConfig, cluster: LocalCluster, targets: Targets
) -> None:
    """Point an `init`ed stack at the cluster, the chart mirror and the fake hosts."""
    configure_stack(workspace, config, cluster, targets.mirrors)
    if targets.host_endpoints:
        document: dict[str, Any] = yaml.safe_load(workspace.stack_file_path.read_text())
        hosts = document["config"][CONFIG_KEY]["hosts"]
        pointed = point_hosts(hosts, targets.host_endpoints)
        workspace.edit_config({f"{CONFIG_KEY}.hosts": pointed})
