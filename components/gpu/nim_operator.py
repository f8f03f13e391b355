"""NVIDIA NIM Operator and the tenant's NIM inference services.

What `NimOperator` creates on the tenant cluster (all with the tenant provider):

* namespace `nim-operator` and the `k8s-nim-operator` Helm release
  (`render_nim_operator_values`);
* namespace `<models namespace>` (default `nim`) with the two NGC secrets the NIM
  Operator expects (https://docs.nvidia.com/nim-operator/latest/image-pull-secrets.html):
  `ngc-api-secret` (generic, key `NGC_API_KEY`: model downloads) and `ngc-secret`
  (`kubernetes.io/dockerconfigjson` for nvcr.io: NIM images). Both are built from
  `Output.secret` values, so the key stays encrypted in Pulumi state;
* per model: a `NIMCache` (`nim_cache_spec`) that downloads the weights into a PVC, and
  a `NIMService` (`nim_service_spec`) that serves them on the GPUs of the model's node
  group (node selector `gpu-caas.io/node-group`, tolerations of that group's taints,
  the extended resource the group advertises), or on any GPU node tolerating the GPU
  taint when the model names no node group.

Models of a team (`NimModel.namespace` set) run in that team's namespace, which the
isolation platform created with Pod Security `restricted`, default-deny NetworkPolicies,
a ResourceQuota and a LimitRange. For them the component also creates, in that namespace:

* the two NGC secrets (one pair per team namespace with models);
* two NetworkPolicies per model (`model_network_policies`): ingress to the NIMService
  port from the team's namespaces (and configured ingress namespaces), and egress of the
  cache job to the model source (`egress_cidrs`: NGC, a mirror or the proxy) plus DNS;
* one Kyverno ClusterPolicy for all of them (`render_pod_security_policy`) that adds the
  fields Pod Security `restricted` demands and the NIM Operator v3.1.2 leaves out
  (seccomp `RuntimeDefault`, `runAsNonRoot`, no privilege escalation, capabilities
  dropped) to the operator's Deployments, Jobs and Pods of those models, before the
  namespace's Pod Security admission and Kyverno's `gpu-caas-pod-security` judge them.

Specs are validated in tests against the NIM Operator v3.1.2 CRDs
(`../shared/crds/k8s-nim-operator/v3.1.2/` for NIMService; NIMCache from the main-branch
copy, the only one we have, using only fields that v3.1.2 documents).
"""

from __future__ import annotations

import base64
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import pulumi
import pulumi_kubernetes as k8s

from components import workloads as wl
from components.gpu.advertised import GPU
from components.helm import helm_release
from components.isolation import kyverno
from components.mirrors import Mirrors, record_images
from components.naming import GPU_TAINT_KEY, GPU_TAINT_VALUE, LABEL_TENANT
from components.placement import apply_tolerations, parse_tolerations
from components.versions import NIM_OPERATOR, HelmChart

TYPE = "gpu-caas:gpu:NimOperator"

API_VERSION = "apps.nvidia.com/v1alpha1"
OPERATOR_NAMESPACE = "nim-operator"
OPERATOR_IMAGE = "ghcr.io/nvidia/k8s-nim-operator"
"""Operator image repository of the chart's values.yaml (v3.1.2)."""

NGC_API_SECRET = "ngc-api-secret"
"""Generic secret with `NGC_API_KEY`; the names follow NVIDIA's NIM Operator docs."""
NGC_PULL_SECRET = "ngc-secret"
"""Image pull secret for nvcr.io."""
NGC_REGISTRY = "nvcr.io"
NGC_USERNAME = "$oauthtoken"
"""nvcr.io takes the literal user `$oauthtoken` with an NGC API key as password."""

SERVICE_PORT = 8000
"""NIM's OpenAI-compatible HTTP port (the NIMService CRD default)."""

NIM_USER_ID = 1000
NIM_GROUP_ID = 2000
"""UID and GID of NIM pods: the NIM Operator v3.1.2 defaults (`NIMService.GetUserID`/
`GetGroupID`, `NIMCache.GetUserID`/`GetGroupID` in api/apps/v1alpha1), written into every
spec so that Pod Security `restricted`'s "runAsUser must not be 0" holds by our config,
not by an operator default
(NVIDIA/k8s-nim-operator@v3.1.2:api/apps/v1alpha1/nimservice_types.go)."""

