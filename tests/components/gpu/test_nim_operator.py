"""NIM models in team namespaces (`components/gpu/nim_operator.py`): specs pinned to a
node group, the NetworkPolicies and the Kyverno mutation a team namespace needs, and the
component under mocks (names, namespaces, order, provider, secrecy).

The specs of models without a team are covered by tests/components/gpu_network/.
"""

from __future__ import annotations

import json
from typing import Any

import pulumi
import pulumi_kubernetes as k8s
import pytest

from components.gpu import nim_operator as nim
from components.gpu.nim_operator import NimModel
from components.isolation import kyverno
from components.mirrors import Mirrors, reset_stack_mirror_list
from tests.support.mocks import RecordingMocks, Registered, run
from tests.support.upstream import validate_custom_resource

MIRRORS = Mirrors(image_registries={"nvcr.io": "registry.ncp.internal/nvcr"})
NGC_KEY = "nvapi-team-key-never-in-clear"
TEAM_TOLERATIONS = (
    {"key": "nvidia.com/gpu", "operator": "Equal", "value": "present", "effect": "NoSchedule"},
    {"key": "gpu-caas.io/team", "operator": "Equal", "value": "ml", "effect": "NoSchedule"},
)
LLAMA = NimModel(
    name="llama",
    image="nvcr.io/nim/meta/llama-3.1-8b-instruct",
    tag="1.8.4",
    namespace="ml",
    node_selector=(("gpu-caas.io/node-group", "infer"),),
    tolerations=TEAM_TOLERATIONS[:1],
    cpu="8",
    memory="64Gi",
    clients=("ml", "ml-eval", "ingress-nginx"),
)
EMBED = NimModel(
    name="embed",
    image="nvcr.io/nim/nvidia/llama-3.2-nv-embedqa-1b-v2",
    tag="1.6.0",
    namespace="ml-eval",
    node_selector=(("gpu-caas.io/node-group", "shared"),),
    tolerations=TEAM_TOLERATIONS,
    gpu_resource="nvidia.com/gpu.shared",
    clients=("ml", "ml-eval"),
)
SHARED = NimModel(name="legacy", image="nvcr.io/nim/nvidia/nv-embedqa-e5-v5", tag="1.1.0")


# --------------------------------------------------------------------------- #
# Specs
# --------------------------------------------------------------------------- #


@pytest.mark.parametrize("model", [LLAMA, EMBED, SHARED], ids=lambda m: m.name)
def test_specs_are_valid_and_pinned_to_the_node_group(model: NimModel) -> None:
    cache = nim.nim_cache_spec(model, MIRRORS)
    service = nim.nim_service_spec(model, MIRRORS)
    validate_custom_resource(nim.API_VERSION, "NIMCache", cache)
    validate_custom_resource(nim.API_VERSION, "NIMService", service)
    for spec in (cache, service):
        # The cache job runs where the model will (same selector and tolerations).
        assert spec.get("nodeSelector") == (dict(model.node_selector) or None)
        assert spec["tolerations"] == (
            [nim.GPU_TOLERATION] if model.tolerations is None else list(model.tolerations)
        )
        # Non-root by our config, not by an operator default (restricted: runAsUser != 0).
        assert (spec["userID"], spec["groupID"]) == (1000, 2000)
    assert service["resources"]["limits"][model.gpu_resource] == model.gpus


@pytest.mark.parametrize(
    ("cpu", "memory", "resources"),
    [
        (None, None, {"limits": {"nvidia.com/gpu": 1}}),
        (
            "8",
            "64Gi",
            {
                "limits": {"nvidia.com/gpu": 1, "cpu": "8", "memory": "64Gi"},
                "requests": {"cpu": "8", "memory": "64Gi"},
            },
        ),
        (
            None,
            "16Gi",
            {"limits": {"nvidia.com/gpu": 1, "memory": "16Gi"}, "requests": {"memory": "16Gi"}},
        ),
    ],
    ids=["gpus-only", "cpu-and-memory", "memory-only"],
)
def test_cpu_and_memory_are_requests_and_limits(
    cpu: str | None, memory: str | None, resources: dict[str, Any]
) -> None:
    model = NimModel("m", "nvcr.io/nim/x", "1", cpu=cpu, memory=memory)
    assert nim.nim_service_spec(model, MIRRORS)["resources"] == resources


def test_endpoints_name_each_model_namespace() -> None:
    assert nim.service_endpoints([LLAMA, EMBED, SHARED], "nim") == {
        "llama": "http://llama.ml.svc.cluster.local:8000",
        "embed": "http://embed.ml-eval.svc.cluster.local:8000",
        "legacy": "http://legacy.nim.svc.cluster.local:8000",
    }


# --------------------------------------------------------------------------- #
# NetworkPolicies
# --------------------------------------------------------------------------- #


