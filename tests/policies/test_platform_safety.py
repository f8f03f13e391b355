"""Unit tests of the platform-safety pack: each validator, clean and violating."""

from __future__ import annotations

import json
from typing import Any

import pytest
from pulumi_policy import EnforcementLevel, ResourceValidationPolicy

from components.helm import release_args
from components.isolation.kyverno import render_values
from components.mirrors import Mirrors
from components.versions import GPU_OPERATOR, KYVERNO, MATRIX, HelmChart
from policies.gpu_caas_policies import platform_safety as ps
from policies.gpu_caas_policies import secrets
from tests.policies.helpers import UNKNOWN, run, run_resource, stack

RELEASE = ps.HELM_RELEASE

PRIVATE_KEY = (
    "-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXktdjEAAAA\n"
    "-----END OPENSSH PRIVATE KEY-----"
)
KUBECONFIG = (
    "apiVersion: v1\nkind: Config\nclusters:\n- name: c\n  cluster:\n    server: https://x\n"
    "users:\n- name: admin\n  user:\n    client-key-data: LS0tLS1CRUdJTg==\n"
)


def release(
    chart: str = "kyverno",
    version: str | None = "3.9.0",
    repo: str | None = "https://kyverno.github.io/kyverno/",
    values: dict[str, Any] | None = None,
) -> dict[str, Any]:
    props: dict[str, Any] = {"chart": chart, "namespace": "kyverno", "values": values or {}}
    if version is not None:
        props["version"] = version
    if repo is not None:
        props["repositoryOpts"] = {"repo": repo}
    return props


def test_every_policy_is_mandatory_with_a_unique_name() -> None:
    names = [p.name for p in ps.POLICIES]
    assert len(names) == len(set(names))
    assert all(p.enforcement_level is EnforcementLevel.MANDATORY for p in ps.POLICIES)


def release_props(chart: HelmChart, values: dict[str, Any], mirrors: Mirrors) -> dict[str, Any]:
    """The Release inputs `components.helm` sends for `chart` (as the engine shows them)."""
    args: Any = release_args(chart, values, "ns", mirrors)
    props: dict[str, Any] = {"chart": args.chart, "version": args.version, "values": values}
    if args.repository_opts is not None:
        props["repositoryOpts"] = {"repo": args.repository_opts.repo}
    return props


class TestHelm:
    def test_every_chart_in_the_matrix_passes_both_helm_policies(self) -> None:
        # What components.helm actually sends, for every pinned chart: no false positive.
        for component in MATRIX:
            if component.chart is None:
                continue
            props = release_props(component.chart, {}, Mirrors())
            for policy in (ps.helm_exact_version, ps.helm_allowed_source):
                assert run_resource(policy, RELEASE, props) == [], (component.name, policy.name)

    @pytest.mark.parametrize("version", [None, "", "^3.9.0", "~3.9", ">=3.0.0", "3.x", "latest"])
    def test_unpinned_versions_fire(self, version: str | None) -> None:
        [message] = run_resource(
            ps.helm_exact_version, RELEASE, release(version=version), name="acme-kyverno"
        )
        assert 'Release "acme-kyverno"' in message and "Pin an exact version" in message

    def test_v4_chart_is_checked_too(self) -> None:
        assert run_resource(ps.helm_exact_version, ps.HELM_CHART_V4, release(version="^1"))

    def test_unknown_repository_fires(self) -> None:
        [message] = run_resource(
            ps.helm_allowed_source, RELEASE, release(repo="https://charts.example.com")
        )
        assert "'https://charts.example.com'" in message and "allowedChartRepositories" in message

    def test_local_chart_fires(self) -> None:
        [message] = run_resource(
            ps.helm_allowed_source, RELEASE, release(chart="./charts/kyverno", repo=None)
        )
        assert "local path" in message

    def test_configured_mirror_passes(self) -> None:
        mirror = "https://charts.mirror.example/kyverno"
        config = {"allowedChartRepositories": [mirror]}
        assert (
            run_resource(ps.helm_allowed_source, RELEASE, release(repo=mirror), config=config) == []
        )

    def test_oci_chart_source_is_its_path(self) -> None:
        assert (
            ps.chart_source({"chart": "oci://ghcr.io/nvidia/kai-scheduler/kai-scheduler"})
            == "oci://ghcr.io/nvidia/kai-scheduler"
        )
        [message] = run_resource(
            ps.helm_allowed_source, RELEASE, release(chart="oci://evil.example/x/kai", repo=None)
        )
        assert "'oci://evil.example/x'" in message


