"""`services` config: defaults, vocabularies and the cross-field rules."""

from __future__ import annotations

import copy
from typing import Any

import pytest
from pydantic import ValidationError

from stacks.config import TenantConfig
from stacks.config.gpu_quota import group_gpus
from stacks.config.services import (
    ClusterServicesConfig,
    TopologyLevel,
    dcgm_service_monitor,
    effective_cni_plugin,
    effective_pod_cidr,
    effective_topology_levels,
    services_rules,
    services_warnings,
)

CAPI_CLASS = {"group": "karpenter.cluster.x-k8s.io", "kind": "ClusterAPINodeClass", "name": "gpu"}


def host(
    name: str,
    rack: str | None = None,
    domain: str | None = None,
    gpus: int = 8,
    rails: list[str] | None = None,
) -> dict[str, Any]:
    topology: dict[str, Any] = {
        k: v for k, v in (("rack", rack), ("nvlinkDomain", domain), ("rails", rails)) if v
    }
    return {
        "name": name,
        "address": f"10.0.0.{len(name)}",
        "ssh": {"user": "root", "privateKey": {"secure": "v1:abc"}},
        "gpu": {"model": "GB200-186GB", "count": gpus},
        "topology": topology,
    }


BASE: dict[str, Any] = {
    "name": "acme",
    "flavor": "ncp-managed",
    "kubernetes": {"version": "1.34.2"},
    "hosts": [
        host("gpu-0", rack="r1", domain="nvl-a"),
        host("gpu-1", rack="r1", domain="nvl-a"),
        host("gpu-2", rack="r2", domain="nvl-b"),
    ],
    "nodeGroups": [{"name": "gb200", "hosts": ["gpu-0", "gpu-1", "gpu-2"]}],
    "teams": [
        {"name": "research", "gpuQuota": 4, "namespaces": ["research", "research-dev"]},
        {"name": "inference", "gpuQuota": 8},
        {"name": "sandbox"},
    ],
}


def tenant(services: dict[str, Any] | None = None, **changes: Any) -> TenantConfig:
    raw = copy.deepcopy(BASE)
    raw.update(changes)
    if services is not None:
        raw["services"] = services
    return TenantConfig.model_validate(raw)


PROMETHEUS_STORAGE = "gpu-caas:tenant.services.observability.prometheus.storageClass"
NVSENTINEL_STORAGE = "gpu-caas:tenant.services.nodeHealth.engine"
STORAGE_WARNINGS = (PROMETHEUS_STORAGE, NVSENTINEL_STORAGE)


def other_warnings(config: TenantConfig) -> list[tuple[str, str]]:
    """Warnings except the default-StorageClass ones (the default config raises them;
    they are tested on their own)."""
    return [w for w in services_warnings(config) if w[0] not in STORAGE_WARNINGS]


def paths(problems: list[tuple[str, str]]) -> list[str]:
    return [path for path, _ in problems]


class TestDefaults:
    def test_empty_section_is_valid_and_conservative(self):
        config = tenant()
        assert services_rules(config) == []
        services = config.services
        assert services.scheduler.enabled and services.scheduler.topology_aware
        assert not services.autoscaling.enabled
        assert effective_cni_plugin(config).value == "cilium"
        assert services.cni.multus_compatible
        assert services.observability.prometheus.mode.value == "stack"
        assert services.node_health.engine.value == "nvsentinel"
        assert services.node_health.remediation.value == "drain"
        assert services.autoscaling.consolidation.expire_after == "Never"

    def test_camel_case_keys_and_unknown_keys_rejected(self):
        parsed = ClusterServicesConfig.model_validate(
            {"nodeHealth": {"maxUnhealthyPercent": 20}, "cni": {"podCidr": "10.8.0.0/14"}}
        )
        assert parsed.node_health.max_unhealthy_percent == 20
        with pytest.raises(ValidationError, match="extra"):
            ClusterServicesConfig.model_validate({"cni": {"podCIDR": "10.8.0.0/14"}})

    @pytest.mark.parametrize(
        "section",
        [
            {"scheduler": {"topologyLevels": ["hostname", "rack"]}},
            {"scheduler": {"topologyLevels": ["rack", "rack"]}},
            {"scheduler": {"topologyLevels": []}},
            {"scheduler": {"topologyLevels": ["rail", "hostname"]}},
            {"autoscaling": {"consolidation": {"consolidateAfter": "5 minutes"}}},
            {"autoscaling": {"consolidation": {"budgets": [{"nodes": "110%"}]}}},
            {"autoscaling": {"consolidation": {"budgets": [{"nodes": "1", "schedule": "@daily"}]}}},
            {"cni": {"plugin": "flannel"}},
            {"nodeHealth": {"remediation": "pray"}},
            {"observability": {"alerts": {"criticalXids": [0]}}},
        ],
    )
    def test_invalid_values(self, section):
        with pytest.raises(ValidationError):
            ClusterServicesConfig.model_validate(section)

    def test_rail_is_no_topology_level(self):
        assert [level.value for level in TopologyLevel] == [
            "zone",
            "rack",
            "nvlink-domain",
            "hostname",
        ]
        with pytest.raises(ValidationError, match="there is no rail level"):
            ClusterServicesConfig.model_validate({"scheduler": {"topologyLevels": ["rail"]}})