def test_network_policies_allow_exactly_what_a_nim_needs() -> None:
    policies = nim.model_network_policies(LLAMA, "acme", ["203.0.113.0/24"], 443)
    assert list(policies) == ["acme-nim-llama-ingress", "acme-nim-llama-cache-egress"]
    ingress = policies["acme-nim-llama-ingress"]
    assert ingress == {
        "podSelector": {"matchLabels": {"app": "llama"}},
        "policyTypes": ["Ingress"],
        "ingress": [
            {
                "from": [
                    {
                        "namespaceSelector": {
                            "matchExpressions": [
                                {
                                    "key": "kubernetes.io/metadata.name",
                                    "operator": "In",
                                    "values": ["ml", "ml-eval", "ingress-nginx"],
                                }
                            ]
                        }
                    }
                ],
                "ports": [{"protocol": "TCP", "port": 8000}],
            }
        ],
    }
    egress = policies["acme-nim-llama-cache-egress"]
    # The cache job's pods only, not the NIMService's (`app` differs).
    assert egress["podSelector"] == {
        "matchLabels": {"app": "k8s-nim-operator", "app.kubernetes.io/name": "llama"}
    }
    assert egress["policyTypes"] == ["Egress"]
    download, dns = egress["egress"]
    assert download == {
        "to": [{"ipBlock": {"cidr": "203.0.113.0/24"}}],
        "ports": [{"protocol": "TCP", "port": 443}],
    }
    assert dns["ports"] == [{"protocol": "UDP", "port": 53}, {"protocol": "TCP", "port": 53}]
    (peer,) = dns["to"]
    assert peer["podSelector"] == {"matchLabels": {"k8s-app": "kube-dns"}}
    assert peer["namespaceSelector"]["matchExpressions"][0]["values"] == ["kube-system"]


def test_no_policy_selects_every_pod_or_allows_any_address() -> None:
    """An empty podSelector would open the whole team namespace; 0.0.0.0/0 any host."""
    policies = nim.model_network_policies(EMBED, "acme", ["10.8.0.10/32"], 3128)
    for spec in policies.values():
        assert spec["podSelector"]["matchLabels"]
    egress = policies["acme-nim-embed-cache-egress"]["egress"][0]
    assert egress == {
        "to": [{"ipBlock": {"cidr": "10.8.0.10/32"}}],
        "ports": [{"protocol": "TCP", "port": 3128}],
    }


@pytest.mark.parametrize(
    ("model", "cidrs", "error"),
    [
        (LLAMA, [], "no egress CIDRs"),
        (NimModel("m", "nvcr.io/nim/x", "1", namespace="ml"), ["10.0.0.0/8"], "no client"),
    ],
    ids=["no-cidrs", "no-clients"],
)
def test_network_policies_refuse_an_open_or_closed_model(
    model: NimModel, cidrs: list[str], error: str
) -> None:
    with pytest.raises(ValueError, match=error):
        nim.model_network_policies(model, "acme", cidrs)


# --------------------------------------------------------------------------- #
# Kyverno mutation for Pod Security `restricted`
# --------------------------------------------------------------------------- #


def test_pod_security_policy_is_a_valid_cluster_policy() -> None:
    spec = nim.render_pod_security_policy([LLAMA, EMBED, SHARED])
    validate_custom_resource(kyverno.API_VERSION, kyverno.KIND, spec)
    assert spec["background"] is False
    assert spec["webhookConfiguration"]["failurePolicy"] == "Fail"


def test_pod_security_policy_matches_only_the_operator_objects_of_team_models() -> None:
    spec = nim.render_pod_security_policy([LLAMA, EMBED, SHARED])
    workloads, pods = spec["rules"]
    matched = [
        (f["resources"]["kinds"], f["resources"]["namespaces"], f["resources"]["names"])
        for f in workloads["match"]["any"]
    ]
    assert matched == [
        (["Deployment"], ["ml"], ["llama"]),
        (["Deployment"], ["ml-eval"], ["embed"]),
        (["Job"], ["ml"], ["llama-job"]),
        (["Job"], ["ml-eval"], ["embed-job"]),
    ]
    assert [f["resources"]["names"] for f in pods["match"]["any"]] == [
        ["llama-pod"],
        ["embed-pod"],
    ]
    template = workloads["mutate"]["patchStrategicMerge"]["spec"]["template"]["spec"]
    assert template == pods["mutate"]["patchStrategicMerge"]["spec"]
    # Only `+(...)` (add if absent) anchors: the mutation never overrides a set field.
    assert template["securityContext"] == {
        "+(runAsNonRoot)": True,
        "+(seccompProfile)": {"type": "RuntimeDefault"},
    }
    assert template["containers"] == [
        {
            "(name)": "*",
            "securityContext": {
                "+(allowPrivilegeEscalation)": False,
                "+(capabilities)": {"drop": ["ALL"]},
            },
        }
    ]


# --------------------------------------------------------------------------- #
# Component under mocks
# --------------------------------------------------------------------------- #


class _Guardrails(pulumi.CustomResource):
    """Stands in for the tenant namespaces (`ClusterHandle.tenant_ready`)."""

    def __init__(self) -> None:
        super().__init__("test:index:TenantNamespaces", "acme-tenant-namespaces", {})


