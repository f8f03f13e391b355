"""The tenant-isolation pack's team rules for soft-shared GPUs, clean and violating.

`soft-shared-gpus-belong-to-one-team`: a NodeGroup whose device-plugin config (the
GPU Operator's ConfigMap, rendered here by the real renderer) time-slices or MPS-shares
its GPUs must register a `team`. `no-tolerations-of-other-teams-gpus`: a workload
outside a team's namespaces must not tolerate the taint of a group dedicated to it.
"""

from __future__ import annotations

from typing import Any

import pytest

from components.gpu.gpu_operator import NodeGroupGpu, Sharing, render_device_plugin_config_map
from components.isolation.tenant_namespaces import LABEL_TEAM
from policies.gpu_caas_policies import tenant_isolation as ti
from tests.policies.helpers import UNKNOWN, run, stack

Resource = tuple[str, str, dict[str, Any]]

GROUPS = (
    NodeGroupGpu("train", "H100-80GB"),
    NodeGroupGpu("notebooks", "H100-80GB", mig_layout={"3g.40gb": 2}),
    NodeGroupGpu("embeddings", "H100-80GB", Sharing("time-slicing", 4, rename_by_default=True)),
    NodeGroupGpu("agents", "H100-80GB", Sharing("mps", 8, rename_by_default=True)),
)


def device_plugin_config() -> Resource:
    """The GPU Operator's device-plugin ConfigMap for `GROUPS`."""
    return (
        ti.CONFIG_MAP,
        "gpu-operator-device-plugin-config",
        {
            "metadata": {"name": "device-plugin-config", "namespace": "gpu-operator"},
            "data": render_device_plugin_config_map(GROUPS),
        },
    )


def node_group(name: str, team: str | None = None) -> Resource:
    props: dict[str, Any] = {"tenant": "acme", "nodeGroup": name, "hosts": []}
    if team is not None:
        props["team"] = team
    return (ti.NODE_GROUP, f"acme-{name}", props)


def namespace(name: str, team: str | None) -> Resource:
    labels = {LABEL_TEAM: team} if team else {}
    return (ti.NAMESPACE, name, {"metadata": {"name": name, "labels": labels}})


def workload(
    resource_type: str, namespace: str, tolerations: list[dict[str, str]], name: str = "w"
) -> Resource:
    spec: dict[str, Any] = {
        "containers": [{"name": "c", "image": "nvcr.io/nvidia/cuda:12"}],
        "tolerations": tolerations,
    }
    if resource_type == POD:
        props: dict[str, Any] = {"spec": spec}
    else:
        props = {"spec": {"template": {"spec": spec}}}
    props["metadata"] = {"name": name, "namespace": namespace}
    return (resource_type, f"{namespace}-{name}", props)


POD = "kubernetes:core/v1:Pod"
DEPLOYMENT = "kubernetes:apps/v1:Deployment"
A_TOLERATION = {"key": LABEL_TEAM, "operator": "Equal", "value": "a", "effect": "NoSchedule"}


def test_both_rules_are_mandatory_stack_policies_of_the_pack() -> None:
    for policy in (ti.soft_shared_gpus_team, ti.no_other_team_tolerations):
        assert policy in ti.POLICIES


@pytest.mark.parametrize(
    ("mode", "group"), [("time-slicing", "embeddings"), ("MPS", "agents")], ids=["ts", "mps"]
)
def test_a_soft_shared_group_without_a_team_fires(mode: str, group: str) -> None:
    resources = [device_plugin_config(), node_group("train"), node_group(group)]
    [message] = run(ti.soft_shared_gpus_team, stack(resources))
    assert f'NodeGroup "{group}" shares its GPUs by {mode}' in message
    assert f'device-plugin config "gpu-caas-{group}"' in message
    assert "no memory or fault isolation" in message and "nodeGroups[].team" in message


@pytest.mark.parametrize(
    "groups",
    [
        [node_group("embeddings", "a"), node_group("agents", "b")],
        # MIG and whole GPUs may be shared between teams.
        [node_group("train"), node_group("notebooks")],
        # A group the device-plugin config does not name (CPU-only) is not soft-shared.
        [node_group("system")],
    ],
    ids=["dedicated", "mig-and-exclusive", "cpu"],
)
def test_groups_that_are_dedicated_or_not_soft_shared_pass(groups: list[Resource]) -> None:
    assert run(ti.soft_shared_gpus_team, stack([device_plugin_config(), *groups])) == []


def test_the_team_label_in_the_labels_output_names_the_team() -> None:
    """What a stack policy sees of gpu-caas' NodeGroup are its outputs: `labels` carries
    the team label even where the outputs do not repeat the `team` prop."""
    labelled = (
        ti.NODE_GROUP,
        "acme-embeddings",
        {"nodeGroup": "embeddings", "labels": {LABEL_TEAM: "a", "gpu-caas.io/tenant": "acme"}},
    )
    assert run(ti.soft_shared_gpus_team, stack([device_plugin_config(), labelled])) == []
    pod = workload(POD, "b", [A_TOLERATION])
    [message] = run(ti.no_other_team_tolerations, stack([labelled, namespace("b", "b"), pod]))
    assert 'dedicated to team "a"' in message


