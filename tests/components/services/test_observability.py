"""Observability: DCGM alert expressions, PrometheusRule structure, chart values."""

from __future__ import annotations

from typing import Any

import pytest

from components.mirrors import Mirrors
from components.services import observability as obs
from tests.components.services.conftest import assert_component_children, run, tenant_provider
from tests.components.services.documented_values import (
    KUBE_PROMETHEUS_STACK_KEYS,
    KUBE_PROMETHEUS_STACK_LEAVES,
    OTEL_KEYS,
    OTEL_LEAVES,
    assert_keys_documented,
)
from tests.components.services.schemas import PROMETHEUS_RULE_SPEC, validate

DEFAULT_THRESHOLDS = obs.Thresholds()


def rules(thresholds: obs.Thresholds = DEFAULT_THRESHOLDS) -> dict[str, dict[str, Any]]:
    return {rule["alert"]: rule for rule in obs.render_alert_rules(thresholds)}


class TestAlertExpressions:
    @pytest.mark.parametrize(
        ("xids", "expected"),
        [
            ((79,), "DCGM_FI_DEV_XID_ERRORS == 79"),
            ((79, 48, 79), "DCGM_FI_DEV_XID_ERRORS == 48 or DCGM_FI_DEV_XID_ERRORS == 79"),
        ],
    )
    def test_xid_match(self, xids, expected):
        assert obs.xid_match_expr(xids) == expected

    def test_xid_match_needs_codes(self):
        with pytest.raises(ValueError):
            obs.xid_match_expr(())

    def test_every_dcgm_field_read_is_required(self):
        text = " ".join(rule["expr"] for rule in obs.render_alert_rules(obs.Thresholds()))
        read = {
            token
            for token in text.replace("(", " ").replace(")", " ").split()
            if token.startswith("DCGM_FI_")
        }
        read = {token.split("[")[0] for token in read}
        assert read == set(obs.REQUIRED_DCGM_FIELDS)

    @pytest.mark.parametrize(
        ("alert", "severity", "expr"),
        [
            (
                "GpuXidCritical",
                "critical",
                "max by (Hostname, gpu, UUID, modelName) (DCGM_FI_DEV_XID_ERRORS == 48 or "
                "DCGM_FI_DEV_XID_ERRORS == 79)",
            ),
            (
                "GpuXidError",
                "warning",
                "max by (Hostname, gpu, UUID, modelName) (DCGM_FI_DEV_XID_ERRORS > 0 unless "
                "(DCGM_FI_DEV_XID_ERRORS == 48 or DCGM_FI_DEV_XID_ERRORS == 79))",
            ),
            (
                "GpuEccUncorrectable",
                "critical",
                "max by (Hostname, gpu, UUID, modelName) (DCGM_FI_DEV_ECC_DBE_VOL_TOTAL) > 0",
            ),
            (
                "GpuEccCorrectableRateHigh",
                "warning",
                "max by (Hostname, gpu, UUID, modelName) "
                "(increase(DCGM_FI_DEV_ECC_SBE_VOL_TOTAL[1h])) > 50",
            ),
            (
                "GpuTemperatureHigh",
                "warning",
                "max by (Hostname, gpu, UUID, modelName) (DCGM_FI_DEV_GPU_TEMP) > 80",
            ),
            (
                "GpuMemoryTemperatureHigh",
                "warning",
                "max by (Hostname, gpu, UUID, modelName) (DCGM_FI_DEV_MEMORY_TEMP) > 90",
            ),
            (
                "GpuThermalThrottling",
                "warning",
                "max by (Hostname, gpu, UUID, modelName) "
                "(rate(DCGM_FI_DEV_THERMAL_VIOLATION[5m])) > 250000000",
            ),
        ],
    )
    def test_thresholds_rendered(self, alert, severity, expr):
        thresholds = obs.Thresholds(
            gpu_temp_celsius=80,
            memory_temp_celsius=90,
            ecc_sbe_per_hour=50,
            throttle_fraction=0.25,
            critical_xids=(79, 48),
        )
        rule = rules(thresholds)[alert]
        assert rule["expr"] == expr
        assert rule["labels"]["severity"] == severity

    def test_conditions_hold_for_a_while_events_fire_at_once(self):
        by_name = rules()
        for name in ("GpuTemperatureHigh", "GpuMemoryTemperatureHigh", "GpuThermalThrottling"):
            assert by_name[name]["for"] == "5m"
        for name in ("GpuXidCritical", "GpuEccUncorrectable", "GpuRowRemapFailure"):
            assert "for" not in by_name[name]

    def test_missing_ecc_counters_are_detected(self):
        rule = rules()["DcgmEccMetricsMissing"]
        assert "unless on()" in rule["expr"]
        assert "DCGM_FI_DEV_ECC_DBE_VOL_TOTAL" in rule["expr"]

    def test_rule_spec_matches_schema(self):
        validate(obs.render_prometheus_rule(obs.Thresholds()), PROMETHEUS_RULE_SPEC)

    def test_schema_rejects_a_typo(self):
        spec = obs.render_prometheus_rule(obs.Thresholds())
        spec["groups"][0]["rules"][0]["expression"] = "up"
        with pytest.raises(AssertionError, match="expression"):
            validate(spec, PROMETHEUS_RULE_SPEC)


