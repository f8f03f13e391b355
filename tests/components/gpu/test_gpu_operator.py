"""GPU Operator: pure rendering (validated against the chart's values.yaml) and the component."""

from __future__ import annotations

import copy
from typing import Any

import pulumi_kubernetes as k8s
import pytest
import yaml

from components import mirrors, versions
from components.gpu.gpu_operator import (
    DEVICE_PLUGIN_CONFIG_LABEL,
    DEVICE_PLUGIN_CONFIG_MAP,
    MIG_CONFIG_LABEL,
    MIG_CONFIG_MAP,
    DriverSettings,
    DriverUpgradePolicy,
    GpuOperator,
    GpuOperatorArgs,
    GpuOperatorSettings,
    NodeGroupGpu,
    Sharing,
    driver_version_value,
    gpu_node_labels,
    gpu_operator_images,
    mig_strategy,
    render_dcgm_metrics_config_map,
    render_device_plugin_config,
    render_device_plugin_config_map,
    render_gpu_operator_values,
    render_mig_config,
    render_mig_config_map,
    render_upgrade_policy,
    summary,
)
from components.mirrors import Mirrors
from sandbox.documented_values import DOCUMENTED_VALUES_KEYS
from tests.support.mocks import RecordingMocks, run
from tests.support.upstream import (
    CRDS_ROOT,
    assert_values_keys_known,
    validate_custom_resource,
)

VALUES_YAML = "gpu-operator/values.yaml"
# Keys we set that values.yaml does not show, with their sources; the stand-in chart
# of the live tests allows the same list.
ALLOW = DOCUMENTED_VALUES_KEYS["gpu-operator"]

TRAINING = NodeGroupGpu("training", "H100-80GB")
INFERENCE = NodeGroupGpu("inference", "A100-80GB", Sharing("time-slicing", 4))
MPS = NodeGroupGpu("mps", "H200-141GB", Sharing("mps", 8))
MIG_SINGLE = NodeGroupGpu("mig-single", "H100-80GB", mig_layout={"1g.10gb": 7})
MIG_MIXED = NodeGroupGpu("mig-mixed", "A100-40GB", mig_layout={"3g.20gb": 1, "2g.10gb": 2})
MIG_SLICED = NodeGroupGpu(
    "mig-sliced", "H100-80GB", Sharing("time-slicing", 2), {"3g.40gb": 1, "2g.20gb": 1}
)
CPU = NodeGroupGpu("system", None)
ALL_GROUPS = (TRAINING, INFERENCE, MPS, MIG_SINGLE, MIG_MIXED, MIG_SLICED, CPU)

AIRGAP = Mirrors(
    image_registries={
        "nvcr.io": "mirror.ncp.internal/nvcr",
        "registry.k8s.io": "mirror.ncp.internal/k8s",
    }
)


def _upstream_values() -> Any:
    return yaml.safe_load((CRDS_ROOT / VALUES_YAML).read_text())