def _build(models: tuple[NimModel, ...]) -> tuple[RecordingMocks, dict[str, Any]]:
    reset_stack_mirror_list()
    mocks = RecordingMocks()

    def program() -> dict[str, Any]:
        component = nim.NimOperator(
            "acme-nim-operator",
            nim.NimOperatorArgs(
                provider=k8s.Provider("tenant", kubeconfig="fake"),
                mirrors=MIRRORS,
                ngc_api_key=pulumi.Output.secret(NGC_KEY),
                models=models,
                tenant="acme",
                egress_cidrs=("203.0.113.0/24",),
                models_depend_on=(_Guardrails(),),
            ),
        )
        return {
            "namespace": component.namespace,
            "namespaces": component.namespaces,
            "endpoints": component.endpoints,
        }

    outputs = run(program, mocks)
    return mocks, {key: value.value for key, value in outputs.items()}


def _named(mocks: RecordingMocks, name: str) -> Registered:
    (found,) = [r for r in mocks.resources if r.name == name]
    return found


def test_team_models_live_in_their_namespaces_behind_the_guardrails() -> None:
    mocks, outputs = _build((LLAMA, EMBED))
    names = sorted(r.name for r in mocks.resources if r.type.startswith("kubernetes:"))
    assert names == sorted(
        [
            "acme-nim-operator-operator-namespace",
            "acme-nim-operator-release",
            "acme-nim-operator-pod-security",
            "acme-nim-operator-llama-ingress",
            "acme-nim-operator-llama-cache-egress",
            "acme-nim-operator-embed-ingress",
            "acme-nim-operator-embed-cache-egress",
            "acme-nim-operator-ml-ngc-api-secret",
            "acme-nim-operator-ml-ngc-pull-secret",
            "acme-nim-operator-ml-eval-ngc-api-secret",
            "acme-nim-operator-ml-eval-ngc-pull-secret",
            "acme-nim-operator-llama-cache",
            "acme-nim-operator-llama-service",
            "acme-nim-operator-embed-cache",
            "acme-nim-operator-embed-service",
        ]
    ), "no shared `nim` namespace when every model has a team"
    provider = mocks.one("pulumi:providers:kubernetes", "tenant")
    guardrails = mocks.one("test:index:TenantNamespaces", "acme-tenant-namespaces")
    for resource in mocks.resources:
        if resource.type.startswith("kubernetes:"):
            assert resource.provider_urn == provider.urn, resource.name
    for name in ("pod-security", "llama-ingress", "ml-ngc-api-secret", "ml-eval-ngc-pull-secret"):
        assert guardrails.urn in _named(mocks, f"acme-nim-operator-{name}").dependencies, name
    for model in (LLAMA, EMBED):
        cache = _named(mocks, f"acme-nim-operator-{model.name}-cache")
        assert cache.inputs["metadata"]["namespace"] == model.namespace
        for needed in (
            "pod-security",
            f"{model.name}-cache-egress",
            f"{model.namespace}-ngc-api-secret",
        ):
            assert _named(mocks, f"acme-nim-operator-{needed}").urn in cache.dependencies
        policy = _named(mocks, f"acme-nim-operator-{model.name}-ingress")
        assert policy.inputs["metadata"] == {
            "name": f"acme-nim-{model.name}-ingress",
            "namespace": model.namespace,
            "labels": {"gpu-caas.io/tenant": "acme"},
        }
    cluster_policy = _named(mocks, "acme-nim-operator-pod-security")
    assert cluster_policy.inputs["metadata"]["name"] == "gpu-caas-nim-pod-security"
    # The key reaches the engine only as a secret, in each team namespace's two secrets.
    assert mocks.leaks(NGC_KEY) == []
    holders = sorted(r.name for r in mocks.resources if NGC_KEY in json.dumps(r.inputs))
    assert holders == [
        "acme-nim-operator-ml-eval-ngc-api-secret",
        "acme-nim-operator-ml-eval-ngc-pull-secret",
        "acme-nim-operator-ml-ngc-api-secret",
        "acme-nim-operator-ml-ngc-pull-secret",
    ]
    assert outputs["namespace"] is None
    assert outputs["namespaces"] == {"llama": "ml", "embed": "ml-eval"}
    assert outputs["endpoints"]["embed"] == "http://embed.ml-eval.svc.cluster.local:8000"


def test_models_without_a_team_keep_the_shared_namespace_and_no_guards() -> None:
    mocks, outputs = _build((SHARED,))
    kinds = {r.type.rsplit(":", 1)[-1] for r in mocks.resources if r.type.startswith("kubernetes:")}
    assert "NetworkPolicy" not in kinds and "ClusterPolicy" not in kinds
    assert (
        _named(mocks, "acme-nim-operator-ngc-api-secret").inputs["metadata"]["namespace"] == "nim"
    )
    assert outputs["namespace"] == "nim"


def test_team_models_need_the_tenant_name() -> None:
    def program() -> None:
        nim.NimOperator(
            "x",
            nim.NimOperatorArgs(
                provider=k8s.Provider("tenant", kubeconfig="fake"),
                mirrors=MIRRORS,
                ngc_api_key=pulumi.Output.secret(NGC_KEY),
                models=(LLAMA,),
            ),
        )

    with pytest.raises(ValueError, match="tenant is required"):
        run(program, RecordingMocks())
