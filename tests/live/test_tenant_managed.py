"""tenant-managed (`Pulumi.dev.yaml`) on a live local cluster.

The dev tenant bootstraps its own cluster with kubeadm over SSH. Its inventory hosts
are played by fake SSH hosts (sandbox/fake_hosts.py): `kubeadm init` on cp-0 hands
over the local cluster's kubeconfig, and `kubeadm join` on the GPU hosts registers
their Nodes with exactly the labels and taints of the JoinConfiguration the stack
rendered. Everything after that (the whole platform) is real against the server.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from sandbox.chart_mirror import ChartMirror
from tests.live import flavor_checks
from tests.live.conftest import LiveStack, live_stack

pytestmark = [pytest.mark.engine, pytest.mark.live]


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory, mirror: ChartMirror) -> Iterator[LiveStack]:
    with live_stack(tmp_path_factory.mktemp("tenant-managed"), "dev", mirror) as stack:
        yield stack


def test_up(live: LiveStack) -> None:
    flavor_checks.up_succeeds(live)
    flavor_checks.everything_exists(live)


def test_hosts_joined_with_the_configured_labels_and_taints(live: LiveStack) -> None:
    assert live.services.hosts is not None
    kinds = sorted({(s.host, s.kind) for s in live.services.hosts.sessions})
    assert ("cp-0", "init") in kinds and ("gpu-0", "join") in kinds and ("gpu-1", "join") in kinds
    flavor_checks.nodes_match_config(live)


def test_no_perpetual_diff(live: LiveStack) -> None:
    flavor_checks.no_changes(live)


def test_no_plaintext_secrets(live: LiveStack) -> None:
    flavor_checks.no_plaintext_secrets(live)


def test_destroy_resets_hosts_and_leaves_nothing(live: LiveStack) -> None:
    flavor_checks.destroy_is_clean(live)
    assert live.services.hosts is not None
    reset = {s.host for s in live.services.hosts.sessions if s.kind == "reset"}
    assert {"gpu-0", "gpu-1", "cp-0"} <= reset
