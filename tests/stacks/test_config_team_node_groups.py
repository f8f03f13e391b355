"""`nodeGroups[].team` (`stacks.config.rules.team_node_groups`): soft-shared GPUs belong to
one configured team, and that team's label and taint reach every node of the group."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from components.cluster.types import Taint
from stacks import compose
from stacks.config import ConfigError, SharingMode, TenantConfig, load_stack_file, parse_tenant
from stacks.config.rules import SOFT_SHARING_DOCS
from stacks.platform_isolation import dedicated_team_namespaces
from tests.stacks.samples import sample

ROOT = Path(__file__).resolve().parents[2]
T = "gpu-caas:tenant"
TIME_SLICING = {"mode": "time-slicing", "timeSlicing": {"replicas": 4}}
MPS = {"mode": "mps", "mps": {"replicas": 8}}
TEAMS: list[dict[str, Any]] = [
    {"name": "ml", "namespaces": ["ml", "ml-eval"]},
    {"name": "research"},
]


def tenant(**inference: Any) -> dict[str, Any]:
    """The tenant-managed sample with teams `ml` and `research`; `inference` replaces
    keys of its GPU group `inference` (hosts: gpu-1, H100-80GB)."""
    data = sample("tenant-managed")
    data["teams"] = TEAMS
    data["nodeGroups"][1].update(inference)
    return data


def problems(data: dict[str, Any]) -> list[tuple[str, str]]:
    with pytest.raises(ConfigError) as error:
        parse_tenant(data)
    return [(p.path, p.message) for p in error.value.problems]


@pytest.mark.parametrize(
    "inference",
    [
        {"sharing": TIME_SLICING, "team": "ml"},
        {"sharing": MPS, "team": "research"},
        # MIG and whole GPUs may be shared between teams, or dedicated to one.
        {},
        {"team": "ml"},
        {"sharing": {"mode": "exclusive"}},
        {"sharing": {"mode": "exclusive"}, "team": "research"},
    ],
    ids=["time-slicing", "mps", "mig-shared", "mig-dedicated", "exclusive", "exclusive-dedicated"],
)
def test_good_team_node_groups(inference: dict[str, Any]) -> None:
    assert isinstance(parse_tenant(tenant(**inference)), TenantConfig)


@pytest.mark.parametrize(
    ("inference", "path", "fragments"),
    [
        (
            {"sharing": TIME_SLICING},
            "nodeGroups[1].team",
            (
                "is required with mode 'time-slicing'",
                "no memory or fault isolation between pods sharing a GPU",
                SOFT_SHARING_DOCS,
                "name the one team allowed on it with nodeGroups[1].team",
                "teams: ml, research",
            ),
        ),
        ({"sharing": MPS}, "nodeGroups[1].team", ("is required with mode 'mps'",)),
        (
            {"sharing": TIME_SLICING, "team": "researh"},
            "nodeGroups[1].team",
            ("unknown team 'researh'", "did you mean 'research'?", "teams: ml, research"),
        ),
        ({"team": "platform"}, "nodeGroups[1].team", ("unknown team 'platform'; teams:",)),
        (
            {"team": "ML"},
            "nodeGroups[1].team",
            ("must be a DNS label",),
        ),
        (
            {"sharing": TIME_SLICING, "team": "ml", "labels": {"gpu-caas.io/team": "research"}},
            'nodeGroups[1].labels["gpu-caas.io/team"]',
            ("is set from nodeGroups[1].team; set `team` instead",),
        ),
        (
            {
                "sharing": TIME_SLICING,
                "team": "ml",
                "taints": [{"key": "gpu-caas.io/team", "value": "research"}],
            },
            "nodeGroups[1].taints[0]",
            ("taint 'gpu-caas.io/team' is set from nodeGroups[1].team",),
        ),
    ],
    ids=[
        "time-slicing-without-team",
        "mps-without-team",
        "typo",
        "not-a-team",
        "not-a-dns-label",
        "label-by-hand",
        "taint-by-hand",
    ],
)
def test_bad_team_node_groups_name_the_key_and_the_fix(
    inference: dict[str, Any], path: str, fragments: tuple[str, ...]
) -> None:
    found = problems(tenant(**inference))
    messages = [message for key, message in found if key == f"{T}.{path}"]
    assert messages, found
    assert all(fragment in messages[0] for fragment in fragments), messages[0]


def test_a_soft_shared_group_in_a_tenant_without_teams_says_to_add_one() -> None:
    data = tenant(sharing=TIME_SLICING)
    data["teams"] = []
    [(path, message)] = problems(data)
    assert path == f"{T}.nodeGroups[1].team"
    assert "teams: none; add one to teams" in message


def test_a_group_without_gpus_cannot_be_dedicated() -> None:
    data = sample("ncp-managed")
    data["teams"] = TEAMS
    data["nodeGroups"][0]["team"] = "ml"  # `system`: CPU host sys-0
    [(path, message)] = problems(data)
    assert path == f"{T}.nodeGroups[0].team"
    assert "the node group has none" in message


def test_a_soft_shared_group_without_gpus_is_reported_once() -> None:
    data = tenant(sharing=TIME_SLICING, team="ml")
    data["hosts"][2].pop("gpu")  # gpu-1, the inference group's host
    found = problems(data)
    assert [path for path, _ in found] == [f"{T}.nodeGroups[1].sharing.mode"], found


def test_a_group_listing_an_unknown_host_is_not_called_cpu_only() -> None:
    data = tenant(team="ml", hosts=["gpu-9"])
    found = problems(data)
    assert not [p for p in found if p[0] == f"{T}.nodeGroups[1].team"], found


@pytest.mark.parametrize(
    ("team", "labels", "taints"),
    [
        (None, {}, []),
        ("ml", {"gpu-caas.io/team": "ml"}, [Taint("gpu-caas.io/team", "ml", "NoSchedule")]),
    ],
    ids=["shared", "dedicated"],
)
def test_the_team_label_and_taint_reach_every_node_of_the_group(
    team: str | None, labels: dict[str, str], taints: list[Taint]
) -> None:
    """Joined hosts, the node step and Karpenter NodePools all read the group shape."""
    data = tenant(sharing=TIME_SLICING, team="ml")
    data["nodeGroups"][1]["labels"] = {"example.com/pool": "notebooks"}
    data["nodeGroups"][1]["taints"] = [{"key": "example.com/pool", "value": "notebooks"}]
    if team is None:
        data["nodeGroups"][1]["sharing"] = {"mode": "exclusive"}
        del data["nodeGroups"][1]["team"]
    config = parse_tenant(data)
    group = config.node_groups[1]
    node_labels = compose.node_group_labels(config, group)
    assert {k: v for k, v in node_labels.items() if k == "gpu-caas.io/team"} == labels
    assert node_labels["example.com/pool"] == "notebooks"
    # GPU taint, then the team's, then the group's own.
    assert compose.node_group_taints(config, group) == [
        Taint("nvidia.com/gpu", "present", "NoSchedule"),
        *taints,
        Taint("example.com/pool", "notebooks", "NoSchedule"),
    ]
    shape = compose.node_group_args(config, group)
    assert shape.labels.get("gpu-caas.io/team") == team


@pytest.mark.parametrize(
    ("teams_of_groups", "expected"),
    [
        ((None, None), {}),
        ((None, "research"), {"research": ("research",)}),
        (("ml", "ml"), {"ml": ("ml", "ml-eval")}),
        (("research", "ml"), {"ml": ("ml", "ml-eval"), "research": ("research",)}),
    ],
    ids=["none", "one", "one-team-two-groups", "two-in-config-order"],
)
def test_dedicated_team_namespaces_are_the_owning_teams_namespaces(
    teams_of_groups: tuple[str | None, str | None], expected: dict[str, tuple[str, ...]]
) -> None:
    data = tenant()
    for group, team in zip(data["nodeGroups"], teams_of_groups, strict=True):
        if team is not None:
            group["team"] = team
    namespaces = dedicated_team_namespaces(parse_tenant(data))
    assert namespaces == expected
    assert list(namespaces) == [t["name"] for t in TEAMS if t["name"] in expected]


def test_the_isv_example_dedicates_its_time_sliced_group_to_its_team() -> None:
    config = load_stack_file(ROOT / "Pulumi.isv-inference.yaml")
    [group] = [g for g in config.node_groups if g.sharing.mode is SharingMode.TIME_SLICING]
    assert group.team == "serving"
    assert dedicated_team_namespaces(config) == {"serving": ("serving",)}
    assert Taint("gpu-caas.io/team", "serving", "NoSchedule") in compose.node_group_taints(
        config, group
    )