OPERATOR_APP = "k8s-nim-operator"
"""`app` label of the NIMCache job's and manifest pod's pods (NIM Operator v3.1.2
`constructJob`/`constructPodSpec`, internal/controller/nimcache_controller.go); NIMService
pods carry `app: <NIMService name>` instead (manifests/deployment.yaml)."""
APP_NAME_LABEL = "app.kubernetes.io/name"
"""Set to the NIMCache/NIMService name on every pod the operator creates for it."""
NAMESPACE_NAME_LABEL = "kubernetes.io/metadata.name"
"""Set by the API server on every namespace; tenants cannot forge it."""

POD_SECURITY_POLICY = "gpu-caas-nim-pod-security"
"""Kyverno ClusterPolicy completing the NIM pods of team namespaces for `restricted`."""

GPU_TOLERATION: dict[str, str] = {
    "key": GPU_TAINT_KEY,
    "operator": "Equal",
    "value": GPU_TAINT_VALUE,
    "effect": "NoSchedule",
}
"""GPU nodes are tainted `nvidia.com/gpu=present:NoSchedule` so that only GPU workloads
land there; NIM pods (and the cache job, which may need the GPU to pick profiles)
tolerate it."""

AccessMode = Literal["ReadWriteOnce", "ReadWriteMany"]


@dataclass(frozen=True)
class NimModel:
    """One NIM the tenant serves."""

    name: str
    """NIMCache/NIMService name (DNS label)."""
    image: str
    """NIM image repository, e.g. `nvcr.io/nim/meta/llama-3.1-8b-instruct`."""
    tag: str
    gpus: int = 1
    replicas: int = 1
    storage_class: str | None = None
    cache_size: str = "50Gi"
    volume_access_mode: AccessMode = "ReadWriteOnce"
    profiles: tuple[str, ...] = ()
    engine: str | None = None
    tensor_parallelism: int | None = None
    shared_memory_size: str | None = None
    namespace: str | None = None
    """The team namespace the NIMCache, NIMService and their NGC secrets go to (guarded:
    Pod Security `restricted`, default-deny); None: the shared models namespace
    (`NimOperatorArgs.namespace`)."""
    node_selector: tuple[tuple[str, str], ...] = ()
    """Node labels the cache job and the NIMService pods must match, e.g.
    `(("gpu-caas.io/node-group", "llm"),)`; empty: any node."""
    tolerations: tuple[Mapping[str, str], ...] | None = None
    """Tolerations of the cache job and the NIMService pods (the taints of the model's
    node group); None: `GPU_TOLERATION` only."""
    gpu_resource: str = GPU
    """Extended resource one GPU unit of `gpus` is requested as: what the node group
    advertises (`components.gpu.advertised.advertised_per_gpu`), e.g.
    `nvidia.com/gpu.shared` on a time-sliced group."""
    cpu: str | None = None
    """CPU request and limit of the NIM container (a quantity); None: the namespace's
    LimitRange defaults."""
    memory: str | None = None
    """Memory request and limit of the NIM container; None: the LimitRange defaults."""
    clients: tuple[str, ...] = ()
    """Namespaces whose pods may reach the NIMService port (team namespaces only: the
    team's namespaces, then the configured ingress namespaces)."""


