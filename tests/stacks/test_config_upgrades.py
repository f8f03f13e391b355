"""`stacks/config/upgrades.py`: version skew of node groups, upgrade steps against the
last deployment's record, and the node-group upgrade settings."""

from __future__ import annotations

from typing import Any

import pytest

from stacks.config import ConfigError, TenantConfig, parse_tenant
from stacks.config.deployed import DeployedHost, DeployedRollout, DeployedState
from stacks.config.node_groups import NodeGroupConfig, NodeGroupUpgradeConfig
from stacks.config.rules import warnings
from stacks.config.upgrades import (
    IGNORE_DEPLOYED_RECORD,
    deployed_record_ignored,
    kubelet_skew_problem,
    node_group_version_rules,
    parse_version,
    removal_batches,
    step_problem,
    upgrade_problems,
    upgrade_warnings,
)
from tests.stacks.samples import sample
from tests.stacks.test_config_validation import DELETE, set_path

T = "gpu-caas:tenant"
SKEW = "https://kubernetes.io/releases/version-skew-policy/"


def _raw(flavor: str, changes: dict[str, Any]) -> dict[str, Any]:
    data = sample(flavor)
    for path, value in changes.items():
        set_path(data, path, value)
    return data


def _config(changes: dict[str, Any] | None = None, flavor: str = "tenant-managed") -> TenantConfig:
    """The sample of `flavor` with `changes`, schema-checked only: the day-2 rules take
    versions the component matrix refuses today (1.36 and later)."""
    return TenantConfig.model_validate(_raw(flavor, changes or {}))


def _found(problems: list[Any]) -> list[tuple[str, str]]:
    return [(p.path, p.message) for p in problems]


def _check(found: list[tuple[str, str]], expected: list[tuple[str, str]]) -> None:
    assert [path for path, _ in found] == [path for path, _ in expected], found
    for (_, message), (_, fragment) in zip(found, expected, strict=True):
        assert fragment in message, message


@pytest.mark.parametrize(
    ("value", "parsed"),
    [("1.34.2", (1, 34, 2)), ("v1.35", (1, 35, 0)), (" 1.36.10 ", (1, 36, 10)), ("1.x", None)],
)
def test_parse_version(value: str, parsed: tuple[int, int, int] | None) -> None:
    assert parse_version(value) == parsed


@pytest.mark.parametrize(
    ("current", "requested", "expected"),
    [
        ("1.34.2", "1.34.2", None),
        ("1.34.2", "1.34.5", None),
        ("1.34.2", "1.35.0", None),
        ("1.34.2", "1.35.7", None),
        (
            "1.34.2",
            "1.36.0",
            f"1.34.2 -> 1.36.0 skips 1.35: upgrade the control plane one minor version at a "
            f"time ({SKEW}); set kubernetes.version to 1.35.x, run pulumi up, then 1.36.0",
        ),
        (
            "1.34.2",
            "1.37.1",
            f"1.34.2 -> 1.37.1 skips 1.35 and 1.36: upgrade the control plane one minor version "
            f"at a time ({SKEW}); set kubernetes.version to 1.35.x, run pulumi up, then "
            "1.36.x, run pulumi up, then 1.37.1",
        ),
        (
            "1.35.1",
            "1.34.2",
            "1.35.1 -> 1.34.2 is a downgrade of the control plane: Kubernetes is not "
            "downgraded (kubeadm and Kamaji refuse it; stored objects are not converted "
            "back); set kubernetes.version back to 1.35.1, or upgrade",
        ),
        ("1.34.2", "1.34.1", "1.34.2 -> 1.34.1 is a downgrade of the control plane"),
        ("1.34.2", "2.0.0", "1.34.2 -> 2.0.0 changes the major version of the control plane"),
    ],
)
def test_step_problem(current: str, requested: str, expected: str | None) -> None:
    found = step_problem("kubernetes.version", current, requested, what="the control plane")
    if expected is None:
        assert found is None
    else:
        assert found is not None and found.startswith(expected), found


def test_step_problem_refuses_what_is_not_a_version() -> None:
    with pytest.raises(ValueError, match="not a Kubernetes version: 'latest'"):
        step_problem("kubernetes.version", "1.34.2", "latest", what="the control plane")