class TestNodeLabels:
    @pytest.mark.parametrize(
        ("group", "expected"),
        [
            (
                TRAINING,
                {
                    DEVICE_PLUGIN_CONFIG_LABEL: "gpu-caas-training",
                    MIG_CONFIG_LABEL: "all-disabled",
                },
            ),
            (
                INFERENCE,
                {
                    DEVICE_PLUGIN_CONFIG_LABEL: "gpu-caas-inference",
                    MIG_CONFIG_LABEL: "all-disabled",
                },
            ),
            (
                MIG_SINGLE,
                {
                    DEVICE_PLUGIN_CONFIG_LABEL: "gpu-caas-mig-single",
                    MIG_CONFIG_LABEL: "gpu-caas-mig-single",
                },
            ),
            (CPU, {}),
        ],
    )
    def test_labels(self, group, expected):
        assert gpu_node_labels(group) == expected

    def test_label_keys_are_the_gpu_operator_ones(self):
        assert DEVICE_PLUGIN_CONFIG_LABEL == "nvidia.com/device-plugin.config"
        assert MIG_CONFIG_LABEL == "nvidia.com/mig.config"

    @pytest.mark.parametrize("group", ALL_GROUPS, ids=lambda g: g.name)
    def test_every_label_value_is_a_key_of_the_config_map_the_operator_reads(self, group):
        settings = GpuOperatorSettings(node_groups=ALL_GROUPS)
        values = render_gpu_operator_values(settings, Mirrors())
        plugin_keys = set(render_device_plugin_config_map(settings.node_groups))
        mig_keys = set(render_mig_config(settings.node_groups)["mig-configs"])
        # The operator reads these ConfigMaps (`config.name`), and their `default` keys.
        assert values["devicePlugin"]["config"]["name"] == DEVICE_PLUGIN_CONFIG_MAP
        assert values["migManager"]["config"]["name"] == MIG_CONFIG_MAP
        assert values["devicePlugin"]["config"]["default"] in plugin_keys
        assert values["migManager"]["config"]["default"] in mig_keys
        labels = gpu_node_labels(group)
        if group.gpu_model is None:
            assert labels == {}
            return
        assert labels[DEVICE_PLUGIN_CONFIG_LABEL] in plugin_keys
        assert labels[MIG_CONFIG_LABEL] in mig_keys


class TestDevicePluginConfig:
    @pytest.mark.parametrize(
        ("group", "strategy"),
        [(TRAINING, "none"), (MIG_SINGLE, "single"), (MIG_MIXED, "mixed"), (CPU, "none")],
    )
    def test_mig_strategy(self, group, strategy):
        assert mig_strategy(group) == strategy

    @pytest.mark.parametrize(
        ("group", "expected"),
        [
            (TRAINING, {"version": "v1", "flags": {"migStrategy": "none"}}),
            (
                INFERENCE,
                {
                    "version": "v1",
                    "flags": {"migStrategy": "none"},
                    "sharing": {
                        "timeSlicing": {
                            "renameByDefault": False,
                            "failRequestsGreaterThanOne": True,
                            "resources": [{"name": "nvidia.com/gpu", "replicas": 4}],
                        }
                    },
                },
            ),
            (
                MPS,
                {
                    "version": "v1",
                    "flags": {"migStrategy": "none"},
                    "sharing": {
                        "mps": {
                            "renameByDefault": False,
                            "resources": [{"name": "nvidia.com/gpu", "replicas": 8}],
                        }
                    },
                },
            ),
            (MIG_SINGLE, {"version": "v1", "flags": {"migStrategy": "single"}}),
            (
                MIG_SLICED,
                {
                    "version": "v1",
                    "flags": {"migStrategy": "mixed"},
                    "sharing": {
                        "timeSlicing": {
                            "renameByDefault": False,
                            "failRequestsGreaterThanOne": True,
                            "resources": [
                                {"name": "nvidia.com/mig-2g.20gb", "replicas": 2},
                                {"name": "nvidia.com/mig-3g.40gb", "replicas": 2},
                            ],
                        }
                    },
                },
            ),
        ],
    )
    def test_render(self, group, expected):
        assert render_device_plugin_config(group) == expected

    def test_mps_with_mig_is_rejected(self):
        group = NodeGroupGpu("x", "H100-80GB", Sharing("mps", 2), {"3g.40gb": 2})
        with pytest.raises(ValueError, match="MPS cannot be combined with MIG"):
            render_device_plugin_config(group)

    def test_unknown_mode_is_rejected(self):
        with pytest.raises(ValueError, match="unknown sharing mode 'vgpu'"):
            render_device_plugin_config(NodeGroupGpu("x", "H100-80GB", Sharing("vgpu", 2)))

    def test_config_map_has_default_and_one_key_per_gpu_group(self):
        data = render_device_plugin_config_map(ALL_GROUPS)
        assert set(data) == {"default"} | {f"gpu-caas-{g.name}" for g in ALL_GROUPS if g.gpu_model}
        for text in data.values():
            assert yaml.safe_load(text)["version"] == "v1"
        assert yaml.safe_load(data["gpu-caas-inference"]) == render_device_plugin_config(INFERENCE)

    @pytest.mark.parametrize("name", ["default", "all-disabled"])
    def test_operator_config_names_are_fine_as_group_names(self, name):
        # Prefixed keys never collide with the operator's own `default`/`all-disabled`.
        data = render_device_plugin_config_map([NodeGroupGpu(name, "H100-80GB")])
        assert set(data) == {"default", f"gpu-caas-{name}"}
        default = {"version": "v1", "flags": {"migStrategy": "none"}}
        assert yaml.safe_load(data["default"]) == default

    def test_a_config_name_used_twice_is_rejected(self):
        with pytest.raises(ValueError, match="used twice"):
            render_device_plugin_config_map([TRAINING, TRAINING])