@dataclass(frozen=True)
class NimOperatorArgs:
    """Inputs of `NimOperator` (built by `stacks/platform_gpu_network.py`)."""

    provider: k8s.Provider
    """The tenant cluster's provider; every resource uses it."""
    mirrors: Mirrors
    ngc_api_key: pulumi.Output[str]
    """NGC API key, a `pulumi.Output.secret`."""
    models: tuple[NimModel, ...]
    namespace: str = "nim"
    """Namespace of the NIMCaches, NIMServices and NGC secrets."""
    default_storage_class: str | None = None
    """Storage class of model caches that set none (None = the cluster default)."""
    http_proxy: str | None = None
    no_proxy: str | None = None
    chart: HelmChart = field(default_factory=lambda: _chart())
    operator_version: str = NIM_OPERATOR.version
    depends_on: tuple[pulumi.Resource, ...] = ()
    """E.g. the GPU Operator release (NIM pods need its device plugin)."""
    tolerations: tuple[dict[str, str], ...] = ()
    """The tenant's system tolerations (`stacks.config.placement.system_tolerations`),
    added per workload to the chart's own at its values key (`components.workloads`)."""
    tenant: str = ""
    """Tenant name: prefix of the NetworkPolicies in team namespaces and the value of
    their `gpu-caas.io/tenant` label (required when a model has a `namespace`)."""
    egress_cidrs: tuple[str, ...] = ()
    """Where the cache jobs of team-namespaced models download from: ipBlock CIDRs of
    NGC, a model mirror, or the HTTP(S) proxy (NetworkPolicy cannot name hosts)."""
    egress_port: int = 443
    """TCP port of that download (443 for NGC; the proxy's port behind a proxy)."""
    dns_namespace: str = "kube-system"
    dns_pod_labels: tuple[tuple[str, str], ...] = (("k8s-app", "kube-dns"),)
    """The cluster DNS pods (CoreDNS keeps the kube-dns label), as in the team
    namespaces' own `allow-dns` policy."""
    models_depend_on: tuple[pulumi.Resource, ...] = ()
    """What team-namespaced models wait for: the tenant namespaces with their guardrails
    (`ClusterHandle.tenant_ready`, created after Kyverno and its CRDs)."""


def _chart() -> HelmChart:
    if NIM_OPERATOR.chart is None:  # pragma: no cover - matrix invariant
        raise ValueError("components.versions.NIM_OPERATOR has no chart")
    return NIM_OPERATOR.chart


# --------------------------------------------------------------------------- #
# Pure helpers
# --------------------------------------------------------------------------- #


def render_nim_operator_values(
    mirrors: Mirrors, operator_version: str, tolerations: Sequence[Mapping[str, str]] = ()
) -> dict[str, Any]:
    """Helm values of k8s-nim-operator (keys checked against its v3.1.2 values.yaml).

    The chart's default image tag is the moving branch tag `release-3.0`; we pin the
    release we install so that upgrades are explicit and the mirror list is exact. The
    admission webhook stays off: it needs cert-manager, which the tenant may not run.
    `tolerations` (the tenant's system tolerations) go to the operator after the chart's
    own.
    """
    values: dict[str, Any] = {
        "operator": {
            "image": {
                "repository": mirrors.image_registry(OPERATOR_IMAGE),
                "tag": operator_version,
                "pullPolicy": "IfNotPresent",
            },
            "admissionController": {"enabled": False},
        }
    }
    return apply_tolerations(values, (wl.NIM_OPERATOR,), parse_tolerations(tolerations))


def model_image(model: NimModel) -> str:
    """Upstream image reference of a model's NIM container."""
    return f"{model.image}:{model.tag}"


def docker_config_json(registry: str, api_key: str) -> str:
    """`.dockerconfigjson` content for `registry` with the NGC `$oauthtoken` login."""
    auth = base64.b64encode(f"{NGC_USERNAME}:{api_key}".encode()).decode()
    return json.dumps(
        {"auths": {registry: {"username": NGC_USERNAME, "password": api_key, "auth": auth}}},
        sort_keys=True,
    )


def _proxy(http_proxy: str | None, no_proxy: str | None) -> dict[str, str] | None:
    if http_proxy is None:
        return None
    proxy = {"httpProxy": http_proxy, "httpsProxy": http_proxy}
    if no_proxy:
        proxy["noProxy"] = no_proxy
    return proxy


def _placement(model: NimModel) -> dict[str, Any]:
    """Scheduling and identity fields shared by the NIMCache and NIMService specs."""
    tolerations = (
        [GPU_TOLERATION] if model.tolerations is None else [dict(t) for t in model.tolerations]
    )
    placement: dict[str, Any] = {
        "tolerations": tolerations,
        "userID": NIM_USER_ID,
        "groupID": NIM_GROUP_ID,
    }
    if model.node_selector:
        placement["nodeSelector"] = dict(model.node_selector)
    return placement


