"""`ControlPlane` under mocks: resources, names, parents, providers and secrecy per backend."""

from __future__ import annotations

import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pulumi
import pytest
import yaml

from components.cluster import (
    ControlPlane,
    ControlPlaneArgs,
    ControlPlaneBackend,
    ControlPlaneSize,
    ExternalArgs,
    HostedArgs,
    KubeadmArgs,
)
from components.cluster.control_plane import FETCH_ADMIN_KUBECONFIG, readyz_script
from tests.components.cluster.helpers import (
    ISV_KUBECONFIG,
    MANAGEMENT_KUBECONFIG,
    SECRETS,
    TENANT_KUBECONFIG,
    command_outputs,
    host,
)
from tests.support.mocks import UNKNOWN, RecordingMocks, run
from tests.support.upstream import validate_custom_resource

CP = "gpu-caas:cluster:ControlPlane"
REMOTE = "command:remote:Command"
LOCAL = "command:local:Command"


def _program(args_factory: Callable[[], ControlPlaneArgs]) -> Callable[[], dict[str, Any]]:
    def program() -> dict[str, Any]:
        cp = ControlPlane("acme-control-plane", args_factory())
        return {
            "kubeconfig": cp.kubeconfig,
            "endpoint": cp.api_endpoint,
            "version": cp.kubernetes_version,
        }

    return program


def _kubeadm(ha: bool) -> ControlPlaneArgs:
    hosts = [host(f"cp-{i}", f"10.0.0.{10 + i}", rack="r1") for i in range(3 if ha else 1)]
    return ControlPlaneArgs(
        cluster_name="acme",
        kubernetes_version="1.34.2",
        backend=ControlPlaneBackend.KUBEADM,
        ha=ha,
        size=ControlPlaneSize.MEDIUM,
        kubeadm=KubeadmArgs(
            hosts=hosts,
            endpoint="api.acme.example" if ha else None,
            joining_hosts=["cp-0", "cp-1", "cp-2", "gpu-0"] if ha else ["cp-0"],
        ),
    )


def _hosted() -> ControlPlaneArgs:
    return ControlPlaneArgs(
        cluster_name="acme",
        kubernetes_version="1.34.2",
        backend=ControlPlaneBackend.HOSTED,
        ha=True,
        hosted=HostedArgs(
            management_kubeconfig=pulumi.Output.secret(MANAGEMENT_KUBECONFIG),
            namespace="tenant-acme",
            data_store="etcd-gold",
        ),
    )


def _external() -> ControlPlaneArgs:
    return ControlPlaneArgs(
        cluster_name="acme",
        kubernetes_version="1.34.2",
        backend=ControlPlaneBackend.EXTERNAL,
        external=ExternalArgs(kubeconfig=pulumi.Output.secret(ISV_KUBECONFIG)),
    )


def _assert_no_leaks(mocks: RecordingMocks) -> None:
    for secret in SECRETS:
        assert mocks.leaks(secret) == [], secret


class TestKubeadm:
    def test_ha_inits_first_host_mints_a_token_and_joins_the_others(self) -> None:
        mocks = RecordingMocks(command_outputs)
        out = run(_program(lambda: _kubeadm(ha=True)), mocks)
        cp = mocks.one(CP, "acme-control-plane")
        assert sorted(mocks.names(REMOTE)) == [
            "acme-control-plane-init",
            "acme-control-plane-join-cp-1",
            "acme-control-plane-join-cp-2",
            "acme-control-plane-join-token",
            "acme-control-plane-upgrade-cp-0",
            "acme-control-plane-upgrade-cp-1",
            "acme-control-plane-upgrade-cp-2",
        ]
        for command in mocks.of_type(REMOTE):
            assert command.parent == cp.urn
            assert command.is_secret("connection.privateKey")
        init = mocks.one(REMOTE, "acme-control-plane-init")
        assert init.inputs["connection"]["host"] == "10.0.0.10"
        assert "kubeadm init" in init.inputs["create"]
        assert "kubeadm reset" in init.inputs["delete"]
        _, cluster = yaml.safe_load_all(init.inputs["stdin"])
        assert cluster["controlPlaneEndpoint"] == "api.acme.example:6443"
        token = mocks.one(REMOTE, "acme-control-plane-join-token")
        assert token.inputs["triggers"] == ["cp-0", "cp-1", "cp-2", "gpu-0"]
        assert init.urn in token.dependencies
        join = mocks.one(REMOTE, "acme-control-plane-join-cp-1")
        assert join.is_secret("stdin")
        config = yaml.safe_load(join.inputs["stdin"])
        assert config["controlPlane"]["localAPIEndpoint"]["advertiseAddress"] == "10.0.0.11"
        assert config["discovery"]["bootstrapToken"]["apiServerEndpoint"] == "api.acme.example:6443"
        assert out["kubeconfig"].value == TENANT_KUBECONFIG
        assert out["kubeconfig"].secret
        assert (out["endpoint"].value, out["endpoint"].secret) == (
            "https://api.acme.example:6443",
            False,
        )
        assert out["version"].value == "1.34.2"
        _assert_no_leaks(mocks)

    def test_single_host_has_no_control_plane_joins(self) -> None:
        mocks = RecordingMocks(command_outputs)
        run(_program(lambda: _kubeadm(ha=False)), mocks)
        assert sorted(mocks.names(REMOTE)) == [
            "acme-control-plane-init",
            "acme-control-plane-join-token",
            "acme-control-plane-upgrade-cp-0",
        ]
        token = mocks.one(REMOTE, "acme-control-plane-join-token")
        assert "upload-certs" not in token.inputs["create"]
        assert "stdin" not in token.inputs

    def test_kubeconfig_is_unknown_on_a_first_preview(self) -> None:
        out = run(_program(lambda: _kubeadm(ha=False)), RecordingMocks(), preview=True)
        assert not out["kubeconfig"].known