@pytest.mark.parametrize(
    ("kubelet", "control_plane", "fragment"),
    [
        ("1.34.2", "1.34.2", None),
        ("1.34.0", "1.34.2", None),
        ("1.35.3", "1.38.0", None),
        ("1.34.3", "1.34.2", "kubelet 1.34.3 is newer than the control plane's kubernetes.version"),
        ("1.35.0", "1.34.2", "set it to 1.34.2 or older, or remove it"),
        (
            "1.34.9",
            "1.38.0",
            "kubelet 1.34.9 is more than 3 minor versions older than the control plane's "
            f"kubernetes.version 1.38.0 ({SKEW}#kubelet); set it to 1.35.x or later",
        ),
    ],
)
def test_kubelet_skew(kubelet: str, control_plane: str, fragment: str | None) -> None:
    found = kubelet_skew_problem(kubelet, control_plane)
    if fragment is None:
        assert found is None
    else:
        assert found is not None and fragment in found, found


AUTOSCALED_BURST = "nodeGroups[2]"  # ncp-managed sample: an autoscaled H200 group


@pytest.mark.parametrize(
    ("flavor", "changes", "expected"),
    [
        ("tenant-managed", {"nodeGroups[0].kubernetesVersion": "1.34.0"}, []),
        ("tenant-managed", {"nodeGroups[0].kubernetesVersion": "v1.34.2"}, []),
        (
            "tenant-managed",
            {"kubernetes.version": "1.38.0", "nodeGroups[0].kubernetesVersion": "1.35"},
            [],
        ),
        (
            "tenant-managed",
            {"nodeGroups[1].kubernetesVersion": "1.35.0"},
            [(f"{T}.nodeGroups[1].kubernetesVersion", "kubelet 1.35.0 is newer than")],
        ),
        (
            "tenant-managed",
            {"kubernetes.version": "1.38.0", "nodeGroups[0].kubernetesVersion": "1.34"},
            [(f"{T}.nodeGroups[0].kubernetesVersion", "more than 3 minor versions older")],
        ),
        (
            "ncp-managed",
            {f"{AUTOSCALED_BURST}.kubernetesVersion": "1.34.0"},
            [
                (
                    f"{T}.nodeGroups[2].kubernetesVersion",
                    "an autoscaled group's nodes take the cluster version from their "
                    "NodeClass image",
                )
            ],
        ),
        (
            "ncp-managed",
            {f"{AUTOSCALED_BURST}.upgrade": {"maxUnavailable": 2}},
            [(f"{T}.nodeGroups[2].upgrade", "only applies to node groups of hosts")],
        ),
        ("ncp-managed", {"nodeGroups[1].upgrade": {"maxUnavailable": 2}}, []),
    ],
)
def test_node_group_version_rules(
    flavor: str, changes: dict[str, Any], expected: list[tuple[str, str]]
) -> None:
    _check(
        _found(node_group_version_rules(TenantConfig.model_validate(_raw(flavor, changes)))),
        expected,
    )


@pytest.mark.parametrize(
    ("changes", "expected"),
    [
        ({"nodeGroups[0].kubernetesVersion": "1.34.1"}, []),
        (
            {"nodeGroups[0].kubernetesVersion": "1.35"},
            [(f"{T}.nodeGroups[0].kubernetesVersion", "kubelet 1.35.0 is newer than")],
        ),
        (
            {"nodeGroups[0].kubernetesVersion": 1.34},
            [
                (
                    f"{T}.nodeGroups[0].kubernetesVersion",
                    'quote the version, e.g. kubernetesVersion: "1.34.2"',
                )
            ],
        ),
        (
            {"nodeGroups[0].kubernetesVersion": "1.33"},
            [(f"{T}.nodeGroups[0].kubernetesVersion", "Kubernetes 1.33 is not supported")],
        ),
        (
            {"nodeGroups[0].upgrade": {"maxUnavailable": 0}},
            [(f"{T}.nodeGroups[0].upgrade.maxUnavailable", "")],
        ),
        (
            {"nodeGroups[0].upgrade": {"drainTimeoutSeconds": 10}},
            [(f"{T}.nodeGroups[0].upgrade.drainTimeoutSeconds", "")],
        ),
        (
            {"nodeGroups[0].upgrade": {"drainTimeoutSeconds": 86401}},
            [(f"{T}.nodeGroups[0].upgrade.drainTimeoutSeconds", "")],
        ),
        (
            {"nodeGroups[0].upgrade": {"maxUnavilable": 2}},
            [(f"{T}.nodeGroups[0].upgrade.maxUnavilable", "did you mean `maxUnavailable`?")],
        ),
    ],
)
def test_node_group_keys_in_a_stack(
    changes: dict[str, Any], expected: list[tuple[str, str]]
) -> None:
    data = _raw("tenant-managed", changes)
    if not expected:
        parse_tenant(data)
        return
    with pytest.raises(ConfigError) as error:
        parse_tenant(data)
    _check(_found(error.value.problems), expected)