def _resources(model: NimModel) -> dict[str, Any]:
    """`resources` of the NIM container: the GPUs, plus CPU/memory when configured.

    Requests equal limits: in a team namespace the LimitRange would otherwise give the
    container its default limits, far below what loading a model takes.
    """
    limits: dict[str, Any] = {model.gpu_resource: model.gpus}
    requests: dict[str, Any] = {}
    for name, quantity in (("cpu", model.cpu), ("memory", model.memory)):
        if quantity is not None:
            limits[name] = quantity
            requests[name] = quantity
    return {"limits": limits, "requests": requests} if requests else {"limits": limits}


def _model_selector(model: NimModel) -> dict[str, Any] | None:
    # Explicit profiles win (the operator ignores the other filters when they are set),
    # so the filters are only emitted without profiles.
    if model.profiles:
        return {"profiles": list(model.profiles)}
    selector: dict[str, Any] = {}
    if model.engine is not None:
        selector["engine"] = model.engine
    if model.tensor_parallelism is not None:
        # The CRD types tensorParallelism as a string.
        selector["tensorParallelism"] = str(model.tensor_parallelism)
    return selector or None


def nim_cache_spec(
    model: NimModel,
    mirrors: Mirrors,
    *,
    default_storage_class: str | None = None,
    http_proxy: str | None = None,
    no_proxy: str | None = None,
) -> dict[str, Any]:
    """`NIMCache` spec: pull the model from NGC into a PVC the operator creates.

    The model puller is the NIM image itself (through the mirror); it authenticates to
    NGC with `ngc-api-secret` and is pulled with `ngc-secret`. The cache job runs where
    the model will: the node group's selector and tolerations (`_placement`).
    """
    ngc: dict[str, Any] = {
        "modelPuller": mirrors.image(model_image(model)),
        "pullSecret": NGC_PULL_SECRET,
        "authSecret": NGC_API_SECRET,
    }
    selector = _model_selector(model)
    if selector is not None:
        ngc["model"] = selector
    pvc: dict[str, Any] = {
        "create": True,
        "size": model.cache_size,
        "volumeAccessMode": model.volume_access_mode,
    }
    storage_class = model.storage_class or default_storage_class
    if storage_class is not None:
        pvc["storageClass"] = storage_class
    spec: dict[str, Any] = {
        "source": {"ngc": ngc},
        "storage": {"pvc": pvc},
        **_placement(model),
    }
    proxy = _proxy(http_proxy, no_proxy)
    if proxy is not None:
        spec["proxy"] = proxy
    return spec


def nim_service_spec(
    model: NimModel,
    mirrors: Mirrors,
    *,
    http_proxy: str | None = None,
    no_proxy: str | None = None,
) -> dict[str, Any]:
    """`NIMService` spec: serve the cached model on `gpus` units of `gpu_resource` per
    replica, on the model's node group."""
    storage: dict[str, Any] = {"nimCache": {"name": model.name}}
    if model.shared_memory_size is not None:
        storage["sharedMemorySizeLimit"] = model.shared_memory_size
    spec: dict[str, Any] = {
        "image": {
            "repository": mirrors.image_registry(model.image),
            "tag": model.tag,
            "pullPolicy": "IfNotPresent",
            "pullSecrets": [NGC_PULL_SECRET],
        },
        "authSecret": NGC_API_SECRET,
        "storage": storage,
        "replicas": model.replicas,
        "resources": _resources(model),
        **_placement(model),
        "expose": {"service": {"type": "ClusterIP", "port": SERVICE_PORT}},
    }
    proxy = _proxy(http_proxy, no_proxy)
    if proxy is not None:
        spec["proxy"] = proxy
    return spec


def service_endpoints(models: Sequence[NimModel], namespace: str) -> dict[str, str]:
    """Model name -> in-cluster URL of its OpenAI-compatible endpoint (`namespace`: the
    shared models namespace, for models without a team namespace)."""
    return {
        model.name: (
            f"http://{model.name}.{model.namespace or namespace}.svc.cluster.local:{SERVICE_PORT}"
        )
        for model in models
    }


