"""Kamaji TenantControlPlane spec, validated against the upstream CRD."""

from __future__ import annotations

from typing import Any

import pytest

from components.cluster import kamaji
from components.cluster.sizing import hosted_sizing
from components.cluster.types import ControlPlaneSize
from tests.support.upstream import validate_custom_resource


def _spec(ha: bool, **kw: object) -> dict[str, Any]:
    return kamaji.tenant_control_plane_spec(
        name="acme",
        version="1.34.2",
        sizing=hosted_sizing(ControlPlaneSize.MEDIUM, ha),
        service_type="LoadBalancer",
        pod_cidr="10.244.0.0/16",
        service_cidr="10.96.0.0/16",
        **kw,  # type: ignore[arg-type]
    )


@pytest.mark.parametrize(
    ("ha", "kw"),
    [
        (False, {}),
        (True, {}),
        (True, {"data_store": "etcd-gold", "address": "203.0.113.10"}),
    ],
)
def test_spec_is_valid_against_the_crd(ha: bool, kw: dict[str, Any]) -> None:
    validate_custom_resource(kamaji.API_VERSION, kamaji.KIND, _spec(ha, **kw))


def test_ha_runs_three_spread_replicas() -> None:
    deployment = _spec(True)["controlPlane"]["deployment"]
    assert deployment["replicas"] == 3
    assert deployment["topologySpreadConstraints"][0]["labelSelector"] == {
        "matchLabels": {"kamaji.clastix.io/name": "acme"}
    }
    assert "topologySpreadConstraints" not in _spec(False)["controlPlane"]["deployment"]


def test_spec_values() -> None:
    spec = _spec(False, data_store="etcd-gold", address="203.0.113.10")
    assert spec["kubernetes"]["version"] == "v1.34.2"
    assert spec["dataStore"] == "etcd-gold"
    assert spec["networkProfile"]["address"] == "203.0.113.10"
    assert spec["networkProfile"]["certSANs"] == ["203.0.113.10"]
    assert spec["controlPlane"]["service"] == {"serviceType": "LoadBalancer"}
    assert spec["controlPlane"]["deployment"]["extraArgs"]["apiServer"] == [
        "--max-mutating-requests-inflight=400",
        "--max-requests-inflight=800",
    ]
    assert spec["addons"]["konnectivity"] == {"server": {"port": 8132}}
    assert "dataStore" not in _spec(False)


def test_admin_kubeconfig_secret_name() -> None:
    assert kamaji.admin_kubeconfig_secret("acme") == "acme-admin-kubeconfig"