def test_upgrade_settings_defaults_and_camel_case() -> None:
    assert NodeGroupUpgradeConfig() == NodeGroupUpgradeConfig(
        max_unavailable=1, drain_timeout_seconds=600, delete_empty_dir_data=True
    )
    group = NodeGroupConfig.model_validate(
        {
            "name": "train",
            "hosts": ["gpu-0"],
            "kubernetesVersion": "v1.35",
            "upgrade": {
                "maxUnavailable": 4,
                "drainTimeoutSeconds": 1800,
                "deleteEmptyDirData": False,
            },
        }
    )
    assert group.kubernetes_version == "1.35.0"
    assert group.upgrade == NodeGroupUpgradeConfig(
        max_unavailable=4, drain_timeout_seconds=1800, delete_empty_dir_data=False
    )


@pytest.mark.parametrize(
    ("changes", "expected"),
    [
        ({}, []),
        ({"nodeGroups[0].upgrade": {"maxUnavailable": 1}}, []),
        (
            {
                "nodeGroups[0].hosts": ["gpu-0", "gpu-1"],
                "nodeGroups[1]": DELETE,
                "nodeGroups[0].upgrade": {"maxUnavailable": 2},
            },
            [
                (
                    f"{T}.nodeGroups[0].upgrade.maxUnavailable",
                    "2 drains all 2 hosts of node group 'train' at once: an upgrade stops "
                    "every workload of the group; use at most 1",
                )
            ],
        ),
        # A failed host is not drained: one active host left, nothing to keep serving.
        (
            {
                "nodeGroups[0].hosts": ["gpu-0", "gpu-1"],
                "nodeGroups[1]": DELETE,
                "nodeGroups[0].upgrade": {"maxUnavailable": 2},
                "hosts[2].state": "failed",
            },
            [],
        ),
    ],
)
def test_max_unavailable_warning(changes: dict[str, Any], expected: list[tuple[str, str]]) -> None:
    config = parse_tenant(_raw("tenant-managed", changes))
    _check([(p.path, p.message) for p in warnings(config) if ".upgrade." in p.path], expected)


KUBEADM = DeployedState(
    control_plane_backend="kubeadm",
    kubernetes_version="1.34.2",
    node_group_versions={"train": "1.34.2", "inference": "1.34.2"},
    hosts={
        "cp-0": DeployedHost(None, "active"),
        "gpu-0": DeployedHost("train", "active", "H100-80GB"),
        "gpu-1": DeployedHost("inference", "active", "H100-80GB"),
    },
)
# A staged upgrade half done: the control plane at 1.35, `train` still pinned at 1.34.
STAGED = DeployedState(
    control_plane_backend="kubeadm",
    kubernetes_version="1.35.0",
    node_group_versions={"train": "1.34.2", "inference": "1.35.0"},
)
ISV = DeployedState(control_plane_backend="external", kubernetes_version="1.35.0")
CP = f"{T}.kubernetes.version"