class TestMigConfig:
    def test_one_layout_per_mig_group_plus_all_disabled(self):
        config = render_mig_config(ALL_GROUPS)
        assert config["version"] == "v1"
        assert set(config["mig-configs"]) == {
            "all-disabled",
            "gpu-caas-mig-single",
            "gpu-caas-mig-mixed",
            "gpu-caas-mig-sliced",
        }
        assert config["mig-configs"]["all-disabled"] == [{"devices": "all", "mig-enabled": False}]
        assert config["mig-configs"]["gpu-caas-mig-mixed"] == [
            {"devices": "all", "mig-enabled": True, "mig-devices": {"3g.20gb": 1, "2g.10gb": 2}}
        ]

    @pytest.mark.parametrize(
        ("group", "error"),
        [
            (NodeGroupGpu("bad", "H100-80GB", mig_layout={"3g.20gb": 1}), "not a MIG profile"),
            (NodeGroupGpu("bad", "H100-80GB", mig_layout={"1g.10gb": 8}), "at most 7"),
            (
                NodeGroupGpu("bad", "H100-80GB", mig_layout={"3g.40gb": 2, "1g.10gb": 1}),
                "do not fit",
            ),
            (NodeGroupGpu("bad", None, mig_layout={"1g.10gb": 1}), "no GPU model"),
        ],
    )
    def test_invalid_layouts_are_rejected(self, group, error):
        with pytest.raises(ValueError, match=error):
            render_mig_config([group])

    def test_config_map_key_is_config_yaml(self):
        data = render_mig_config_map([MIG_SINGLE])
        assert list(data) == ["config.yaml"]
        assert yaml.safe_load(data["config.yaml"]) == render_mig_config([MIG_SINGLE])


PRECOMPILED = GpuOperatorSettings(
    driver=DriverSettings(
        enabled=True,
        version="580.105.08",
        kernel_module_type="open",
        use_precompiled=True,
        rdma=True,
        use_host_mofed=True,
    ),
    nfd=False,
    dcgm_exporter=False,
    mig_manager=False,
)

# A demanding operator's policy: two nodes at a time, wait up to 2 h for the training
# jobs, then delete GPU pods (bare ones too) and drain when that fails.
CUSTOM_POLICY = DriverUpgradePolicy(
    auto_upgrade=True,
    max_parallel_upgrades=2,
    max_unavailable="2",
    wait_for_completion_pod_selector="app.kubernetes.io/component=training",
    wait_for_completion_timeout_seconds=7200,
    pod_deletion_force=True,
    pod_deletion_timeout_seconds=600,
    pod_deletion_delete_empty_dir=True,
    drain_enable=True,
    drain_force=True,
    drain_pod_selector="gpu-caas.io/drain=true",
    drain_timeout_seconds=900,
    drain_delete_empty_dir=True,
)

SETTINGS = [
    pytest.param(GpuOperatorSettings(), id="defaults"),
    pytest.param(
        GpuOperatorSettings(driver=DriverSettings(upgrade_policy=CUSTOM_POLICY)),
        id="custom-upgrade-policy",
    ),
    pytest.param(GpuOperatorSettings(node_groups=ALL_GROUPS), id="all-sharing-modes"),
    pytest.param(PRECOMPILED, id="precompiled-rdma-minimal"),
    pytest.param(
        GpuOperatorSettings(
            driver=DriverSettings(enabled=False), toolkit_enabled=False, device_plugin=False
        ),
        id="host-driver-and-toolkit-dra-only",
    ),
]


