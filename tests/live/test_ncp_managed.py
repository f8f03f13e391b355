"""ncp-managed (`Pulumi.h100-training.yaml`) on a live local cluster.

The local cluster is the NCP's management cluster: the Kamaji `TenantControlPlane`
is created there for real, the test plays Kamaji's controller (it writes the
admin-kubeconfig Secret and reports Ready), and the stack's readiness gate must pass
on it. The tenant cluster is the same local cluster; the H100 hosts are fake SSH
hosts that join it with the JoinConfiguration the stack renders.
"""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest

from sandbox.chart_mirror import ChartMirror
from tests.live import flavor_checks, placement
from tests.live.conftest import LiveStack, live_stack

pytestmark = [pytest.mark.engine, pytest.mark.live]


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory, mirror: ChartMirror) -> Iterator[LiveStack]:
    with live_stack(tmp_path_factory.mktemp("ncp-managed"), "h100-training", mirror) as stack:
        yield stack


def test_up_through_the_hosted_control_plane(live: LiveStack) -> None:
    flavor_checks.up_succeeds(live)
    config = live.services.config
    tcp = live.cluster.kubectl(
        "get", "tenantcontrolplanes.kamaji.clastix.io", config.name,
        "-n", config.hosted_namespace, "-o", "json",
    )  # fmt: skip
    assert tcp.returncode == 0, tcp.stderr
    spec = json.loads(tcp.stdout)["spec"]
    assert spec["kubernetes"]["version"].lstrip("v") == config.kubernetes.version
    assert live.services.kamaji is not None and live.services.kamaji.served
    flavor_checks.everything_exists(live)


def test_hosts_joined_with_the_configured_labels_and_taints(live: LiveStack) -> None:
    flavor_checks.nodes_match_config(live)


def test_the_scheduler_places_platform_workloads_where_the_model_says(live: LiveStack) -> None:
    """Every one-node platform workload, as deployed, has a node on the real scheduler
    (the system node group of CPU hosts: a hosted tenant has no control-plane nodes)."""
    found = placement.scheduler_agrees_with_the_model(live.cluster, live.services.config)
    deployed = [p for p in found if p.name.endswith("-deployed")]
    assert deployed and all(p.fitting_nodes for p in deployed), live.describe()


def test_no_perpetual_diff(live: LiveStack) -> None:
    flavor_checks.no_changes(live)


def test_no_plaintext_secrets(live: LiveStack) -> None:
    flavor_checks.no_plaintext_secrets(live)


def test_destroy_leaves_nothing(live: LiveStack) -> None:
    flavor_checks.destroy_is_clean(live)
    config = live.services.config
    tcp = live.cluster.kubectl(
        "get", "tenantcontrolplanes.kamaji.clastix.io", "-n", config.hosted_namespace, "-o", "name"
    )
    assert tcp.stdout.strip() == ""