@pytest.mark.parametrize(
    ("config", "deployed", "environ", "expected"),
    [
        pytest.param(_config(), DeployedState(), {}, [], id="first-deployment"),
        pytest.param(_config(), KUBEADM, {}, [], id="unchanged"),
        pytest.param(_config({"kubernetes.version": "1.34.5"}), KUBEADM, {}, [], id="patch"),
        pytest.param(_config({"kubernetes.version": "1.35.1"}), KUBEADM, {}, [], id="one-minor"),
        pytest.param(
            _config({"kubernetes.version": "1.36.0"}),
            KUBEADM,
            {},
            [(CP, "1.34.2 -> 1.36.0 skips 1.35")],
            id="skipped-minor-reported-once",
        ),
        pytest.param(
            _config({"kubernetes.version": "1.34.1"}),
            KUBEADM,
            {},
            [(CP, "is a downgrade of the control plane")],
            id="patch-downgrade",
        ),
        pytest.param(
            _config({"kubernetes.version": "1.34.2"}),
            STAGED,
            {},
            [(CP, "1.35.0 -> 1.34.2 is a downgrade")],
            id="minor-downgrade",
        ),
        # Staged: the control plane moves one minor while `train` stays pinned.
        pytest.param(
            _config({"kubernetes.version": "1.35.0", "nodeGroups[0].kubernetesVersion": "1.34.2"}),
            KUBEADM,
            {},
            [],
            id="staged-control-plane-first",
        ),
        pytest.param(
            _config({"kubernetes.version": "1.35.0"}),
            STAGED,
            {},
            [],
            id="staged-group-follows",
        ),
        pytest.param(
            _config({"kubernetes.version": "1.36.0", "nodeGroups[0].kubernetesVersion": "1.36.0"}),
            STAGED,
            {},
            [
                (
                    f"{T}.nodeGroups[0].kubernetesVersion",
                    "1.34.2 -> 1.36.0 skips 1.35: upgrade the kubelets of node group 'train' one "
                    "minor version at a time",
                )
            ],
            id="pinned-group-skips",
        ),
        pytest.param(
            _config({"kubernetes.version": "1.36.0"}),
            STAGED,
            {},
            [
                (
                    f"{T}.nodeGroups[0].kubernetesVersion",
                    "upgrade the kubelets of node group 'train' (following kubernetes.version) "
                    "one minor version at a time (https://kubernetes.io/releases/version-skew-"
                    "policy/); set nodeGroups[0].kubernetesVersion to 1.35.x, run pulumi up, "
                    "then 1.36.0",
                )
            ],
            id="unpinned-group-skips",
        ),
        pytest.param(
            _config({"kubernetes.version": "1.35.0", "nodeGroups[1].kubernetesVersion": "1.34.2"}),
            STAGED,
            {},
            [
                (
                    f"{T}.nodeGroups[1].kubernetesVersion",
                    "1.35.0 -> 1.34.2 is a downgrade of the kubelets",
                )
            ],
            id="group-downgrade",
        ),
        pytest.param(
            _config(
                {
                    "nodeGroups": [
                        {"name": "new", "hosts": ["gpu-0", "gpu-1"], "kubernetesVersion": "1.34.0"}
                    ]
                }
            ),
            KUBEADM,
            {},
            # No version rule for a group the record does not know; its hosts came from
            # other groups, which would reset them (`_moved_hosts`).
            [
                (f"{T}.nodeGroups[0].hosts", "host 'gpu-0' was deployed in node group 'train'"),
                (f"{T}.nodeGroups[0].hosts", "host 'gpu-1' was deployed in node group 'infer"),
            ],
            id="new-group",
        ),
        pytest.param(
            _config({"kubernetes.version": "1.34.2"}, "ncp-managed"),
            KUBEADM,
            {},
            [(f"{T}.controlPlane.backend", "deployed with backend 'kubeadm', now 'hosted'")],
            id="backend-switch",
        ),
        pytest.param(_config(flavor="isv-managed"), ISV, {}, [], id="external-unchanged"),
        pytest.param(
            _config({"kubernetes.version": "1.36.0"}, "isv-managed"),
            ISV,
            {},
            [
                (
                    CP,
                    "1.35.0 -> 1.36.0: the ISV owns the control plane (backend 'external'), "
                    "gpu-caas cannot change its version; upgrade it on the ISV platform, then "
                    "set kubernetes.version to what it runs and confirm once with "
                    f"{IGNORE_DEPLOYED_RECORD}=1 pulumi up",
                )
            ],
            id="external-change",
        ),
        pytest.param(
            _config({"kubernetes.version": "1.35.1"}, "isv-managed"),
            ISV,
            {},
            [(CP, "the ISV owns the control plane")],
            id="external-patch",
        ),
        pytest.param(
            _config({"kubernetes.version": "1.36.0"}, "isv-managed"),
            ISV,
            {IGNORE_DEPLOYED_RECORD: "1"},
            [],
            id="external-confirmed",
        ),
        pytest.param(
            _config(),
            DeployedState(
                unreadable="the stack output `deployed` has schema 2, this program reads schema 1"
            ),
            {},
            [
                (
                    T,
                    "the last deployment's record cannot be read (the stack output `deployed` "
                    "has schema 2, this program reads schema 1), so the day-2 checks (version "
                    "skew, upgrade steps, backend) cannot run: see it with `pulumi stack "
                    "output deployed --json`",
                )
            ],
            id="unreadable",
        ),
        pytest.param(
            _config(),
            DeployedState(unreadable="the stack output `deployed` is not a mapping"),
            {IGNORE_DEPLOYED_RECORD: "true"},
            [],
            id="unreadable-ignored",
        ),
        pytest.param(
            _config({"kubernetes.version": "1.37.0"}),
            KUBEADM,
            {IGNORE_DEPLOYED_RECORD: "1"},
            [],
            id="ignored",
        ),
        pytest.param(
            _config(),
            DeployedState(control_plane_backend="kubeadm", kubernetes_version="latest"),
            {},
            [(T, "its kubernetesVersion 'latest' is not a Kubernetes version")],
            id="recorded-version-unparsable",
        ),
        pytest.param(
            _config(),
            DeployedState(
                control_plane_backend="kubeadm",
                kubernetes_version="1.34.2",
                node_group_versions={"train": "?"},
            ),
            {},
            [(T, "its nodeGroupVersions.train '?' is not a Kubernetes version")],
            id="recorded-group-version-unparsable",
        ),
    ],
)
def test_upgrade_problems(
    config: TenantConfig,
    deployed: DeployedState,
    environ: dict[str, str],
    expected: list[tuple[str, str]],
) -> None:
    _check(_found(upgrade_problems(config, deployed, environ)), expected)