class TestRules:
    @pytest.mark.parametrize(
        ("services", "path"),
        [
            (
                {"cni": {"kubeProxyReplacement": True}},
                "gpu-caas:tenant.services.cni.apiServerHost",
            ),
            (
                {"cni": {"plugin": "calico", "kubeProxyReplacement": True, "apiServerHost": "a"}},
                "gpu-caas:tenant.services.cni.kubeProxyReplacement",
            ),
            (
                {"cni": {"podCidr": "10.244.0.0/24", "nodeMaskSize": 24}},
                "gpu-caas:tenant.services.cni.nodeMaskSize",
            ),
            (
                {"cni": {"podCidr": "10.8.0.0/14"}},
                "gpu-caas:tenant.services.cni.podCidr",
            ),
            (
                {"csi": {"sharedDatasets": {"driver": "nfs"}}},
                "gpu-caas:tenant.services.csi.sharedDatasets.nfs",
            ),
            (
                {"csi": {"sharedDatasets": {"driver": "external"}}},
                "gpu-caas:tenant.services.csi.sharedDatasets.provisioner",
            ),
            (
                {"csi": {"localScratch": {"driver": "external"}}},
                "gpu-caas:tenant.services.csi.localScratch.provisioner",
            ),
            (
                {"observability": {"otel": {"exporterEndpoint": "https://otel/v1"}}},
                "gpu-caas:tenant.services.observability.otel.exporterEndpoint",
            ),
            (
                {"autoscaling": {"enabled": True, "controller": {"install": True}}},
                "gpu-caas:tenant.services.autoscaling.controller.install",
            ),
        ],
    )
    def test_services_errors(self, services, path):
        assert paths(services_rules(tenant(services))) == [path]

    @pytest.mark.parametrize(
        ("cluster", "cni", "expected", "problems"),
        [
            ("10.64.0.0/16", None, "10.64.0.0/16", []),
            ("10.64.0.0/16", "10.64.128.0/17", "10.64.128.0/17", []),
            ("10.64.0.0/16", "10.244.0.0/16", "10.244.0.0/16", ["cni.podCidr"]),
            ("10.64.0.0/24", None, "10.64.0.0/24", ["cni.nodeMaskSize"]),
        ],
    )
    def test_the_cni_pod_range_follows_the_cluster(self, cluster, cni, expected, problems):
        """Cilium's cluster pool is the cluster's pod range unless set inside it (the
        h100-training example sets only kubernetes.podCidr)."""
        services = {"cni": {"podCidr": cni}} if cni else {}
        config = tenant(services, kubernetes={"version": "1.34.2", "podCidr": cluster})
        assert effective_pod_cidr(config.services.cni, config.kubernetes.pod_cidr) == expected
        assert paths(services_rules(config)) == [f"gpu-caas:tenant.services.{p}" for p in problems]

    @pytest.mark.parametrize(
        ("mode", "service_monitor", "monitor_labels", "effective", "problems"),
        [
            ("stack", None, {}, True, []),
            ("external", None, {"prometheus": "central"}, True, []),
            ("off", None, {}, False, []),
            ("off", False, {}, False, []),
            ("stack", False, {}, False, []),
            ("off", True, {}, True, ["gpu-caas:tenant.gpu.operator.dcgmExporter.serviceMonitor"]),
            (
                "stack",
                None,
                {"prometheus": "central"},
                True,
                ["gpu-caas:tenant.services.observability.prometheus.monitorLabels"],
            ),
        ],
    )
    def test_scrape_settings_follow_the_prometheus_mode(
        self, mode, service_monitor, monitor_labels, effective, problems
    ):
        prometheus: dict[str, Any] = {"mode": mode}
        if monitor_labels:
            prometheus["monitorLabels"] = monitor_labels
        exporter = {} if service_monitor is None else {"serviceMonitor": service_monitor}
        config = tenant(
            {"observability": {"prometheus": prometheus}},
            gpu={"operator": {"dcgmExporter": exporter}},
        )
        assert dcgm_service_monitor(config) is effective
        assert paths(services_rules(config)) == problems

    def test_autoscaled_groups_need_karpenter(self):
        groups = [
            *BASE["nodeGroups"],
            {
                "name": "burst",
                "autoscale": {
                    "maxNodes": 2,
                    "gpu": {"model": "H100-80GB", "count": 8},
                    "nodeClass": CAPI_CLASS,
                },
            },
        ]
        problems = services_rules(tenant(nodeGroups=groups))
        assert paths(problems) == ["gpu-caas:tenant.services.autoscaling.enabled"]
        assert "burst" in problems[0][1]
        assert services_rules(tenant({"autoscaling": {"enabled": True}}, nodeGroups=groups)) == []

    def test_node_class_must_match_provider(self):
        aws = {"group": "karpenter.k8s.aws", "kind": "EC2NodeClass", "name": "gpu"}
        groups = [
            {
                "name": "burst",
                "autoscale": {
                    "maxNodes": 2,
                    "gpu": {"model": "H100-80GB", "count": 8},
                    "nodeClass": aws,
                },
            }
        ]
        problems = services_rules(tenant({"autoscaling": {"enabled": True}}, nodeGroups=groups))
        assert paths(problems) == ["gpu-caas:tenant.nodeGroups[0].autoscale.nodeClass"]
        assert "ClusterAPINodeClass" in problems[0][1]
        custom = {"autoscaling": {"enabled": True, "provider": "custom"}}
        assert services_rules(tenant(custom, nodeGroups=groups)) == []
        aws_provider = {
            "autoscaling": {"enabled": True, "provider": "aws", "controller": {"install": True}}
        }
        assert services_rules(tenant(aws_provider, nodeGroups=groups)) == []

    def test_autoscaled_groups_need_gpus(self):
        groups = [{"name": "cpu", "autoscale": {"maxNodes": 2, "nodeClass": CAPI_CLASS}}]
        problems = services_rules(tenant({"autoscaling": {"enabled": True}}, nodeGroups=groups))
        assert paths(problems) == ["gpu-caas:tenant.nodeGroups[0].autoscale.gpu"]