class TestCveFloors:
    def test_pinned_gpu_operator_passes(self) -> None:
        props = release("gpu-operator", GPU_OPERATOR.version, "https://helm.ngc.nvidia.com/nvidia")
        assert run_resource(ps.gpu_operator_floor, RELEASE, props) == []
        assert run_resource(ps.toolkit_floor, RELEASE, props) == []

    def test_vulnerable_gpu_operator_fires(self) -> None:
        props = release("gpu-operator", "v25.3.0", "https://helm.ngc.nvidia.com/nvidia")
        [message] = run_resource(ps.gpu_operator_floor, RELEASE, props, name="acme-gpu")
        assert 'Release "acme-gpu"' in message and "25.3.1" in message
        assert "CVE-2025-23266" in message

    def test_other_charts_are_ignored(self) -> None:
        assert run_resource(ps.gpu_operator_floor, RELEASE, release(version="1.0.0")) == []

    @pytest.mark.parametrize("tag", ["v1.17.7-ubuntu20.04", "1.16.2", "sha256:abc"])
    def test_vulnerable_or_unreadable_toolkit_fires(self, tag: str) -> None:
        props = release(
            "gpu-operator",
            "v26.7.0",
            "https://helm.ngc.nvidia.com/nvidia",
            values={"toolkit": {"version": tag}},
        )
        [message] = run_resource(ps.toolkit_floor, RELEASE, props)
        assert "1.17.8" in message and "toolkit.version" in message

    def test_fixed_toolkit_passes(self) -> None:
        props = release(
            "gpu-operator",
            "v26.7.0",
            "https://helm.ngc.nvidia.com/nvidia",
            values={"toolkit": {"version": "v1.17.8-ubuntu20.04"}},
        )
        assert run_resource(ps.toolkit_floor, RELEASE, props) == []


class TestKubernetesVersion:
    @pytest.mark.parametrize(
        ("resource_type", "props"),
        [
            (ps.TENANT_CLUSTER, {"kubernetesVersion": "1.33.5"}),
            (ps.CONTROL_PLANE, {"kubernetesVersion": "v1.30.0"}),
            (ps.KAMAJI_TCP, {"spec": {"kubernetes": {"version": "v1.33.0"}}}),
            (
                "kubernetes:controlplane.cluster.x-k8s.io/v1beta1:KubeadmControlPlane",
                {"spec": {"version": "v1.32.1"}},
            ),
        ],
    )
    def test_old_versions_fire(self, resource_type: str, props: dict[str, Any]) -> None:
        [message] = run(ps.kubernetes_version, stack([(resource_type, "acme", props)]))
        assert '"acme" runs Kubernetes' in message and "1.34.0 or later" in message

    def test_supported_version_passes(self) -> None:
        assert (
            run(
                ps.kubernetes_version,
                stack([(ps.TENANT_CLUSTER, "acme", {"kubernetesVersion": "1.34.2"})]),
            )
            == []
        )

    def test_unknown_version_is_skipped(self) -> None:
        assert (
            run(
                ps.kubernetes_version,
                stack([(ps.TENANT_CLUSTER, "acme", {"kubernetesVersion": UNKNOWN})]),
            )
            == []
        )

    def test_minimum_is_configurable(self) -> None:
        assert run(
            ps.kubernetes_version,
            stack(
                [(ps.TENANT_CLUSTER, "acme", {"kubernetesVersion": "1.34.2"})],
                config={"minVersion": "1.35"},
            ),
        )