def _namespaces_selector(namespaces: Sequence[str]) -> dict[str, Any]:
    return {
        "namespaceSelector": {
            "matchExpressions": [
                {"key": NAMESPACE_NAME_LABEL, "operator": "In", "values": list(namespaces)}
            ]
        }
    }


def service_pod_labels(model: NimModel) -> dict[str, str]:
    """Labels of the NIMService's pods: `app: <name>`, the Deployment's selector
    (NVIDIA/k8s-nim-operator@v3.1.2:manifests/deployment.yaml)."""
    return {"app": model.name}


def cache_pod_labels(model: NimModel) -> dict[str, str]:
    """Labels of the NIMCache's job and manifest pods (NIM Operator v3.1.2
    `constructJob`/`constructPodSpec`): `app: k8s-nim-operator` and
    `app.kubernetes.io/name: <name>` (NIMService pods have another `app`)."""
    return {"app": OPERATOR_APP, APP_NAME_LABEL: model.name}


def model_network_policies(
    model: NimModel,
    tenant: str,
    egress_cidrs: Sequence[str],
    egress_port: int = 443,
    dns_namespace: str = "kube-system",
    dns_pod_labels: Sequence[tuple[str, str]] = (("k8s-app", "kube-dns"),),
) -> dict[str, dict[str, Any]]:
    """NetworkPolicy specs by object name for one model in a team namespace.

    The namespace denies all ingress and egress by default and allows DNS and traffic
    inside itself (`components/isolation/tenant_namespaces.py`); NetworkPolicies only
    add up, so these add exactly what a NIM needs beyond that:

    * `<tenant>-nim-<model>-ingress`: the NIMService pods accept TCP `SERVICE_PORT` from
      pods of `model.clients` (the team's namespaces, and ingress namespaces if any);
    * `<tenant>-nim-<model>-cache-egress`: the NIMCache pods reach `egress_cidrs` on TCP
      `egress_port` (the model download: NGC, a mirror or the proxy) and the cluster DNS.

    The NIMService itself gets no egress: it serves from the cache, which a NIM does
    without network access
    (https://docs.nvidia.com/nim/large-language-models/latest/deploy-air-gap.html).
    Image pulls are the kubelet's, not the pod's, so no policy is needed for them.
    NetworkPolicy selects destinations by address only (no host names), hence CIDRs
    (https://kubernetes.io/docs/concepts/services-networking/network-policies/#what-you-can-t-do-with-network-policies-at-least-not-yet).

    Raises:
        ValueError: `egress_cidrs` empty or `model.clients` empty (the config rules
            report both first: `stacks.config.gpu_network.nim_rules`).
    """
    if not egress_cidrs:
        raise ValueError(f"model {model.name!r}: no egress CIDRs for its cache job")
    if not model.clients:
        raise ValueError(f"model {model.name!r}: no client namespaces for its NIMService")
    prefix = f"{tenant}-nim-{model.name}"
    return {
        f"{prefix}-ingress": {
            "podSelector": {"matchLabels": service_pod_labels(model)},
            "policyTypes": ["Ingress"],
            "ingress": [
                {
                    "from": [_namespaces_selector(model.clients)],
                    "ports": [{"protocol": "TCP", "port": SERVICE_PORT}],
                }
            ],
        },
        f"{prefix}-cache-egress": {
            "podSelector": {"matchLabels": cache_pod_labels(model)},
            "policyTypes": ["Egress"],
            "egress": [
                {
                    "to": [{"ipBlock": {"cidr": cidr}} for cidr in egress_cidrs],
                    "ports": [{"protocol": "TCP", "port": egress_port}],
                },
                {
                    "to": [
                        {
                            **_namespaces_selector([dns_namespace]),
                            "podSelector": {"matchLabels": dict(dns_pod_labels)},
                        }
                    ],
                    "ports": [{"protocol": "UDP", "port": 53}, {"protocol": "TCP", "port": 53}],
                },
            ],
        },
    }