class TestValues:
    @pytest.mark.parametrize("settings", SETTINGS)
    @pytest.mark.parametrize("mirror", [Mirrors(), AIRGAP], ids=["connected", "air-gapped"])
    def test_values_keys_exist_in_the_chart(self, settings, mirror):
        values = render_gpu_operator_values(settings, mirror)
        assert_values_keys_known(values, VALUES_YAML, allow=ALLOW)

    def test_connected_repositories_equal_the_chart_defaults(self):
        upstream = _upstream_values()
        values = render_gpu_operator_values(GpuOperatorSettings(), Mirrors())
        for key in (
            "operator",
            "validator",
            "driver",
            "toolkit",
            "devicePlugin",
            "dcgmExporter",
            "gfd",
            "migManager",
        ):
            assert values[key]["repository"] == upstream[key]["repository"], key
        assert (
            values["driver"]["manager"]["repository"] == upstream["driver"]["manager"]["repository"]
        )

    def test_air_gapped_repositories_all_point_at_the_mirror(self):
        values = render_gpu_operator_values(GpuOperatorSettings(), AIRGAP)
        repositories = _find(values, "repository")
        assert repositories
        assert all(r.startswith("mirror.ncp.internal/") for r in repositories), repositories

    def test_config_and_service_monitor(self):
        settings = GpuOperatorSettings(node_groups=ALL_GROUPS, scrape_interval="30s")
        values = render_gpu_operator_values(settings, Mirrors())
        assert values["devicePlugin"]["config"] == {
            "create": False,
            "name": "device-plugin-config",
            "default": "default",
        }
        assert values["migManager"]["config"] == {
            "create": False,
            "name": "custom-mig-parted-config",
            "default": "all-disabled",
        }
        assert values["mig"]["strategy"] == "mixed"
        assert values["dcgmExporter"]["serviceMonitor"] == {
            "enabled": True,
            "interval": "30s",
            "additionalLabels": {},
        }
        central = GpuOperatorSettings(service_monitor_labels={"prometheus": "ncp-central"})
        monitor = render_gpu_operator_values(central, Mirrors())["dcgmExporter"]["serviceMonitor"]
        assert monitor["additionalLabels"] == {"prometheus": "ncp-central"}
        assert values["cdi"] == {"enabled": True}

    def test_device_plugin_switch(self):
        on = render_gpu_operator_values(GpuOperatorSettings(), Mirrors())
        off = render_gpu_operator_values(GpuOperatorSettings(device_plugin=False), Mirrors())
        assert (on["devicePlugin"]["enabled"], off["devicePlugin"]["enabled"]) == (True, False)

    def test_without_mig_groups_the_mig_manager_still_reads_our_config(self):
        # GPU nodes of non-MIG groups carry `nvidia.com/mig.config=all-disabled`, a key of
        # our ConfigMap; the name is only empty when the MIG manager is off.
        values = render_gpu_operator_values(GpuOperatorSettings(node_groups=(TRAINING,)), Mirrors())
        assert values["migManager"]["config"]["name"] == "custom-mig-parted-config"
        assert values["mig"]["strategy"] == "single"
        off = render_gpu_operator_values(GpuOperatorSettings(mig_manager=False), Mirrors())
        assert off["migManager"]["config"]["name"] == ""

    def test_dcgm_exporter_reads_our_metrics_list(self):
        values = render_gpu_operator_values(GpuOperatorSettings(), Mirrors())
        assert values["dcgmExporter"]["config"] == {"name": "dcgm-exporter-metrics"}
        off = render_gpu_operator_values(GpuOperatorSettings(dcgm_exporter=False), Mirrors())
        assert "config" not in off["dcgmExporter"]

    def test_driver_settings(self):
        settings = PRECOMPILED
        driver = render_gpu_operator_values(settings, Mirrors())["driver"]
        # Precompiled: the operator composes `<branch>-<kernel>-<os>`, so the branch.
        assert driver["version"] == "580"
        assert driver["kernelModuleType"] == "open"
        assert driver["usePrecompiled"] is True
        assert driver["rdma"] == {"enabled": True, "useHostMofed": True}
        assert driver["upgradePolicy"]["maxParallelUpgrades"] == 1
        assert driver["upgradePolicy"]["drain"]["enable"] is False
        assert "node-feature-discovery" not in render_gpu_operator_values(settings, Mirrors())