class TestWarnings:
    def test_volumes_need_a_default_storage_class(self):
        assert paths(services_warnings(tenant())) == [PROMETHEUS_STORAGE, NVSENTINEL_STORAGE]
        node_health_off = {"nodeHealth": {"engine": "off"}}
        for services in (
            {"observability": {"prometheus": {"storageClass": "fast-ssd"}}, **node_health_off},
            {"observability": {"prometheus": {"storageSize": None}}, **node_health_off},
            {"observability": {"prometheus": {"mode": "external"}}, **node_health_off},
            {
                "csi": {
                    "sharedDatasets": {
                        "driver": "external",
                        "provisioner": "csi.weka.io",
                        "defaultClass": True,
                    }
                }
            },
        ):
            assert services_warnings(tenant(services)) == [], services

    def test_min_nodes_is_ignored_by_karpenter(self):
        groups = [
            {
                "name": "b",
                "autoscale": {
                    "minNodes": 1,
                    "maxNodes": 2,
                    "gpu": {"model": "H100-80GB", "count": 8},
                    "nodeClass": CAPI_CLASS,
                },
            }
        ]
        warnings = other_warnings(tenant({"autoscaling": {"enabled": True}}, nodeGroups=groups))
        assert "gpu-caas:tenant.nodeGroups[0].autoscale.minNodes" in paths(warnings)

    def test_topology_that_does_not_nest(self):
        hosts = [host("gpu-0", rack="r1", domain="nvl-a"), host("gpu-1", rack="r2", domain="nvl-a")]
        groups = [{"name": "g", "hosts": ["gpu-0", "gpu-1"]}]
        # A domain spanning two racks nests under... nothing when the rack is listed first.
        config = tenant(
            {"scheduler": {"topologyLevels": ["rack", "nvlink-domain", "hostname"]}},
            hosts=hosts,
            nodeGroups=groups,
        )
        warnings = other_warnings(config)
        assert paths(warnings) == ["gpu-caas:tenant.services.scheduler.topologyLevels"]
        assert "nvl-a spans racks r1, r2" in warnings[0][1]
        # The default order (NVLink domain widest) nests.
        assert other_warnings(tenant(hosts=hosts, nodeGroups=groups)) == []

    def test_nothing_watches_gpus(self):
        config = tenant(
            {"observability": {"prometheus": {"mode": "off"}}, "nodeHealth": {"engine": "off"}}
        )
        assert paths(other_warnings(config)) == [
            "gpu-caas:tenant.services.observability.prometheus.mode"
        ]

    def test_generic_janitor_cannot_replace(self):
        config = tenant({"nodeHealth": {"remediation": "replace"}})
        assert paths(other_warnings(config)) == [
            "gpu-caas:tenant.services.nodeHealth.janitorProvider"
        ]


