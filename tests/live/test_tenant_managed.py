"""tenant-managed (`Pulumi.dev.yaml`, `Pulumi.gb200-baremetal.yaml`) on a live local cluster.

These tenants bootstrap their own cluster with kubeadm over SSH. Their inventory hosts
are played by fake SSH hosts (sandbox/fake_hosts.py): `kubeadm init` on the first
control-plane host hands over the local cluster's kubeconfig, and `kubeadm join` on
the other hosts (control-plane joins with the uploaded certificate key in the HA
gb200 tenant) registers their Nodes with exactly the labels and taints of the
JoinConfiguration the stack rendered. Everything after that (the whole platform,
with DPUs, ComputeDomains and IPoIB rails for gb200) is real against the server.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from sandbox.chart_mirror import ChartMirror
from tests.live import flavor_checks, placement
from tests.live.conftest import LiveStack, live_stack

pytestmark = [pytest.mark.engine, pytest.mark.live]


@pytest.fixture(scope="module", params=["dev", "gb200-baremetal"])
def live(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory, mirror: ChartMirror
) -> Iterator[LiveStack]:
    example = str(request.param)
    with live_stack(tmp_path_factory.mktemp(example), example, mirror) as stack:
        yield stack


def test_up(live: LiveStack) -> None:
    flavor_checks.up_succeeds(live)
    flavor_checks.everything_exists(live)


def test_hosts_joined_with_the_configured_labels_and_taints(live: LiveStack) -> None:
    assert live.services.hosts is not None
    config = live.services.config
    first, *others = [h.name for h in config.control_plane_hosts]
    kinds = {(s.host, s.kind) for s in live.services.hosts.sessions}
    assert (first, "init") in kinds
    joined = {host.name for host in config.hosts} - {first}
    assert {host for host, kind in kinds if kind == "join"} == joined
    flavor_checks.nodes_match_config(live)


def test_the_scheduler_places_platform_workloads_where_the_model_says(live: LiveStack) -> None:
    """Every one-node platform workload, as deployed, has a node on the real scheduler;
    with the charts' default tolerations alone some would stay Pending on this tenant's
    tainted control-plane and GPU nodes (issue 15), and the scheduler agrees."""
    found = placement.scheduler_agrees_with_the_model(live.cluster, live.services.config)
    deployed = [p for p in found if p.name.endswith("-deployed")]
    assert deployed and all(p.fitting_nodes for p in deployed), live.describe()
    assert any(not p.fitting_nodes for p in found if p.name.endswith("-default"))


def test_no_perpetual_diff(live: LiveStack) -> None:
    flavor_checks.no_changes(live)


def test_no_plaintext_secrets(live: LiveStack) -> None:
    flavor_checks.no_plaintext_secrets(live)


def test_destroy_resets_hosts_and_leaves_nothing(live: LiveStack) -> None:
    flavor_checks.destroy_is_clean(live)
    assert live.services.hosts is not None
    reset = {s.host for s in live.services.hosts.sessions if s.kind == "reset"}
    assert reset == {host.name for host in live.services.config.hosts}
    nodes = live.cluster.kubectl("get", "nodes", "-o", "name")
    assert nodes.stdout.strip() == "", f"nodes left behind: {nodes.stdout}"