_POD_DEFAULTS: dict[str, Any] = {
    "securityContext": {
        "+(runAsNonRoot)": True,
        "+(seccompProfile)": {"type": "RuntimeDefault"},
    },
    "containers": [
        {
            "(name)": "*",
            "securityContext": {
                "+(allowPrivilegeEscalation)": False,
                "+(capabilities)": {"drop": ["ALL"]},
            },
        }
    ],
}
"""Kyverno strategic-merge patch of a PodSpec: `+(field)` adds a field only where it is
absent, `(name): "*"` applies to every container
(https://kyverno.io/docs/writing-policies/mutate/). These are the `restricted` controls
the NIM Operator v3.1.2 leaves unset: on NIMService pods seccomp, runAsNonRoot,
allowPrivilegeEscalation and capabilities (manifests/deployment.yaml sets only
runAsUser/runAsGroup/fsGroup, and seccomp on TKGS only); on NIMCache pods seccomp
(internal/controller/nimcache_controller.go). Restricted profile:
https://kubernetes.io/docs/concepts/security/pod-security-standards/#restricted"""


def render_pod_security_policy(models: Sequence[NimModel]) -> dict[str, Any]:
    """Kyverno ClusterPolicy spec completing the NIM pods of team namespaces for
    Pod Security `restricted`.

    The NIM CRDs offer no securityContext (only `userID`/`groupID`), so what the operator
    leaves out is added at admission by a mutation, which the API server runs before
    Pod Security admission and Kyverno's own validation. It matches only the objects the
    operator creates for these models, by name and namespace (NIM Operator v3.1.2: the
    Deployment `<model>`, the cache Job `<model>-job`, the manifest Pod `<model>-pod`),
    and only adds fields, never loosens one. Rules that name resources are not
    auto-generated for Pod controllers
    (https://kyverno.io/docs/writing-policies/autogen/), so each kind has its own filter.

    Args:
        models: the models with a team namespace (at least one).
    """
    by_namespace: dict[str, list[str]] = {}
    for model in models:
        if model.namespace is not None:
            by_namespace.setdefault(model.namespace, []).append(model.name)

    def filters(kind: str, suffix: str) -> list[dict[str, Any]]:
        return [
            {
                "resources": {
                    "kinds": [kind],
                    "namespaces": [namespace],
                    "names": [f"{name}{suffix}" for name in names],
                    "operations": ["CREATE", "UPDATE"],
                }
            }
            for namespace, names in sorted(by_namespace.items())
        ]

    rules = [
        {
            "name": "nim-workload-restricted-defaults",
            "match": {"any": [*filters("Deployment", ""), *filters("Job", "-job")]},
            "mutate": {"patchStrategicMerge": {"spec": {"template": {"spec": _POD_DEFAULTS}}}},
        },
        {
            "name": "nim-pod-restricted-defaults",
            "match": {"any": filters("Pod", "-pod")},
            "mutate": {"patchStrategicMerge": {"spec": _POD_DEFAULTS}},
        },
    ]
    return {
        # Admission only: the operator's objects are mutated when it writes them.
        "background": False,
        # Fail closed like the isolation policies: without the mutation the pods would
        # be refused anyway, so failing is never less safe.
        "webhookConfiguration": {"failurePolicy": "Fail", "timeoutSeconds": 10},
        "rules": rules,
    }


# --------------------------------------------------------------------------- #
# Component
# --------------------------------------------------------------------------- #