class TestHosted:
    def test_kamaji_tenant_control_plane_on_the_management_cluster(self) -> None:
        mocks = RecordingMocks(command_outputs)
        out = run(_program(_hosted), mocks)
        cp = mocks.one(CP, "acme-control-plane")
        management = mocks.one("pulumi:providers:kubernetes", "acme-control-plane-management")
        assert management.parent == cp.urn
        assert management.is_secret("kubeconfig")
        assert management.inputs["clusterIdentifier"] == "gpu-caas/acme/management"
        gate = mocks.one(LOCAL, "acme-control-plane-management-readyz")
        assert gate.parent == cp.urn
        assert gate.is_secret("environment.KUBECONFIG_DATA")
        assert gate.urn in management.dependencies
        assert "-ge" not in gate.inputs["create"]  # any management version
        namespace = mocks.one("kubernetes:core/v1:Namespace", "acme-control-plane-namespace")
        tcp = mocks.one(
            "kubernetes:kamaji.clastix.io/v1alpha1:TenantControlPlane", "acme-control-plane-tcp"
        )
        for resource in (namespace, tcp):
            assert resource.parent == cp.urn
            assert resource.provider_urn == management.urn
        assert namespace.inputs["metadata"]["name"] == "tenant-acme"
        assert tcp.inputs["metadata"] == {
            "name": "acme",
            "namespace": "tenant-acme",
            "labels": {"gpu-caas.io/tenant": "acme"},
        }
        validate_custom_resource(tcp.inputs["apiVersion"], tcp.inputs["kind"], tcp.inputs["spec"])
        assert tcp.inputs["spec"]["controlPlane"]["deployment"]["replicas"] == 3
        assert tcp.inputs["spec"]["dataStore"] == "etcd-gold"
        fetch = mocks.one(LOCAL, "acme-control-plane-admin-kubeconfig")
        assert fetch.parent == cp.urn
        assert tcp.urn in fetch.dependencies
        assert fetch.is_secret("environment.KUBECONFIG_DATA")
        assert fetch.inputs["environment"]["TCP_NAME"] == "acme"
        assert "$KUBECONFIG_DATA" in fetch.inputs["create"]
        assert "acme-admin-kubeconfig" not in fetch.inputs["create"]  # name from env
        assert out["kubeconfig"].secret
        assert out["endpoint"].value == "https://api.acme.example:6443"
        _assert_no_leaks(mocks)

    def test_first_preview_contacts_neither_cluster(self) -> None:
        mocks = RecordingMocks()
        out = run(_program(_hosted), mocks, preview=True)
        assert not out["kubeconfig"].known
        management = mocks.one("pulumi:providers:kubernetes", "acme-control-plane-management")
        # Unknown kubeconfig: the provider stays offline on a first preview.
        assert management.inputs["kubeconfig"] == UNKNOWN


class TestExternal:
    def test_readiness_check_gates_the_kubeconfig(self) -> None:
        mocks = RecordingMocks(command_outputs)
        out = run(_program(_external), mocks)
        assert sorted(r.type for r in mocks.resources) == [LOCAL, CP]
        ready = mocks.one(LOCAL, "acme-control-plane-readyz")
        assert ready.is_secret("environment.KUBECONFIG_DATA")
        assert "/readyz" in ready.inputs["create"]
        assert "-ge 34" in ready.inputs["create"]
        assert out["kubeconfig"].value == ISV_KUBECONFIG
        assert out["kubeconfig"].secret
        assert out["endpoint"].value == "https://api.isv.example"
        _assert_no_leaks(mocks)

    def test_kubeconfig_unknown_until_the_cluster_answered(self) -> None:
        out = run(_program(_external), RecordingMocks(), preview=True)
        assert not out["kubeconfig"].known


@pytest.mark.parametrize(
    ("backend", "message"),
    [
        (ControlPlaneBackend.HOSTED, "needs ControlPlaneArgs.hosted"),
        (ControlPlaneBackend.KUBEADM, "needs ControlPlaneArgs.kubeadm"),
        (ControlPlaneBackend.EXTERNAL, "needs ControlPlaneArgs.external"),
    ],
)
def test_backend_settings_are_required(backend: ControlPlaneBackend, message: str) -> None:
    args = ControlPlaneArgs(cluster_name="acme", kubernetes_version="1.34.2", backend=backend)
    with pytest.raises(ValueError, match=message):
        run(_program(lambda: args), RecordingMocks())


@pytest.mark.parametrize(
    "script",
    [FETCH_ADMIN_KUBECONFIG, readyz_script(), readyz_script(None)],
    ids=["fetch-admin-kubeconfig", "readyz-version", "readyz"],
)
def test_local_scripts_are_valid_shell_and_read_secrets_from_the_environment(
    script: str, tmp_path: Path
) -> None:
    path = tmp_path / "script.sh"
    path.write_text(script)
    assert subprocess.run(["sh", "-n", str(path)], check=False).returncode == 0
    assert script.startswith("set -eu\numask 077\n")
    assert 'printf \'%s\' "$KUBECONFIG_DATA" > "$kc"' in script