class TestValues:
    @pytest.mark.parametrize(("storage_class", "grafana"), [(None, False), ("fast-ssd", True)])
    def test_prometheus_stack_keys_documented(self, storage_class, grafana):
        values = obs.render_prometheus_stack_values(
            obs.PrometheusSettings(storage_class=storage_class, grafana=grafana), Mirrors()
        )
        assert_keys_documented(values, KUBE_PROMETHEUS_STACK_KEYS, KUBE_PROMETHEUS_STACK_LEAVES)

    def test_prometheus_without_storage_uses_empty_dir(self):
        values = obs.render_prometheus_stack_values(
            obs.PrometheusSettings(storage_size=None), Mirrors()
        )
        assert "storageSpec" not in values["prometheus"]["prometheusSpec"]
        with_class = obs.render_prometheus_stack_values(
            obs.PrometheusSettings(storage_class="fast-ssd"), Mirrors()
        )
        claim = with_class["prometheus"]["prometheusSpec"]["storageSpec"]["volumeClaimTemplate"]
        assert claim["spec"]["storageClassName"] == "fast-ssd"
        assert claim["spec"]["resources"] == {"requests": {"storage": "100Gi"}}

    def test_prometheus_selects_rules_from_every_namespace(self):
        spec = obs.render_prometheus_stack_values(obs.PrometheusSettings(), Mirrors())
        prometheus = spec["prometheus"]["prometheusSpec"]
        assert prometheus["ruleSelectorNilUsesHelmValues"] is False
        assert prometheus["serviceMonitorSelectorNilUsesHelmValues"] is False

    def test_prometheus_registries_follow_mirrors(self):
        mirrors = Mirrors(image_registries={"quay.io": "m/quay", "registry.k8s.io": "m/k8s"})
        values = obs.render_prometheus_stack_values(obs.PrometheusSettings(), mirrors)
        assert values["prometheusOperator"]["image"]["registry"] == "m/quay"
        assert values["kube-state-metrics"]["image"]["registry"] == "m/k8s"

    @pytest.mark.parametrize("endpoint", [None, "otel.ncp.internal:4317"])
    def test_otel_keys_documented(self, endpoint):
        values = obs.render_otel_values(obs.OtelSettings(exporter_endpoint=endpoint), Mirrors())
        assert_keys_documented(values, OTEL_KEYS, OTEL_LEAVES)

    def test_otel_exports_every_signal(self):
        values = obs.render_otel_values(
            obs.OtelSettings(exporter_endpoint="otel.ncp.internal:4317"), Mirrors()
        )
        assert values["config"]["exporters"]["otlp"] == {
            "endpoint": "otel.ncp.internal:4317",
            "tls": {"insecure": False},
        }
        pipelines = values["config"]["service"]["pipelines"]
        assert {name: p["exporters"] for name, p in pipelines.items()} == {
            "traces": ["otlp"],
            "metrics": ["otlp"],
            "logs": ["otlp"],
        }
        assert "config" not in obs.render_otel_values(obs.OtelSettings(), Mirrors())


class TestComponent:
    def test_stack_mode(self, mocks):
        def build():
            return obs.Observability(
                "acme-obs",
                obs.ObservabilityArgs(provider=tenant_provider(), mirrors=Mirrors(), tenant="acme"),
            ).urn

        run(mocks, build)
        children = assert_component_children(mocks, obs.TYPE, "acme-obs")
        assert {c.name for c in children} == {
            "acme-obs-namespace",
            "acme-obs-prometheus",
            "acme-obs-gpu-rules",
            "acme-obs-otel",
        }
        rule = mocks.named("acme-obs-gpu-rules")
        assert rule.inputs["metadata"]["namespace"] == "monitoring"
        validate(rule.inputs["spec"], PROMETHEUS_RULE_SPEC)

    def test_external_mode_creates_rules_only(self, mocks):
        def build():
            return obs.Observability(
                "acme-obs",
                obs.ObservabilityArgs(
                    provider=tenant_provider(),
                    mirrors=Mirrors(),
                    tenant="acme",
                    prometheus_mode="external",
                    prometheus=obs.PrometheusSettings(rule_labels={"prometheus": "ncp-central"}),
                    otel=None,
                ),
            ).urn

        run(mocks, build)
        children = assert_component_children(mocks, obs.TYPE, "acme-obs")
        assert {c.name for c in children} == {"acme-obs-namespace", "acme-obs-gpu-rules"}
        labels = mocks.named("acme-obs-gpu-rules").inputs["metadata"]["labels"]
        assert labels == {"prometheus": "ncp-central", "gpu-caas.io/tenant": "acme"}
        namespace = mocks.named("acme-obs-namespace")
        assert (
            namespace.inputs["metadata"]["labels"]["pod-security.kubernetes.io/enforce"]
            == "restricted"
        )
