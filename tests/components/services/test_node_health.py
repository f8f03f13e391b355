"""Node health: the cordon/drain/remediation policy table for NVSentinel and NHC."""

from __future__ import annotations

from typing import Any

import pytest

from components.mirrors import Mirrors
from components.services import node_health as nh
from tests.components.services.conftest import assert_component_children, run, tenant_provider
from tests.components.services.documented_values import NVSENTINEL_KEYS, assert_keys_documented
from tests.components.services.schemas import (
    MACHINE_DELETION_TEMPLATE_SPEC,
    NODE_HEALTH_CHECK_SPEC,
    validate,
)


def settings(**overrides: Any) -> nh.RemediationSettings:
    return nh.RemediationSettings(**overrides)


class TestNvsentinel:
    @pytest.mark.parametrize("policy", nh.POLICIES)
    def test_keys_documented(self, policy):
        values = nh.render_nvsentinel_values(settings(policy=policy))
        assert_keys_documented(values, NVSENTINEL_KEYS)

    @pytest.mark.parametrize(
        ("policy", "drainer", "remediation", "terminate"),
        [
            ("cordon-only", False, False, None),
            ("drain", True, False, None),
            ("reboot", True, True, False),
            ("replace", True, True, True),
        ],
    )
    def test_policy_table(self, policy, drainer, remediation, terminate):
        values = nh.render_nvsentinel_values(settings(policy=policy))
        modules = values["global"]
        assert modules["faultQuarantine"] == {"enabled": True}
        assert modules["nodeDrainer"] == {"enabled": drainer}
        assert modules["faultRemediation"] == {"enabled": remediation}
        assert modules["janitor"] == {"enabled": remediation}
        assert ("node-drainer" in values) is drainer
        if terminate is None:
            assert "janitor" not in values
        else:
            controllers = values["janitor"]["config"]["controllers"]
            assert controllers["terminateNode"] == {"enabled": terminate}
            assert controllers["rebootNode"] == {"enabled": True}
            assert values["janitor-provider"] == {"csp": {"provider": "generic"}}

    @pytest.mark.parametrize(
        ("mode", "expected"),
        [
            ("allow-completion", "AllowCompletion"),
            ("delete-after-timeout", "DeleteAfterTimeout"),
            ("immediate", "Immediate"),
        ],
    )
    def test_drain_mode(self, mode, expected):
        values = nh.render_nvsentinel_values(settings(drain_mode=mode, drain_timeout_minutes=90))
        assert values["node-drainer"] == {
            "userNamespaces": [{"name": "*", "mode": expected}],
            "deleteAfterTimeoutMinutes": 90,
        }

    def test_circuit_breaker_and_dry_run(self):
        values = nh.render_nvsentinel_values(settings(max_unhealthy_percent=25, dry_run=True))
        assert values["fault-quarantine"]["circuitBreaker"] == {
            "enabled": True,
            "percentage": 25,
            "duration": "5m",
        }
        assert values["global"]["dryRun"] is True

    @pytest.mark.parametrize("pod_monitor", [True, False])
    def test_pod_monitors_follow_prometheus(self, pod_monitor):
        values = nh.render_nvsentinel_values(settings(pod_monitor=pod_monitor))
        assert values["podMonitor"] == {"enabled": pod_monitor}

    def test_monitors_tolerate_tainted_gpu_nodes(self):
        values = nh.render_nvsentinel_values(settings())
        assert values["global"]["tolerations"] == [{"operator": "Exists"}]

    @pytest.mark.parametrize(("field", "value"), [("policy", "nuke"), ("drain_mode", "yolo")])
    def test_rejects_unknown_vocabulary(self, field, value):
        with pytest.raises(ValueError, match="unknown"):
            nh.render_nvsentinel_values(settings(**{field: value}))


class TestNodeHealthCheck:
    @pytest.mark.parametrize("policy", nh.POLICIES)
    def test_spec_matches_schema(self, policy):
        validate(nh.render_node_health_check(settings(policy=policy)), NODE_HEALTH_CHECK_SPEC)

    @pytest.mark.parametrize(("percent", "expected"), [(10, "90%"), (49, "51%"), (100, "0%")])
    def test_min_healthy(self, percent, expected):
        assert nh.min_healthy(percent) == expected

    @pytest.mark.parametrize(
        ("policy", "kind", "paused"),
        [
            ("cordon-only", "SelfNodeRemediationTemplate", True),
            ("drain", "SelfNodeRemediationTemplate", False),
            ("reboot", "SelfNodeRemediationTemplate", False),
            ("replace", "MachineDeletionRemediationTemplate", False),
        ],
    )
    def test_policy_table(self, policy, kind, paused):
        spec = nh.render_node_health_check(
            settings(policy=policy, nhc_operator_namespace="medik8s")
        )
        assert spec["remediationTemplate"]["kind"] == kind
        assert spec["remediationTemplate"]["namespace"] == "medik8s"
        assert ("pauseRequests" in spec) is paused

    def test_selects_workers_only(self):
        selector = nh.render_node_health_check(settings())["selector"]["matchExpressions"]
        assert {
            "key": "node-role.kubernetes.io/control-plane",
            "operator": "DoesNotExist",
        } in selector

    def test_machine_deletion_template(self):
        validate(nh.render_machine_deletion_template(), MACHINE_DELETION_TEMPLATE_SPEC)


class TestComponent:
    def test_nvsentinel(self, mocks):
        def build():
            return nh.NodeHealth(
                "acme-health",
                nh.NodeHealthArgs(
                    provider=tenant_provider(),
                    mirrors=Mirrors(),
                    tenant="acme",
                    engine="nvsentinel",
                ),
            ).urn

        run(mocks, build)
        children = assert_component_children(mocks, nh.TYPE, "acme-health")
        assert {c.name for c in children} == {"acme-health-namespace", "acme-health-nvsentinel"}
        release = mocks.named("acme-health-nvsentinel")
        assert release.inputs["chart"] == "oci://ghcr.io/nvidia/nvsentinel"
        assert release.inputs["version"] == "v1.1.0"

    def test_nhc_replace(self, mocks):
        def build():
            return nh.NodeHealth(
                "acme-health",
                nh.NodeHealthArgs(
                    provider=tenant_provider(),
                    mirrors=Mirrors(),
                    tenant="acme",
                    engine="nhc",
                    settings=settings(policy="replace"),
                ),
            ).urn

        run(mocks, build)
        children = assert_component_children(mocks, nh.TYPE, "acme-health")
        assert {c.name for c in children} == {
            "acme-health-nhc",
            "acme-health-machine-deletion-template",
        }
        check = mocks.named("acme-health-nhc")
        validate(check.inputs["spec"], NODE_HEALTH_CHECK_SPEC)
        template = mocks.named("acme-health-machine-deletion-template")
        assert template.inputs["metadata"]["namespace"] == "operators"