class TestUpgradePolicy:
    """`driver.upgradePolicy`: every key of the chart's, rendered from the settings."""

    def test_defaults_are_the_charts_but_gpu_pods_with_emptydir_may_go(self):
        upstream = _upstream_values()["driver"]["upgradePolicy"]
        rendered = render_gpu_operator_values(GpuOperatorSettings(), Mirrors())["driver"]
        assert rendered["upgradePolicy"] == render_upgrade_policy(DriverUpgradePolicy())
        # Our one deliberate difference (stacks.config.gpu.GpuPodDeletionConfig).
        expected = copy.deepcopy(upstream)
        expected["gpuPodDeletion"]["deleteEmptyDir"] = True
        assert rendered["upgradePolicy"] == expected

    def test_every_chart_key_is_set(self):
        upstream = _upstream_values()["driver"]["upgradePolicy"]
        rendered = render_upgrade_policy(CUSTOM_POLICY)
        assert _key_paths(rendered) == _key_paths(upstream)

    def test_custom_policy(self):
        assert render_upgrade_policy(CUSTOM_POLICY) == {
            "autoUpgrade": True,
            "maxParallelUpgrades": 2,
            "maxUnavailable": "2",
            "waitForCompletion": {
                "timeoutSeconds": 7200,
                "podSelector": "app.kubernetes.io/component=training",
            },
            "gpuPodDeletion": {"force": True, "timeoutSeconds": 600, "deleteEmptyDir": True},
            "drain": {
                "enable": True,
                "force": True,
                "podSelector": "gpu-caas.io/drain=true",
                "timeoutSeconds": 900,
                "deleteEmptyDir": True,
            },
        }

    def test_paused_upgrades_keep_the_rest_of_the_policy(self):
        paused = DriverUpgradePolicy(auto_upgrade=False)
        assert render_upgrade_policy(paused) == {
            **render_upgrade_policy(DriverUpgradePolicy()),
            "autoUpgrade": False,
        }


def _key_paths(node: Any, prefix: str = "") -> set[str]:
    if not isinstance(node, dict):
        return {prefix}
    return {path for key, value in node.items() for path in _key_paths(value, f"{prefix}.{key}")}


@pytest.mark.parametrize(
    ("version", "use_precompiled", "expected"),
    [
        ("595.91.07", False, "595.91.07"),
        ("595.91.07", True, "595"),
        ("595", True, "595"),
        ("v580.105.08", True, "580"),
        ("580.105.08-1", True, "580"),
    ],
)
def test_driver_version_value_follows_the_mode(version, use_precompiled, expected):
    assert driver_version_value(version, use_precompiled) == expected


def test_compiled_driver_values_keep_the_full_version():
    settings = GpuOperatorSettings(driver=DriverSettings(version="595.91.07"))
    assert render_gpu_operator_values(settings, Mirrors())["driver"]["version"] == "595.91.07"