def test_upgrade_problems_read_no_environment_by_default(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(IGNORE_DEPLOYED_RECORD, "1")
    found = upgrade_problems(_config({"kubernetes.version": "1.36.0"}), KUBEADM)
    assert [p.path for p in found] == [CP]


@pytest.mark.parametrize(
    ("environ", "ignored"),
    [
        ({}, False),
        ({IGNORE_DEPLOYED_RECORD: "1"}, True),
        ({IGNORE_DEPLOYED_RECORD: " YES "}, True),
        ({IGNORE_DEPLOYED_RECORD: "0"}, False),
        ({IGNORE_DEPLOYED_RECORD: ""}, False),
    ],
)
def test_deployed_record_ignored(environ: dict[str, str], ignored: bool) -> None:
    assert deployed_record_ignored(environ) is ignored


@pytest.mark.parametrize(
    ("config", "deployed", "expected"),
    [
        pytest.param(_config(), KUBEADM, [], id="same-models"),
        pytest.param(_config(), DeployedState(), [], id="first-deployment"),
        pytest.param(
            _config({"hosts[2].gpu": {"model": "H200-141GB", "count": 8}}),
            KUBEADM,
            [
                (
                    f"{T}.hosts[2].gpu.model",
                    "host 'gpu-1' was deployed with GPU model H100-80GB, now H200-141GB: if "
                    "the config was wrong, nothing else to do",
                )
            ],
            id="model-changed",
        ),
        pytest.param(
            _config({"hosts[2].gpu": DELETE}),
            KUBEADM,
            [(f"{T}.hosts[2].gpu.model", "was deployed with GPU model H100-80GB, now none")],
            id="gpus-removed",
        ),
        pytest.param(
            _config({"hosts[2].gpu": {"model": "H200-141GB", "count": 8}}),
            DeployedState(unreadable="the stack output `deployed` is not a mapping"),
            [],
            id="unreadable",
        ),
    ],
)
def test_upgrade_warnings(
    config: TenantConfig, deployed: DeployedState, expected: list[tuple[str, str]]
) -> None:
    _check(_found(upgrade_warnings(config, deployed)), expected)


@pytest.mark.parametrize(
    ("order", "max_unavailable", "removed", "batches"),
    [
        # Next to each other: the last one first, one at a time.
        (["a", "b", "c", "d"], 1, {"c", "d"}, [["d"], ["c"]]),
        (["a", "b", "c", "d"], 1, {"b", "c", "d"}, [["d"], ["c"], ["b"]]),
        # Further apart: side by side.
        (["a", "b", "c", "d"], 1, {"b", "d"}, [["b", "d"]]),
        (["a", "b", "c", "d", "e"], 1, {"a", "c", "e"}, [["a", "c", "e"]]),
        # Chains of different lengths: the engine levels from the heads of the chains,
        # so a lone host goes with the first host of a longer chain, last.
        (["a", "b", "c", "d"], 1, {"a", "c", "d"}, [["d"], ["a", "c"]]),
        # Two lanes: each lane's hosts one after the other, the lanes side by side.
        (["a", "b", "c", "d"], 2, {"a", "b", "c", "d"}, [["c", "d"], ["a", "b"]]),
        (["a", "b", "c", "d"], 2, {"b", "c"}, [["b", "c"]]),
        # Nothing removed; a host not in the order is ignored.
        (["a", "b"], 1, set(), []),
        (["a", "b"], 1, {"x"}, []),
    ],
)
def test_removal_batches(
    order: list[str], max_unavailable: int, removed: set[str], batches: list[list[str]]
) -> None:
    assert removal_batches(order, max_unavailable, removed) == batches


def _recorded(
    rollouts: dict[str, tuple[list[str], int]], joined: list[str] | None = None
) -> DeployedState:
    return DeployedState(
        control_plane_backend="kubeadm",
        kubernetes_version="1.34.2",
        hosts={
            name: DeployedHost(node_group=group, state="active")
            for group, (order, _) in rollouts.items()
            for name in order
        },
        joined_hosts=frozenset(joined) if joined is not None else None,
        rollouts={g: DeployedRollout(tuple(o), m) for g, (o, m) in rollouts.items()},
    )


def _leaving(found: list[Any]) -> list[tuple[str, str]]:
    return [
        (p.path, p.message) for p in found if "are drained and deleted at the same" in p.message
    ]


@pytest.mark.parametrize(
    ("changes", "deployed", "expected"),
    [
        # gpu-2 and gpu-4 were not next to each other (gpu-0 stays): side by side.
        (
            {},
            _recorded({"train": (["gpu-2", "gpu-0", "gpu-4"], 1)}),
            [
                (
                    f"{T}.nodeGroups[0].hosts",
                    "2 of the hosts leaving node group 'train' are drained and deleted at "
                    "the same time (gpu-2, gpu-4): more than its upgrade.maxUnavailable (1); "
                    "the engine removes hosts along the last rollout order, where only "
                    "hosts 1 place(s) apart go one after the other; to keep the bound, "
                    "remove at most 1 of these per update (from the inventory, or from "
                    "nodeGroups[].hosts or hosts[].nodeGroup)",
                )
            ],
        ),
        # The last two of the order: one after the other, no warning.
        ({}, _recorded({"train": (["gpu-0", "gpu-2", "gpu-3"], 1)}), []),
        # Side by side, but within maxUnavailable 2.
        (
            {"nodeGroups[0].upgrade": {"maxUnavailable": 2}},
            _recorded({"train": (["gpu-2", "gpu-0", "gpu-4"], 1)}),
            [],
        ),
        # A host whose join never succeeded has no Node to drain.
        (
            {},
            _recorded({"train": (["gpu-2", "gpu-0", "gpu-4"], 1)}, ["gpu-0", "gpu-4"]),
            [],
        ),
        # The second group (index 1).
        (
            {},
            _recorded(
                {
                    "train": (["gpu-0"], 1),
                    "inference": (["gpu-5", "gpu-1", "gpu-6"], 1),
                }
            ),
            [(f"{T}.nodeGroups[1].hosts", "2 of the hosts leaving node group 'inference'")],
        ),
        # A group removed as a whole: its workloads have no node of the group to go to.
        (
            {"nodeGroups[1]": DELETE, "hosts[2]": DELETE},
            _recorded({"train": (["gpu-0"], 1), "inference": (["gpu-1", "gpu-5", "gpu-6"], 1)}),
            [],
        ),
        # A record from before `rollouts`: nothing to go by.
        (
            {},
            DeployedState(
                kubernetes_version="1.34.2",
                hosts={h: DeployedHost("train", "active") for h in ("gpu-0", "gpu-2", "gpu-4")},
            ),
            [],
        ),
        ({}, DeployedState(), []),
    ],
)
def test_removals_beyond_max_unavailable_are_warned(
    changes: dict[str, Any], deployed: DeployedState, expected: list[tuple[str, str]]
) -> None:
    found = _leaving(upgrade_warnings(_config(changes), deployed))
    _check(found, expected)


def test_removal_warnings_follow_the_record_gates(monkeypatch: pytest.MonkeyPatch) -> None:
    recorded = _recorded({"train": (["gpu-2", "gpu-0", "gpu-4"], 1)})
    assert _leaving(upgrade_warnings(_config(), recorded))
    assert not _leaving(upgrade_warnings(_config(), recorded, {IGNORE_DEPLOYED_RECORD: "1"}))
    unreadable = DeployedState(unreadable="schema 2", rollouts=recorded.rollouts)
    assert not _leaving(upgrade_warnings(_config(), unreadable))


@pytest.mark.parametrize(
    ("changes", "groups", "expected"),
    [
        # Nothing moved.
        ({}, {"gpu-0": "train", "gpu-1": "inference"}, []),
        # gpu-1 moved from inference to train.
        (
            {"nodeGroups[0].hosts": ["gpu-0", "gpu-1"], "nodeGroups[1].hosts": []},
            {"gpu-0": "train", "gpu-1": "inference"},
            [
                (
                    f"{T}.nodeGroups[0].hosts",
                    "host 'gpu-1' was deployed in node group 'inference', now in 'train': "
                    "moving a joined host between groups in one update resets it (the old "
                    "group's steps drain and delete its Node and run kubeadm reset after the "
                    "new group's join found it joined); take 'gpu-1' out of 'inference' in "
                    "one update (remove it from hosts, or mark it `state: spare` in no node "
                    "group), pulumi up, then add it to 'train' in the next",
                )
            ],
        ),
        # A renamed group moves every host; the message says to keep the name.
        (
            {"nodeGroups[0].name": "training"},
            {"gpu-0": "train", "gpu-1": "inference"},
            [
                (
                    f"{T}.nodeGroups[0].hosts",
                    "now in 'training' (node group 'train' is gone: a rename moves every "
                    "host; keep the name 'train' instead)",
                )
            ],
        ),
        # A worker that becomes a control-plane host.
        (
            {"hosts[1].role": "control-plane", "nodeGroups[0].hosts": []},
            {"gpu-0": "train", "gpu-1": "inference"},
            [
                (
                    f"{T}.hosts[1].role",
                    "host 'gpu-0' was deployed as a worker in node group 'train', now a "
                    "control-plane host",
                )
            ],
        ),
        # Taken out as a spare: the first of the two updates, accepted.
        (
            {"hosts[1].state": "spare", "nodeGroups[0].hosts": []},
            {"gpu-0": "train", "gpu-1": "inference"},
            [],
        ),
        # A host that was in no group (a spare) may join one.
        ({}, {"gpu-0": None, "gpu-1": "inference"}, []),
    ],
)
def test_hosts_moved_between_groups_are_refused(
    changes: dict[str, Any], groups: dict[str, str | None], expected: list[tuple[str, str]]
) -> None:
    deployed = DeployedState(
        control_plane_backend="kubeadm",
        kubernetes_version="1.34.2",
        hosts={
            name: DeployedHost(node_group=group, state="active") for name, group in groups.items()
        },
    )
    moved = ("was deployed in node group", "was deployed as a worker")
    found = [
        p
        for p in upgrade_problems(_config(changes), deployed)
        if p.message.startswith("host ") and any(m in p.message for m in moved)
    ]
    _check(_found(found), expected)


@pytest.mark.parametrize(
    ("deployed_kubernetes", "deployed_driver", "warned"),
    [
        ("1.34.2", "1.0.0", True),  # both change
        ("1.34.2", None, False),  # no driver recorded
        ("SAME", "1.0.0", False),  # only the driver changes
        ("1.34.2", "SAME", False),  # only Kubernetes changes
    ],
)
def test_kubernetes_and_driver_upgrades_in_one_update_are_warned(
    deployed_kubernetes: str, deployed_driver: str | None, warned: bool
) -> None:
    from pathlib import Path

    from stacks.config.loader import load_stack_file
    from stacks.config.operator_upgrades import deployed_driver_version
    from stacks.config.upgrades import upgrade_warnings

    config = load_stack_file(Path(__file__).resolve().parents[2] / "Pulumi.dev.yaml")
    config = config.model_copy(
        update={"kubernetes": config.kubernetes.model_copy(update={"version": "1.35.0"})}
    )
    driver = deployed_driver_version(config)
    state = DeployedState(
        kubernetes_version="1.35.0" if deployed_kubernetes == "SAME" else deployed_kubernetes,
        driver_version=driver if deployed_driver == "SAME" else deployed_driver,
    )
    found = [p for p in upgrade_warnings(config, state) if "driver" in p.message]
    assert bool(found) is warned
    if warned:
        assert found[0].path.endswith("gpu.operator.driver.version")
        assert "maxUnavailable" in found[0].message
