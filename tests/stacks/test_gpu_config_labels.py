"""Node labels select the GPU Operator's per-node-group configs, in every example stack.

The cluster side (`stacks.compose.node_group_labels`, what kubelet sets at join and
what a Karpenter NodePool sets) and the GPU side (`stacks.platform_gpu` ->
`components/gpu/gpu_operator.py`) are built independently from the config; a node whose
`nvidia.com/device-plugin.config` or `nvidia.com/mig.config` value is not a key of the
ConfigMap the operator reads silently falls back to (or errors on) the default config.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import yaml

from components import naming
from components.cluster.labels import node_labels
from components.gpu.gpu_operator import (
    DEVICE_PLUGIN_CONFIG_MAP,
    MIG_CONFIG_MAP,
    gpu_node_labels,
    render_device_plugin_config_map,
    render_gpu_operator_values,
    render_mig_config,
)
from stacks import compose, platform_gpu
from stacks.config import TenantConfig, load_stack_file, parse_tenant

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = sorted(
    path
    for path in ROOT.glob("Pulumi.*.yaml")
    # A stack file without a tenant is not an example (nothing to label).
    if "gpu-caas:tenant" in (yaml.safe_load(path.read_text()) or {}).get("config", {})
)
SELECTORS = (naming.LABEL_DEVICE_PLUGIN_CONFIG, naming.LABEL_MIG_CONFIG)


def test_the_examples_are_found() -> None:
    assert len(EXAMPLES) >= 4, EXAMPLES


def _operator_keys(config: TenantConfig) -> dict[str, set[str]]:
    """Label key -> keys of the ConfigMap the GPU Operator reads for it."""
    settings = platform_gpu.gpu_operator_settings(config)
    values = render_gpu_operator_values(settings, compose.mirrors(config))
    plugin, mig = values["devicePlugin"]["config"], values["migManager"]["config"]
    # The values point the operator at the ConfigMaps the component renders.
    assert plugin["name"] == DEVICE_PLUGIN_CONFIG_MAP
    assert mig["name"] == MIG_CONFIG_MAP
    plugin_keys = set(render_device_plugin_config_map(settings.node_groups))
    mig_keys = set(render_mig_config(settings.node_groups)["mig-configs"])
    # Unlabelled GPU nodes get the `default` entries: they must exist too.
    assert plugin["default"] in plugin_keys
    assert mig["default"] in mig_keys
    return {naming.LABEL_DEVICE_PLUGIN_CONFIG: plugin_keys, naming.LABEL_MIG_CONFIG: mig_keys}


@pytest.mark.parametrize("path", EXAMPLES, ids=lambda p: p.name)
def test_node_labels_are_keys_of_the_operator_config_maps(path: Path) -> None:
    config = load_stack_file(path)
    keys = _operator_keys(config)
    gpu_groups = {g.name: g for g in platform_gpu.node_group_gpus(config)}
    assert any(g.gpu_model for g in gpu_groups.values()), "an example without GPUs?"
    for group in config.node_groups:
        labels = compose.node_group_labels(config, group)
        operator_side = gpu_node_labels(gpu_groups[group.name])
        # Both sides agree on the selector labels of the group...
        assert {k: labels[k] for k in SELECTORS if k in labels} == operator_side, group.name
        if gpu_groups[group.name].gpu_model is None:
            assert not set(SELECTORS) & set(labels), group.name
            continue
        # ...and every value names an entry of the ConfigMap the operator reads.
        for key in SELECTORS:
            assert labels[key] in keys[key], (group.name, key, labels[key])
        mig = bool(gpu_groups[group.name].mig_layout)
        expected_mig = naming.gpu_config_name(group.name) if mig else naming.MIG_CONFIG_DISABLED
        assert labels[naming.LABEL_MIG_CONFIG] == expected_mig, group.name


def _with_placeholder_secrets(value: Any) -> Any:
    if isinstance(value, dict):
        if set(value) == {"secure"}:
            return "placeholder-secret"
        return {k: _with_placeholder_secrets(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_with_placeholder_secrets(v) for v in value]
    return value


@pytest.mark.parametrize("path", EXAMPLES, ids=lambda p: p.name)
def test_joined_hosts_carry_the_group_selectors(path: Path) -> None:
    """Each joined host's kubelet labels carry the group's selector values."""
    raw = yaml.safe_load(path.read_text())["config"]["gpu-caas:tenant"]
    config = parse_tenant(json.dumps(_with_placeholder_secrets(raw)))  # SSH keys needed
    for group in config.node_groups:
        args = compose.node_group_args(config, group)
        labels = compose.node_group_labels(config, group)
        assert args.mig_config == labels.get(naming.LABEL_MIG_CONFIG), group.name
        assert args.sharing_config == labels.get(naming.LABEL_DEVICE_PLUGIN_CONFIG), group.name
        for host in args.hosts:
            host_labels = node_labels(
                tenant=args.cluster_name,
                node_group=args.group_name,
                host=host,
                mig_config=args.mig_config,
                sharing_config=args.sharing_config,
                extra=args.labels,
            )
            for key in SELECTORS:
                assert host_labels.get(key) == labels.get(key), (group.name, host.name, key)