def test_without_a_device_plugin_config_nothing_is_soft_shared() -> None:
    assert run(ti.soft_shared_gpus_team, stack([node_group("embeddings")])) == []


@pytest.mark.parametrize(
    ("document", "mode"),
    [
        ("version: v1\nsharing:\n  timeSlicing:\n    resources: []\n", "time-slicing"),
        ("version: v1\nsharing:\n  mps:\n    resources: []\n", "MPS"),
        ("version: v1\nflags:\n  migStrategy: none\n", None),
        ("version: v1\nsharing: {}\n", None),
        ("not: [valid", None),
        ("- a list", None),
        (None, None),
    ],
    ids=["time-slicing", "mps", "exclusive", "empty-sharing", "bad-yaml", "list", "absent"],
)
def test_soft_sharing_mode(document: str | None, mode: str | None) -> None:
    assert ti.soft_sharing_mode(document) == mode


def team_stack(*workloads: Resource) -> list[Resource]:
    """Team `a` owns `embeddings` (time-sliced), team `b` owns nothing; a-eval is a's."""
    return [
        device_plugin_config(),
        node_group("embeddings", "a"),
        node_group("train"),
        namespace("a", "a"),
        namespace("a-eval", "a"),
        namespace("b", "b"),
        *workloads,
    ]


@pytest.mark.parametrize(
    "resource",
    [
        workload(POD, "a", [A_TOLERATION]),
        workload(DEPLOYMENT, "a-eval", [{"operator": "Exists"}]),
        workload(POD, "b", []),
        workload(POD, "b", [{"key": "nvidia.com/gpu", "operator": "Exists"}]),
        workload(POD, "b", [{"operator": "Exists", "effect": "NoExecute"}]),
        workload(POD, "b", [{"key": LABEL_TEAM, "value": "b", "effect": "NoSchedule"}]),
        # The platform's node agents run on every GPU node, the team's included.
        workload(DEPLOYMENT, "gpu-operator", [{"operator": "Exists"}]),
    ],
    ids=[
        "own-team",
        "own-team-everything",
        "no-toleration",
        "gpu-taint-only",
        "noexecute-only",
        "other-value",
        "platform",
    ],
)
def test_workloads_that_do_not_tolerate_another_teams_taint_pass(resource: Resource) -> None:
    assert run(ti.no_other_team_tolerations, stack(team_stack(resource))) == []


@pytest.mark.parametrize(
    ("resource", "fragments"),
    [
        (
            workload(POD, "b", [A_TOLERATION], name="steal"),
            ('Pod "b/steal" (namespace of team "b") tolerates gpu-caas.io/team=a:NoSchedule',),
        ),
        (
            workload(DEPLOYMENT, "b", [{"key": LABEL_TEAM, "operator": "Exists"}]),
            ('Deployment "b/w"', "tolerates gpu-caas.io/team, "),
        ),
        (
            workload(POD, "b", [{"operator": "Exists"}]),
            ("tolerates every taint",),
        ),
        (
            workload(POD, "scratch", [A_TOLERATION]),
            ("(namespace of no team) tolerates gpu-caas.io/team=a:NoSchedule",),
        ),
    ],
    ids=["by-value", "exists-on-the-key", "everything", "namespace-of-no-team"],
)
def test_workloads_tolerating_another_teams_taint_fire(
    resource: Resource, fragments: tuple[str, ...]
) -> None:
    [message] = run(ti.no_other_team_tolerations, stack(team_stack(resource)))
    for fragment in (
        *fragments,
        'node group(s) embeddings dedicated to team "a"',
        "Remove the toleration",
    ):
        assert fragment in message, message


def test_platform_namespaces_are_configurable() -> None:
    resources = team_stack(workload(POD, "gpu-operator", [A_TOLERATION]))
    config = {"platformNamespaces": ["kube-system"]}
    [message] = run(ti.no_other_team_tolerations, stack(resources, config=config))
    assert 'Pod "gpu-operator/w" (namespace of no team)' in message


def test_without_dedicated_groups_tolerations_are_not_judged() -> None:
    resources = [node_group("train"), namespace("b", "b"), workload(POD, "b", [A_TOLERATION])]
    assert run(ti.no_other_team_tolerations, stack(resources)) == []


@pytest.mark.parametrize(
    "toleration",
    [{**A_TOLERATION, "value": UNKNOWN}, {"key": UNKNOWN, "operator": "Exists"}],
    ids=["value", "key-with-exists"],
)
def test_a_partly_unknown_toleration_is_left_for_the_update(toleration: dict[str, str]) -> None:
    """Read as absent, an unknown key with `Exists` would tolerate every taint."""
    resources = team_stack(workload(POD, "b", [toleration], name="later"))
    resources.append(workload(POD, "b", [A_TOLERATION], name="now"))
    [message] = run(ti.no_other_team_tolerations, stack(resources))
    assert 'Pod "b/now"' in message