class TestCredentials:
    def test_secret_may_hold_credentials(self) -> None:
        props = {"metadata": {"name": "k"}, "stringData": {"kubeconfig": KUBECONFIG}}
        assert (
            run_resource(ps.credentials_only_in_secrets, "kubernetes:core/v1:Secret", props) == []
        )

    def test_kubeconfig_in_configmap_fires(self) -> None:
        props = {"metadata": {"name": "k"}, "data": {"config": KUBECONFIG}}
        [message] = run_resource(
            ps.credentials_only_in_secrets,
            "kubernetes:core/v1:ConfigMap",
            props,
            name="acme-kubeconfig",
        )
        assert 'ConfigMap "acme-kubeconfig" holds a kubeconfig in `data.config`' in message
        assert "Secret" in message

    def test_private_key_in_command_string_fires(self) -> None:
        props = {
            "connection": {"host": "10.0.0.1", "privateKey": PRIVATE_KEY},
            "create": f"echo '{PRIVATE_KEY}' > /root/.ssh/id",
        }
        [message] = run_resource(
            ps.credentials_only_in_secrets, "command:remote:Command", props, name="join"
        )
        assert "private key in `create`" in message

    def test_command_secret_fields_pass(self) -> None:
        props = {
            "connection": {"host": "10.0.0.1", "privateKey": PRIVATE_KEY},
            "environment": {"NGC_API_KEY": "nvapi-" + "a" * 40},
            "create": "kubeadm join --config /dev/stdin",
        }
        assert run_resource(ps.credentials_only_in_secrets, "command:remote:Command", props) == []

    def test_provider_kubeconfig_passes(self) -> None:
        assert (
            run_resource(
                ps.credentials_only_in_secrets,
                "pulumi:providers:kubernetes",
                {"kubeconfig": KUBECONFIG},
            )
            == []
        )

    def test_ngc_key_in_helm_values_fires(self) -> None:
        props = release(values={"ngc": {"apiKey": "nvapi-" + "A1b2" * 15}})
        [message] = run_resource(ps.credentials_only_in_secrets, RELEASE, props)
        assert "NGC API key in `values.ngc.apiKey`" in message

    def test_unknown_values_are_skipped(self) -> None:
        assert (
            run_resource(
                ps.credentials_only_in_secrets,
                "kubernetes:core/v1:ConfigMap",
                {"data": {"x": UNKNOWN}},
            )
            == []
        )


def groups(*entries: tuple[str, str | None, list[str]], tenant: str = "acme") -> Any:
    resources: list[tuple[str, str, dict[str, Any]]] = [
        (ps.TENANT_CLUSTER, "acme", {"tenant": tenant, "kubernetesVersion": "1.34.2"})
    ]
    for name, owner, hosts in entries:
        props: dict[str, Any] = {"nodeGroup": name, "hosts": hosts}
        if owner is not None:
            props["tenant"] = owner
        resources.append((ps.NODE_GROUP, f"acme-{name}", props))
    return resources


class TestHosts:
    def test_disjoint_groups_of_the_tenant_pass(self) -> None:
        args = stack(groups(("gpu", "acme", ["gpu-0", "gpu-1"]), ("cpu", "acme", ["cpu-0"])))
        assert run(ps.node_group_ownership, args) == []
        assert run(ps.one_group_per_host, args) == []

    def test_host_in_two_groups_fires(self) -> None:
        args = stack(groups(("gpu", "acme", ["gpu-0"]), ("infer", "acme", ["gpu-0"])))
        [message] = run(ps.one_group_per_host, args)
        assert 'Host "gpu-0" is in NodeGroup "gpu" and NodeGroup "infer"' in message

    def test_node_group_of_another_tenant_fires(self) -> None:
        [message] = run(ps.node_group_ownership, stack(groups(("gpu", "globex", ["gpu-0"]))))
        assert 'NodeGroup "gpu" belongs to tenant "globex"' in message

    def test_node_group_without_tenant_cannot_be_judged(self) -> None:
        assert run(ps.node_group_ownership, stack(groups(("gpu", None, ["gpu-0"])))) == []

    def test_inventory_assignment_is_enforced(self) -> None:
        config = {"hostOwners": {"gpu-0": "acme", "gpu-1": "globex"}}
        args = stack(groups(("gpu", "acme", ["gpu-0", "gpu-1", "gpu-9"])), config=config)
        messages = run(ps.node_group_ownership, args)
        assert len(messages) == 2
        assert any('"gpu-1"' in m and "'globex'" in m for m in messages)
        assert any('"gpu-9"' in m and "no tenant" in m for m in messages)