class TestImages:
    def test_images_are_the_chart_defaults(self):
        upstream = _upstream_values()
        images = gpu_operator_images(GpuOperatorSettings())
        for key in ("toolkit", "devicePlugin", "dcgmExporter", "migManager"):
            v = upstream[key]
            assert f"{v['repository']}/{v['image']}:{v['version']}" in images, key
        manager = upstream["driver"]["manager"]
        assert f"{manager['repository']}/{manager['image']}:{manager['version']}" in images
        driver = upstream["driver"]
        assert f"{driver['repository']}/{driver['image']}:{driver['version']}-ubuntu24.04" in images
        assert f"nvcr.io/nvidia/gpu-operator:{versions.GPU_OPERATOR.version}" in images

    def test_disabled_operands_pull_nothing(self):
        images = gpu_operator_images(
            GpuOperatorSettings(
                driver=DriverSettings(enabled=False),
                toolkit_enabled=False,
                dcgm_exporter=False,
                mig_manager=False,
                nfd=False,
            )
        )
        assert len(images) == 2  # operator/validator and device plugin/GFD

    def test_summary(self):
        assert summary(GpuOperatorSettings(node_groups=ALL_GROUPS), "gpu-operator") == {
            "namespace": "gpu-operator",
            "chartVersion": "v26.7.0",
            "driverVersion": "595.91.07",
            "toolkitVersion": "v1.20.0",
            "devicePluginConfigs": sorted(g.name for g in ALL_GROUPS if g.gpu_model),
            "migLayouts": ["mig-mixed", "mig-single", "mig-sliced"],
        }


def _find(node: Any, key: str) -> list[str]:
    found: list[str] = []
    if isinstance(node, dict):
        for k, v in node.items():
            if k == key and isinstance(v, str):
                found.append(v)
            else:
                found += _find(v, key)
    return found


class TestComponent:
    @pytest.mark.parametrize("groups", [(), ALL_GROUPS], ids=["no-mig", "mig"])
    def test_children_names_provider_and_parent(self, groups):
        mocks = RecordingMocks()
        mirrors.reset_stack_mirror_list()

        def program() -> dict[str, Any]:
            provider = k8s.Provider("tenant-provider", kubeconfig="{}")
            operator = GpuOperator(
                "acme-gpu-operator",
                GpuOperatorArgs(
                    provider=provider,
                    mirrors=AIRGAP,
                    settings=GpuOperatorSettings(node_groups=groups),
                ),
            )
            return {"namespace": operator.namespace, "summary": operator.summary}

        result = run(program, mocks)
        component = mocks.one("gpu-caas:gpu:GpuOperator", "acme-gpu-operator")
        provider = mocks.one("pulumi:providers:kubernetes", "tenant-provider")
        children = [r for r in mocks.resources if r.type.startswith("kubernetes:")]
        expected = {
            "acme-gpu-operator-namespace",
            "acme-gpu-operator-device-plugin-config",
            "acme-gpu-operator-mig-config",
            "acme-gpu-operator-dcgm-metrics",
            "acme-gpu-operator-release",
        }
        assert {r.name for r in children} == expected
        for child in children:
            assert child.parent == component.urn, child.name
            assert child.provider_urn == provider.urn, child.name
            assert not child.secret_paths, child.name  # nothing secret here

        ns = mocks.one("kubernetes:core/v1:Namespace", "acme-gpu-operator-namespace").inputs
        assert ns["metadata"]["name"] == "gpu-operator"
        assert ns["metadata"]["labels"]["pod-security.kubernetes.io/enforce"] == "privileged"
        release = mocks.one("kubernetes:helm.sh/v3:Release", "acme-gpu-operator-release")
        assert release.inputs["name"] == "gpu-operator"
        assert release.inputs["version"] == "v26.7.0"
        assert release.inputs["createNamespace"] is False
        assert release.inputs["skipAwait"] is False
        assert release.inputs["namespace"] == "gpu-operator"
        assert release.inputs["values"]["driver"]["repository"] == "mirror.ncp.internal/nvcr/nvidia"
        # The release waits for its namespace and ConfigMaps.
        config_maps = [r for r in children if r.type == "kubernetes:core/v1:ConfigMap"]
        assert {c.urn for c in config_maps} <= set(release.dependencies)
        plugin = mocks.one("kubernetes:core/v1:ConfigMap", "acme-gpu-operator-device-plugin-config")
        assert plugin.inputs["metadata"]["name"] == "device-plugin-config"
        assert plugin.inputs["data"] == render_device_plugin_config_map(groups)
        # The values name exactly the ConfigMaps the component creates.
        values = release.inputs["values"]
        for key, suffix in (
            ("devicePlugin", "device-plugin-config"),
            ("migManager", "mig-config"),
            ("dcgmExporter", "dcgm-metrics"),
        ):
            config_map = mocks.one("kubernetes:core/v1:ConfigMap", f"acme-gpu-operator-{suffix}")
            assert values[key]["config"]["name"] == config_map.inputs["metadata"]["name"], key
            assert config_map.inputs["metadata"]["namespace"] == "gpu-operator"
        metrics = mocks.one("kubernetes:core/v1:ConfigMap", "acme-gpu-operator-dcgm-metrics")
        assert metrics.inputs["data"] == render_dcgm_metrics_config_map()

        assert result["namespace"].value == "gpu-operator"
        assert result["summary"].value["chartVersion"] == "v26.7.0"
        listing = mirrors.stack_mirror_list()
        assert [c.chart for c in listing.charts] == ["gpu-operator"]
        assert "mirror.ncp.internal/nvcr/nvidia/driver:595.91.07-ubuntu24.04" in {
            i.image for i in listing.images
        }


