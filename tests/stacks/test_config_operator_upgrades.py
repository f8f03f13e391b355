"""Operator upgrades on day 2 (`stacks.config.operator_upgrades`) and the driver upgrade
policy's config (`gpu.operator.driver.upgradePolicy`, `allowBranchDowngrade`)."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import ValidationError

from components import versions
from stacks.config import TenantConfig
from stacks.config.deployed import DeployedState
from stacks.config.errors import problems_from_validation_error
from stacks.config.operator_upgrades import (
    DRIVER_VERSION_PATH,
    GPU_OPERATOR_VERSION_PATH,
    deployed_components,
    deployed_driver_version,
    installed_releases,
    operator_upgrade_problems,
)

ROOT = "gpu-caas:tenant"
NODE_CLASS = {"group": "karpenter.example", "kind": "NodeClass", "name": "gpu"}
GPU_OP = versions.GPU_OPERATOR.name
PINNED_DRIVER = versions.NVIDIA_DRIVER.version  # 595.91.07


def _tenant(gpu: dict[str, Any] | None = None) -> TenantConfig:
    raw: dict[str, Any] = {
        "name": "acme",
        "flavor": "ncp-managed",  # hosted: the Kamaji backend
        "kubernetes": {"version": "1.34.2"},
        "nodeGroups": [
            {
                "name": "h100",
                "autoscale": {
                    "maxNodes": 4,
                    "nodeClass": NODE_CLASS,
                    "gpu": {"model": "H100-80GB", "count": 8},
                },
            }
        ],
        "teams": [{"name": "team-a", "gpuQuota": 8}],
    }
    if gpu is not None:
        raw["gpu"] = gpu
    return TenantConfig.model_validate(raw)


def _driver(**driver: Any) -> dict[str, Any]:
    return {"operator": {"driver": driver}}


def _deployed(**changes: Any) -> DeployedState:
    """What the default tenant deployed, with `changes` (`components` entries merged)."""
    tenant = _tenant()
    components = {**deployed_components(tenant), **changes.pop("components", {})}
    return DeployedState(
        kubernetes_version="1.34.2",
        components=components,
        driver_version=changes.pop("driver_version", deployed_driver_version(tenant)),
        **changes,
    )


class TestRecord:
    def test_deployed_components_of_the_default_tenant(self):
        record = deployed_components(_tenant())
        assert list(record) == sorted(record)
        assert record[GPU_OP] == versions.GPU_OPERATOR.version
        assert record[versions.KYVERNO.name] == versions.KYVERNO.version
        assert record[versions.CILIUM.name] == versions.CILIUM.version
        # The hosted backend needs Kamaji, but on the provider's management cluster.
        assert versions.KAMAJI.name not in record
        assert versions.NETWORK_OPERATOR.name not in record  # not enabled

    def test_overrides_and_switches_are_recorded(self):
        tenant = _tenant({"operator": {"version": "v26.3.3"}, "network": {"enabled": True}})
        record = deployed_components(tenant)
        assert record[GPU_OP] == "v26.3.3"
        assert record[versions.NETWORK_OPERATOR.name] == versions.NETWORK_OPERATOR.version
        gpu_operator = next(c for c in installed_releases(tenant) if c.name == GPU_OP)
        assert gpu_operator.upgrade is versions.GPU_OPERATOR.upgrade

    @pytest.mark.parametrize(
        ("gpu", "expected"),
        [
            (None, PINNED_DRIVER),
            (_driver(version="580.95.05"), "580.95.05"),
            (_driver(enabled=False), None),  # the host's driver: not the operator's to roll
            ({"enabled": False}, None),
        ],
    )
    def test_deployed_driver_version(self, gpu, expected):
        assert deployed_driver_version(_tenant(gpu)) == expected


class TestReleasePaths:
    @pytest.mark.parametrize(
        ("gpu", "deployed", "expected"),
        [
            pytest.param(None, DeployedState(), [], id="first-deployment"),
            pytest.param(None, _deployed(), [], id="unchanged"),
            pytest.param(
                None,
                DeployedState(unreadable="schema 9"),
                [],
                id="unreadable-record-is-reported-by-the-upgrade-rules",
            ),
            pytest.param(
                None, _deployed(components={GPU_OP: "v26.3.3"}), [], id="gpu-operator-next-major"
            ),
            pytest.param(
                None,
                _deployed(components={GPU_OP: "v25.10.1"}),
                [
                    (
                        GPU_OPERATOR_VERSION_PATH,
                        [
                            "NVIDIA GPU Operator v25.10.1 is deployed",
                            "skips 26.3.x",
                            "first, or set gpu.operator.version to such a release (the "
                            "version this deployment installs is this gpu-caas release's pin",
                        ],
                    )
                ],
                id="gpu-operator-skips-a-major",
            ),
            pytest.param(
                {"operator": {"version": "v26.3.3"}},
                _deployed(components={GPU_OP: "v25.10.1"}),
                [],
                id="override-deploys-the-intermediate-major",
            ),
            pytest.param(
                {"operator": {"version": "v25.10.1"}},
                _deployed(),
                [
                    (
                        GPU_OPERATOR_VERSION_PATH,
                        [
                            "installs v25.10.1, a downgrade",
                            "installs is gpu.operator.version's)",
                        ],
                    )
                ],
                id="override-downgrades",
            ),
            pytest.param(
                None,
                _deployed(components={versions.CILIUM.name: "1.20.0"}),
                [
                    (
                        ROOT,
                        [
                            "Cilium 1.20.0 is deployed and this deployment installs 1.19.5, a "
                            "downgrade",
                            "(the pin comes from components/versions.py)",
                        ],
                    )
                ],
                id="pin-downgrade-at-the-root",
            ),
            pytest.param(
                None,
                _deployed(components={versions.KAMAJI.name: "27.1.1-edge"}),
                [],
                id="kamaji-is-not-the-stacks-to-upgrade",
            ),
        ],
    )
    def test_operator_upgrade_problems(self, gpu, deployed, expected):
        problems = operator_upgrade_problems(_tenant(gpu), deployed)
        assert [p.path for p in problems] == [path for path, _ in expected]
        for problem, (_, fragments) in zip(problems, expected, strict=True):
            for fragment in fragments:
                assert fragment in problem.message, problem.message


class TestDriverBranch:
    @pytest.mark.parametrize(
        ("gpu", "deployed_driver", "fragments"),
        [
            pytest.param(None, None, None, id="not-recorded"),
            pytest.param(None, PINNED_DRIVER, None, id="unchanged"),
            pytest.param(None, "580.95.05", None, id="newer-branch"),
            pytest.param(_driver(version="595.58.03"), PINNED_DRIVER, None, id="same-branch"),
            pytest.param(_driver(enabled=False), "600.10.01", None, id="host-driver-now"),
            pytest.param(
                _driver(version="580.95.05", allowBranchDowngrade=True),
                PINNED_DRIVER,
                None,
                id="acknowledged-downgrade",
            ),
            pytest.param(
                _driver(version="580.95.05"),
                PINNED_DRIVER,
                [
                    "driver 595.91.07 (R595) is deployed and 580.95.05 is on the older branch R580",
                    "https://docs.nvidia.com/deploy/cuda-compatibility/",
                    "set gpu.operator.driver.version to 595.91.07 or a newer R595 release",
                    "gpu.operator.driver.allowBranchDowngrade: true",
                ],
                id="branch-downgrade",
            ),
            pytest.param(
                _driver(version="570.195.03"),
                "580.95.05",
                ["older branch R570", "CUDA 13.x applications need R580 or newer"],
                id="below-the-cuda-13-minimum",
            ),
            pytest.param(
                _driver(version="580", usePrecompiled=True),
                PINNED_DRIVER,
                ["580 is on the older branch R580"],
                id="precompiled-branch",
            ),
            pytest.param(
                None,
                "600.10.01",
                ["595.91.07 (this gpu-caas release's pin) is on the older branch R595"],
                id="pin-is-older-than-the-deployed-driver",
            ),
        ],
    )
    def test_branch(self, gpu, deployed_driver, fragments):
        problems = operator_upgrade_problems(
            _tenant(gpu), _deployed(driver_version=deployed_driver)
        )
        if fragments is None:
            assert problems == []
            return
        assert [p.path for p in problems] == [DRIVER_VERSION_PATH]
        for fragment in fragments:
            assert fragment in problems[0].message, problems[0].message


POLICY = "gpu-caas:tenant.gpu.operator.driver.upgradePolicy"


def _policy(**policy: Any) -> dict[str, Any]:
    return _driver(upgradePolicy=policy)


class TestUpgradePolicyConfig:
    def test_defaults(self):
        policy = _tenant().gpu.operator.driver.upgrade_policy
        assert (policy.auto_upgrade, policy.max_parallel_upgrades, policy.max_unavailable) == (
            True,
            1,
            "25%",
        )
        assert (
            policy.wait_for_completion.pod_selector,
            policy.wait_for_completion.timeout_seconds,
        ) == ("", 0)
        deletion = policy.gpu_pod_deletion
        assert (deletion.force, deletion.timeout_seconds, deletion.delete_empty_dir) == (
            False,
            300,
            True,
        )
        assert not policy.drain.enable and policy.drain.timeout_seconds == 300
        assert not _tenant().gpu.operator.driver.allow_branch_downgrade

    @pytest.mark.parametrize(
        "policy",
        [
            {"maxUnavailable": "100%", "maxParallelUpgrades": 0},
            {"maxUnavailable": "1"},
            {"waitForCompletion": {"podSelector": "app=train", "timeoutSeconds": 0}},
            {"waitForCompletion": {"podSelector": "app=train", "timeoutSeconds": 3600}},
            {"gpuPodDeletion": {"force": True, "deleteEmptyDir": False, "timeoutSeconds": 0}},
            {"autoUpgrade": False},
        ],
    )
    def test_valid(self, policy):
        _tenant(_policy(**policy))

    @pytest.mark.parametrize(
        ("policy", "path", "fragment"),
        [
            ({"maxUnavailable": "0"}, "maxUnavailable", "must allow at least one node"),
            ({"maxUnavailable": "0%"}, "maxUnavailable", "set autoUpgrade: false to pause"),
            ({"maxUnavailable": "150%"}, "maxUnavailable", "at most 100%"),
            ({"maxUnavailable": "lots"}, "maxUnavailable", "should match pattern"),
            ({"maxParallelUpgrades": -1}, "maxParallelUpgrades", "greater than or equal to 0"),
            (
                {"waitForCompletion": {"timeoutSeconds": 600}},
                "waitForCompletion",
                "timeoutSeconds has no effect without podSelector",
            ),
            (
                {"gpuPodDeletion": {"timeoutSeconds": -1}},
                "gpuPodDeletion.timeoutSeconds",
                "greater than or equal to 0",
            ),
            (
                {"drain": {"timeoutSeconds": -5}},
                "drain.timeoutSeconds",
                "greater than or equal to 0",
            ),
            # The ClusterPolicy CRD's name; the chart's values key is gpuPodDeletion.
            ({"podDeletion": {"force": True}}, "podDeletion", "did you mean `gpuPodDeletion`?"),
        ],
    )
    def test_invalid_names_the_key_path(self, policy, path, fragment):
        with pytest.raises(ValidationError) as error:
            _tenant(_policy(**policy))
        problems = problems_from_validation_error(error.value, TenantConfig)
        assert [p.path for p in problems] == [f"{POLICY}.{path}"]
        assert fragment in problems[0].message, problems[0].message


class TestRdmaTransition:
    """A pair known to break GPUDirect RDMA between the two releases' upgrades is refused
    at `gpu.operator.version`, whose override holds the GPU Operator back."""

    BAD = versions.RdmaIncompatibility(
        gpu_operator_from="26.7.0",
        gpu_operator_before=None,
        network_operator_from=None,
        network_operator_before="26.7.0",
        reason="example row",
        source="test",
    )

    @pytest.mark.parametrize(
        ("gpu", "count"),
        [
            ({"network": {"enabled": True}}, 1),
            ({"network": {"enabled": True}, "operator": {"driver": {"enabled": False}}}, 0),
            ({"network": {"enabled": True}, "operator": {"version": "v26.3.3"}}, 0),
        ],
    )
    def test_transition(self, monkeypatch, gpu, count):
        monkeypatch.setattr(versions, "RDMA_INCOMPATIBLE_PAIRS", (self.BAD,))
        deployed = _deployed(
            components={GPU_OP: "v26.3.3", versions.NETWORK_OPERATOR.name: "26.4.1"}
        )
        problems = [
            p for p in operator_upgrade_problems(_tenant(gpu), deployed) if "RDMA" in p.message
        ]
        assert len(problems) == count, problems
        if count:
            assert problems[0].path == GPU_OPERATOR_VERSION_PATH
            assert problems[0].message.endswith(
                "keeping the GPU Operator at v26.3.3 (set gpu.operator.version to it for that "
                "deployment)"
            )