class NimOperator(pulumi.ComponentResource):
    """NIM Operator plus one NIMCache and NIMService per model."""

    namespace: pulumi.Output[str | None]
    """The shared models namespace, when a model has no team namespace; else None."""
    namespaces: pulumi.Output[dict[str, str]]
    """Model name -> namespace of its NIMCache and NIMService."""
    endpoints: pulumi.Output[dict[str, str]]
    """Model name -> in-cluster URL (`http://<model>.<namespace>.svc.cluster.local:8000`)."""

    def __init__(
        self, name: str, args: NimOperatorArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__(TYPE, name, None, opts)
        child = pulumi.ResourceOptions(parent=self, provider=args.provider)
        team_models = [model for model in args.models if model.namespace is not None]
        if team_models and not args.tenant:
            raise ValueError("NimOperatorArgs.tenant is required for models in team namespaces")

        release = _create_operator(name, args, child)
        prerequisites: dict[str | None, list[pulumi.Resource]] = {}
        shared = None
        if len(team_models) < len(args.models):
            shared = _create_models_namespace(name, args, child)
            prerequisites[None] = [
                release,
                *_create_ngc_secrets(name, args, args.namespace, child, depends_on=[shared]),
            ]
        if team_models:
            guarded = _create_team_guards(name, args, team_models, child)
            team_namespaces = [m.namespace for m in team_models if m.namespace is not None]
            for namespace in dict.fromkeys(team_namespaces):
                secrets = _create_ngc_secrets(
                    f"{name}-{namespace}",
                    args,
                    namespace,
                    child,
                    depends_on=list(args.models_depend_on),
                )
                prerequisites[namespace] = [release, *guarded, *secrets]
        services = _create_models(name, args, prerequisites, child)

        # Outputs resolve once the objects they describe are registered.
        self.namespace = pulumi.Output.from_input(None) if shared is None else shared.metadata.name
        placed = {m.name: m.namespace or args.namespace for m in args.models}
        self.namespaces = pulumi.Output.all(*[s.urn for s in services]).apply(lambda _: placed)
        self.endpoints = pulumi.Output.all(*[s.urn for s in services]).apply(
            lambda _: service_endpoints(args.models, args.namespace)
        )
        self.register_outputs(
            {
                "namespace": self.namespace,
                "namespaces": self.namespaces,
                "endpoints": self.endpoints,
            }
        )


def _namespace(
    name: str, namespace: str, level: str, opts: pulumi.ResourceOptions
) -> k8s.core.v1.Namespace:
    return k8s.core.v1.Namespace(
        name,
        metadata=k8s.meta.v1.ObjectMetaArgs(
            name=namespace,
            labels={
                "pod-security.kubernetes.io/enforce": level,
                "pod-security.kubernetes.io/audit": level,
                "pod-security.kubernetes.io/warn": level,
            },
        ),
        opts=opts,
    )


def _create_operator(
    name: str, args: NimOperatorArgs, opts: pulumi.ResourceOptions
) -> k8s.helm.v3.Release:
    # The operator runs non-root with all capabilities dropped (chart defaults).
    namespace = _namespace(f"{name}-operator-namespace", OPERATOR_NAMESPACE, "restricted", opts)
    return helm_release(
        f"{name}-release",
        args.chart,
        render_nim_operator_values(args.mirrors, args.operator_version, args.tolerations),
        namespace.metadata.name,
        args.mirrors,
        pulumi.ResourceOptions.merge(
            opts, pulumi.ResourceOptions(depends_on=[namespace, *args.depends_on])
        ),
        images=[f"{OPERATOR_IMAGE}:{args.operator_version}"],
    )


def _create_models_namespace(
    name: str, args: NimOperatorArgs, opts: pulumi.ResourceOptions
) -> k8s.core.v1.Namespace:
    # NIM containers run as a fixed non-root user but do not set every field the
    # `restricted` profile demands; `baseline` still forbids privileged pods.
    return _namespace(f"{name}-namespace", args.namespace, "baseline", opts)


def _create_ngc_secrets(
    name: str,
    args: NimOperatorArgs,
    namespace: str,
    opts: pulumi.ResourceOptions,
    *,
    depends_on: list[pulumi.Resource],
) -> list[k8s.core.v1.Secret]:
    """The two NGC secrets in `namespace`, named `<name>-ngc-api-secret` and
    `<name>-ngc-pull-secret` (`name`: the component's, or `<component>-<namespace>` for a
    team namespace)."""
    # string_data is derived from a secret Output, so Pulumi keeps it encrypted in state;
    # additional_secret_outputs also covers the provider's `data` echo.
    secret_opts = pulumi.ResourceOptions.merge(
        opts,
        pulumi.ResourceOptions(
            depends_on=depends_on, additional_secret_outputs=["data", "stringData"]
        ),
    )
    api_key = k8s.core.v1.Secret(
        f"{name}-ngc-api-secret",
        metadata=k8s.meta.v1.ObjectMetaArgs(name=NGC_API_SECRET, namespace=namespace),
        type="Opaque",
        string_data={"NGC_API_KEY": args.ngc_api_key},
        opts=secret_opts,
    )
    # Only nvcr.io gets the key: a mirror registry has its own credentials, and sending
    # the NGC key to another host would leak it there.
    pull = k8s.core.v1.Secret(
        f"{name}-ngc-pull-secret",
        metadata=k8s.meta.v1.ObjectMetaArgs(name=NGC_PULL_SECRET, namespace=namespace),
        type="kubernetes.io/dockerconfigjson",
        string_data={
            ".dockerconfigjson": args.ngc_api_key.apply(
                lambda key: docker_config_json(NGC_REGISTRY, key)
            )
        },
        opts=secret_opts,
    )
    return [api_key, pull]


def _create_team_guards(
    name: str,
    args: NimOperatorArgs,
    models: Sequence[NimModel],
    opts: pulumi.ResourceOptions,
) -> list[pulumi.Resource]:
    """The Kyverno mutation and each model's NetworkPolicies, after the tenant namespaces
    (whose creation waits for Kyverno and its CRDs)."""
    after = pulumi.ResourceOptions.merge(
        opts, pulumi.ResourceOptions(depends_on=list(args.models_depend_on))
    )
    created: list[pulumi.Resource] = [
        k8s.apiextensions.CustomResource(
            f"{name}-pod-security",
            api_version=kyverno.API_VERSION,
            kind=kyverno.KIND,
            metadata={"name": POD_SECURITY_POLICY, "labels": {LABEL_TENANT: args.tenant}},
            spec=render_pod_security_policy(models),
            opts=after,
        )
    ]
    for model in models:
        policies = model_network_policies(
            model,
            args.tenant,
            args.egress_cidrs,
            args.egress_port,
            args.dns_namespace,
            args.dns_pod_labels,
        )
        for policy_name, spec in policies.items():
            suffix = policy_name.removeprefix(f"{args.tenant}-nim-{model.name}-")
            created.append(
                k8s.networking.v1.NetworkPolicy(
                    f"{name}-{model.name}-{suffix}",
                    metadata={
                        "name": policy_name,
                        "namespace": model.namespace,
                        "labels": {LABEL_TENANT: args.tenant},
                    },
                    spec=spec,
                    opts=after,
                )
            )
    return created


def _create_models(
    name: str,
    args: NimOperatorArgs,
    prerequisites: Mapping[str | None, list[pulumi.Resource]],
    opts: pulumi.ResourceOptions,
) -> list[k8s.apiextensions.CustomResource]:
    """NIMCache + NIMService per model, each after the operator and what its namespace
    needs first (`prerequisites`, keyed by `NimModel.namespace`)."""
    record_images([model_image(model) for model in args.models], args.mirrors)
    services = []
    for model in args.models:
        namespace = model.namespace or args.namespace
        after = pulumi.ResourceOptions.merge(
            opts, pulumi.ResourceOptions(depends_on=prerequisites[model.namespace])
        )
        cache = k8s.apiextensions.CustomResource(
            f"{name}-{model.name}-cache",
            api_version=API_VERSION,
            kind="NIMCache",
            metadata=k8s.meta.v1.ObjectMetaArgs(name=model.name, namespace=namespace),
            spec=nim_cache_spec(
                model,
                args.mirrors,
                default_storage_class=args.default_storage_class,
                http_proxy=args.http_proxy,
                no_proxy=args.no_proxy,
            ),
            # modelPuller is immutable (CEL): a new NIM tag replaces the cache. Same
            # name, so the old one must go first.
            opts=pulumi.ResourceOptions.merge(
                after,
                pulumi.ResourceOptions(
                    replace_on_changes=["spec.source.ngc.modelPuller"],
                    delete_before_replace=True,
                ),
            ),
        )
        service = k8s.apiextensions.CustomResource(
            f"{name}-{model.name}-service",
            api_version=API_VERSION,
            kind="NIMService",
            metadata=k8s.meta.v1.ObjectMetaArgs(name=model.name, namespace=namespace),
            spec=nim_service_spec(
                model, args.mirrors, http_proxy=args.http_proxy, no_proxy=args.no_proxy
            ),
            opts=pulumi.ResourceOptions.merge(after, pulumi.ResourceOptions(depends_on=[cache])),
        )
        services.append(service)
    return services