def test_node_group_outputs_are_read_when_props_are_absent() -> None:
    """gpu-caas' NodeGroup today registers `labels` and `nodeNames` as outputs."""

    def group(name: str, tenant: str, hosts: list[str]) -> tuple[str, str, dict[str, Any]]:
        return (
            ps.NODE_GROUP,
            f"acme-{name}",
            {
                "nodeNames": hosts,
                "labels": {"gpu-caas.io/tenant": tenant, "gpu-caas.io/node-group": name},
            },
        )

    args = stack(
        [group("train", "acme", ["gpu-0"]), group("infer", "globex", ["gpu-0"])],
        config={"tenant": "acme"},
    )
    [shared] = run(ps.one_group_per_host, args)
    assert 'NodeGroup "infer" and NodeGroup "train"' in shared
    [foreign] = run(ps.node_group_ownership, args)
    assert 'NodeGroup "infer" belongs to tenant "globex"' in foreign


def test_kyverno_release_rendered_by_components_passes_platform_pack() -> None:
    """The Kyverno release args the component builds pass every resource policy."""
    assert KYVERNO.chart is not None
    props = release_props(KYVERNO.chart, render_values(3, Mirrors()), Mirrors())
    for policy in ps.POLICIES:
        if isinstance(policy, ResourceValidationPolicy):
            assert run_resource(policy, RELEASE, props) == [], policy.name


def test_unknown_release_version_waits_for_update() -> None:
    assert run_resource(ps.helm_exact_version, RELEASE, release(version=UNKNOWN)) == []


@pytest.mark.parametrize(
    "script",
    [
        "kubectl config view --raw -o jsonpath='{.users[0].user.client-key-data}'",
        "kubectl create configmap x --from-literal=kind=ConfigMap",
        "cat <<EOF\napiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: users\nEOF",
    ],
)
def test_scripts_that_only_mention_kubeconfig_fields_pass(script: str) -> None:
    assert (
        run_resource(ps.credentials_only_in_secrets, "command:remote:Command", {"create": script})
        == []
    )


def test_configure_stack_hook_loads_the_stack_config() -> None:
    """The engine sends stack config with ConfigureStack; the hook makes it readable."""
    import pulumi.runtime
    from pulumi.runtime.proto import analyzer_pb2
    from pulumi_policy import policy

    from policies.gpu_caas_policies import stack_config

    stack_config.install_configure_stack_hook()
    stack_config.install_configure_stack_hook()  # idempotent
    tenant = {
        "name": "initech",
        "mirrors": {
            "chartRepositories": {"https://helm.ngc.nvidia.com/nvidia": "https://harbor.example/n"},
            "imageRegistries": {"nvcr.io": "harbor.example/nvcr"},
        },
    }
    request = analyzer_pb2.AnalyzerStackConfigureRequest(
        stack="s", config={"gpu-caas:tenant": json.dumps(tenant)}
    )
    servicer = object.__new__(policy._PolicyAnalyzerServicer)
    try:
        servicer.ConfigureStack(request, None)
        assert stack_config.stack_tenant_name() == "initech"
        assert stack_config.stack_mirrors() == (
            ["https://harbor.example/n"],
            ["harbor.example/nvcr"],
        )
        mirrored = release("gpu-operator", "v26.7.0", "https://harbor.example/n")
        assert run_resource(ps.helm_allowed_source, RELEASE, mirrored) == []
        assert run_resource(
            ps.helm_allowed_source, RELEASE, mirrored, config={"trustStackMirrors": False}
        )
    finally:
        pulumi.runtime.set_config("gpu-caas:tenant", "")