# Values the chart itself consumes (Deployment of the operator, NFD subchart, whether
# the chart creates ConfigMaps); everything else is copied into the ClusterPolicy spec
# by the chart's clusterpolicy.yaml template under the same key path.
CHART_ONLY = ("operator", "nfd", "node-feature-discovery")
CHART_ONLY_CONFIG = ("devicePlugin", "migManager")


def _cluster_policy_fragment(values: dict[str, Any]) -> dict[str, Any]:
    spec = {k: copy.deepcopy(v) for k, v in values.items() if k not in CHART_ONLY}
    for key in CHART_ONLY_CONFIG:
        spec[key]["config"].pop("create")
    # The template renames the values' `gpuPodDeletion` to the CRD's `podDeletion` and
    # leaves out empty pod selectors (NVIDIA/gpu-operator@v26.7.0 deployments/
    # gpu-operator/templates/clusterpolicy.yaml, `upgradePolicy`).
    policy = spec["driver"]["upgradePolicy"]
    policy["podDeletion"] = policy.pop("gpuPodDeletion")
    for step in ("waitForCompletion", "drain"):
        if not policy[step]["podSelector"]:
            del policy[step]["podSelector"]
    return spec


class TestClusterPolicy:
    """The operand values the chart copies into the ClusterPolicy are valid CRD fields."""

    @pytest.mark.parametrize("settings", SETTINGS)
    def test_operand_values_are_valid_cluster_policy_fields(self, settings):
        values = render_gpu_operator_values(settings, AIRGAP)
        validate_custom_resource(
            "nvidia.com/v1", "ClusterPolicy", _cluster_policy_fragment(values), partial=True
        )

    def test_chart_only_keys_are_not_cluster_policy_fields(self):
        # Keeps CHART_ONLY honest: `operator.repository` is not a ClusterPolicy field.
        values = render_gpu_operator_values(GpuOperatorSettings(), Mirrors())
        with pytest.raises(AssertionError, match="'repository' was unexpected"):
            validate_custom_resource(
                "nvidia.com/v1", "ClusterPolicy", {"operator": values["operator"]}, partial=True
            )

    def test_the_values_key_is_not_the_crd_field(self):
        # Keeps the rename in _cluster_policy_fragment honest: the CRD has no
        # `gpuPodDeletion`, the chart's values.yaml no `podDeletion`.
        driver = render_gpu_operator_values(GpuOperatorSettings(), Mirrors())["driver"]
        with pytest.raises(AssertionError, match="'gpuPodDeletion' was unexpected"):
            validate_custom_resource(
                "nvidia.com/v1", "ClusterPolicy", {"driver": driver}, partial=True
            )
        assert "podDeletion" not in _upstream_values()["driver"]["upgradePolicy"]

    def test_bad_enum_value_fails(self):
        values = render_gpu_operator_values(
            GpuOperatorSettings(driver=DriverSettings(kernel_module_type="closed")), Mirrors()
        )
        with pytest.raises(AssertionError, match="'closed' is not one of"):
            validate_custom_resource(
                "nvidia.com/v1", "ClusterPolicy", _cluster_policy_fragment(values), partial=True
            )