class TestCniDefault:
    @pytest.mark.parametrize(
        ("flavor", "plugin", "expected"),
        [
            ("ncp-managed", None, "cilium"),
            ("tenant-managed", None, "cilium"),
            ("isv-managed", None, "external"),
            ("isv-managed", "cilium", "cilium"),
            ("ncp-managed", "calico", "calico"),
        ],
    )
    def test_flavor_default(self, flavor, plugin, expected):
        services = {"cni": {"plugin": plugin}} if plugin else None
        assert effective_cni_plugin(tenant(services, flavor=flavor)).value == expected

    def test_kube_proxy_replacement_needs_cilium_on_isv_clusters(self):
        services = {"cni": {"kubeProxyReplacement": True, "apiServerHost": "api.isv"}}
        problems = services_rules(tenant(services, flavor="isv-managed"))
        assert paths(problems) == ["gpu-caas:tenant.services.cni.kubeProxyReplacement"]
        assert "external" in problems[0][1]


class TestHelpers:
    def test_capacity(self):
        groups = [
            *BASE["nodeGroups"],
            {
                "name": "burst",
                "autoscale": {
                    "maxNodes": 3,
                    "gpu": {"model": "H100-80GB", "count": 8},
                    "nodeClass": CAPI_CLASS,
                },
            },
        ]
        config = tenant(nodeGroups=groups)
        autoscaled = {g.name for g in config.node_groups if g.autoscale is not None}
        gpus = group_gpus(config)
        assert sum(g.gpus for g in gpus if g.name not in autoscaled) == 24
        assert sum(g.gpus for g in gpus if g.name in autoscaled) == 24

    def test_hosts_outside_node_groups_do_not_count(self):
        config = tenant(nodeGroups=[{"name": "g", "hosts": ["gpu-0"]}])
        assert sum(g.gpus for g in group_gpus(config)) == 8

    @pytest.mark.parametrize(
        ("hosts", "levels", "expected"),
        [
            (None, None, (TopologyLevel.NVLINK_DOMAIN, TopologyLevel.RACK, TopologyLevel.HOSTNAME)),
            ([host("gpu-0", rack="r1")], None, (TopologyLevel.RACK, TopologyLevel.HOSTNAME)),
            ([host("gpu-0")], None, ()),
            ([host("gpu-0")], ["zone", "hostname"], (TopologyLevel.ZONE, TopologyLevel.HOSTNAME)),
            # Rails are no level: a host on rails a and b is in no single rail domain.
            ([host("gpu-0", rails=["a", "b"])], None, ()),
            (
                [host("gpu-0", rack="r1", rails=["a", "b"])],
                None,
                (TopologyLevel.RACK, TopologyLevel.HOSTNAME),
            ),
        ],
    )
    def test_effective_topology_levels(self, hosts, levels, expected):
        changes = {}
        if hosts is not None:
            changes = {
                "hosts": hosts,
                "nodeGroups": [{"name": "g", "hosts": [h["name"] for h in hosts]}],
            }
        services = {"scheduler": {"topologyLevels": levels}} if levels else None
        assert effective_topology_levels(tenant(services, **changes)) == expected