class TestCredentialsWithEngineSecretMarkers:
    """With the engine's secret markers (what the pack sees at preview/up)."""

    SIG = "4dabf18193072939515e22adb298388d"
    SECRET = "1b47061264138c4ac30d75fd1eb44270"

    def wire_secret(self, value: Any) -> dict[str, Any]:
        return {self.SIG: self.SECRET, "value": value}

    def test_secret_values_are_collected_from_the_wire_format(self) -> None:
        raw = {
            "triggers": [self.wire_secret(KUBECONFIG)],
            "create": "x",
            "nested": self.wire_secret({"a": ["k1", "k2"]}),
        }
        assert set(secrets.secret_strings(raw)) == {KUBECONFIG, "k1", "k2"}

    def test_secret_kubeconfig_in_any_field_passes(self) -> None:
        # e.g. a readiness command triggered by the (secret) management kubeconfig
        with secrets.analyzing({"triggers": [self.wire_secret(KUBECONFIG)]}):
            assert (
                run_resource(
                    ps.credentials_only_in_secrets,
                    "command:local:Command",
                    {"triggers": [KUBECONFIG], "create": "kubectl get --raw /readyz"},
                )
                == []
            )

    def test_plaintext_provider_kubeconfig_fires(self) -> None:
        with secrets.analyzing({"kubeconfig": KUBECONFIG}):
            [message] = run_resource(
                ps.credentials_only_in_secrets,
                "pulumi:providers:kubernetes",
                {"kubeconfig": KUBECONFIG},
                name="tenant",
            )
        assert "kubeconfig in `kubeconfig` in plain text" in message
        assert "pulumi.Output.secret" in message

    def test_secret_in_a_command_string_still_fires(self) -> None:
        script = f"echo '{PRIVATE_KEY}' > key"
        with secrets.analyzing({"create": self.wire_secret(script)}):
            assert run_resource(
                ps.credentials_only_in_secrets, "command:remote:Command", {"create": script}
            )

    def test_hook_wraps_analyze_once(self) -> None:
        from pulumi_policy import policy

        secrets.install_secret_tracking_hook()
        first = policy._PolicyAnalyzerServicer.Analyze
        secrets.install_secret_tracking_hook()
        assert policy._PolicyAnalyzerServicer.Analyze is first
        assert secrets.current_secret_strings() is None


def test_analyze_through_the_sdk_servicer_sees_engine_secrets() -> None:
    """The pack's real Analyze path (no gRPC server): secret markers reach the rule."""
    from google.protobuf import struct_pb2  # type: ignore[import-untyped]
    from pulumi.runtime.proto import analyzer_pb2
    from pulumi_policy import policy

    secrets.install_secret_tracking_hook()
    servicer: Any = policy._PolicyAnalyzerServicer(
        "test-pack", "0.0.1", [ps.credentials_only_in_secrets], EnforcementLevel.MANDATORY
    )
    sig = TestCredentialsWithEngineSecretMarkers

    def analyze(props: dict[str, Any]) -> list[str]:
        struct = struct_pb2.Struct()
        struct.update(props)
        request = analyzer_pb2.AnalyzeRequest(
            type="command:local:Command", urn="urn:x::c", name="c", properties=struct
        )
        return [d.policyName for d in servicer.Analyze(request, None).diagnostics]

    secret_trigger = {"triggers": [{sig.SIG: sig.SECRET, "value": KUBECONFIG}]}
    assert analyze(secret_trigger) == []
    assert analyze({"triggers": [KUBECONFIG]}) == ["credentials-only-in-secrets"]


def test_secret_markers_are_read_only_when_a_credential_is_found() -> None:
    """Converting every request's properties cost a large tenant's pack as much as the
    analysis itself; most resources hold no credential, so the rule asks lazily."""
    calls: list[int] = []

    def raw() -> dict[str, Any]:
        calls.append(1)
        return {"create": "kubeadm join", "environment": {"K": {"x": 1}}}

    with secrets.analyzing(raw):
        assert run_resource(ps.credentials_only_in_secrets, "command:local:Command", {}) == []
        assert calls == []
        found = run_resource(
            ps.credentials_only_in_secrets,
            "command:local:Command",
            {"environment": {"A": KUBECONFIG, "B": KUBECONFIG}},
        )
        assert found and calls == [1]  # asked once for both credentials
    assert secrets.current_secret_strings() is None
