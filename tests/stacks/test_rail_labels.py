"""Rail node labels select the rail networks, in every example stack.

The cluster side (`stacks.compose.node_group_args` -> kubelet `--node-labels`, one
`rail.gpu-caas.io/<id>` label per rail a host is on) and the network side
(`stacks.platform_gpu_network.rail_networks` -> each rail's nv-ipam `IPPool` node
selector) are built independently from the config. A host must get exactly the IP pools
of the rails it is on: on rail-optimized fabrics (DGX/HGX, GB200) that is every rail.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import yaml

from components.cluster.labels import node_labels
from components.gpu.network_operator import ip_pool_spec
from stacks import compose, platform_gpu_network
from stacks.config import parse_tenant
from tests.support.selectors import node_selector_matches

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = sorted(
    path
    for path in ROOT.glob("Pulumi.*.yaml")
    if "gpu-caas:tenant" in (yaml.safe_load(path.read_text()) or {}).get("config", {})
)


def _with_placeholder_secrets(value: Any) -> Any:
    if isinstance(value, dict):
        if set(value) == {"secure"}:
            return "placeholder-secret"
        return {k: _with_placeholder_secrets(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_with_placeholder_secrets(v) for v in value]
    return value


@pytest.mark.parametrize("path", EXAMPLES, ids=lambda p: p.name)
def test_each_joined_host_is_in_the_ip_pool_of_every_rail_it_is_on(path: Path) -> None:
    raw = yaml.safe_load(path.read_text())["config"]["gpu-caas:tenant"]
    config = parse_tenant(json.dumps(_with_placeholder_secrets(raw)))  # SSH keys needed
    rails = platform_gpu_network.rail_networks(config.gpu.network)
    checked = 0
    for group in config.host_node_groups:
        args = compose.node_group_args(config, group)
        for host in args.hosts:
            labels = node_labels(
                tenant=args.cluster_name, node_group=args.group_name, host=host, extra=args.labels
            )
            in_pools = {
                r.rail
                for r in rails
                if node_selector_matches(ip_pool_spec(r)["nodeSelector"], labels)
            }
            assert in_pools == set(config.host_rails(config.host(host.name))), host.name
            checked += bool(in_pools)
    if config.gpu.network.enabled:
        assert checked, f"{path.name}: no host is on a rail"
