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
  a `NIMService` (`nim_service_spec`) that serves them on `nvidia.com/gpu` GPUs,
  tolerating the GPU node taint.

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
from components.helm import helm_release
from components.mirrors import Mirrors, record_images
from components.naming import GPU_TAINT_KEY, GPU_TAINT_VALUE
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
    NGC with `ngc-api-secret` and is pulled with `ngc-secret`.
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
        "tolerations": [GPU_TOLERATION],
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
    """`NIMService` spec: serve the cached model on `gpus` GPUs per replica."""
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
        "resources": {"limits": {"nvidia.com/gpu": model.gpus}},
        "tolerations": [GPU_TOLERATION],
        "expose": {"service": {"type": "ClusterIP", "port": SERVICE_PORT}},
    }
    proxy = _proxy(http_proxy, no_proxy)
    if proxy is not None:
        spec["proxy"] = proxy
    return spec


def service_endpoints(models: Sequence[NimModel], namespace: str) -> dict[str, str]:
    """Model name -> in-cluster URL of its OpenAI-compatible endpoint."""
    return {
        model.name: f"http://{model.name}.{namespace}.svc.cluster.local:{SERVICE_PORT}"
        for model in models
    }


# --------------------------------------------------------------------------- #
# Component
# --------------------------------------------------------------------------- #


class NimOperator(pulumi.ComponentResource):
    """NIM Operator plus one NIMCache and NIMService per model."""

    namespace: pulumi.Output[str]
    """Namespace of the NIM services."""
    endpoints: pulumi.Output[dict[str, str]]
    """Model name -> in-cluster URL (`http://<model>.<namespace>.svc.cluster.local:8000`)."""

    def __init__(
        self, name: str, args: NimOperatorArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__(TYPE, name, None, opts)
        child = pulumi.ResourceOptions(parent=self, provider=args.provider)

        release = _create_operator(name, args, child)
        namespace = _create_models_namespace(name, args, child)
        secrets = _create_ngc_secrets(name, args, namespace, child)
        services = _create_models(name, args, [release, *secrets], child)

        # Outputs resolve once the objects they describe are registered.
        self.namespace = namespace.metadata.name
        self.endpoints = pulumi.Output.all(*[s.urn for s in services]).apply(
            lambda _: service_endpoints(args.models, args.namespace)
        )
        self.register_outputs({"namespace": self.namespace, "endpoints": self.endpoints})


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
    namespace: k8s.core.v1.Namespace,
    opts: pulumi.ResourceOptions,
) -> list[k8s.core.v1.Secret]:
    # string_data is derived from a secret Output, so Pulumi keeps it encrypted in state;
    # additional_secret_outputs also covers the provider's `data` echo.
    secret_opts = pulumi.ResourceOptions.merge(
        opts,
        pulumi.ResourceOptions(
            depends_on=[namespace], additional_secret_outputs=["data", "stringData"]
        ),
    )
    api_key = k8s.core.v1.Secret(
        f"{name}-ngc-api-secret",
        metadata=k8s.meta.v1.ObjectMetaArgs(name=NGC_API_SECRET, namespace=args.namespace),
        type="Opaque",
        string_data={"NGC_API_KEY": args.ngc_api_key},
        opts=secret_opts,
    )
    # Only nvcr.io gets the key: a mirror registry has its own credentials, and sending
    # the NGC key to another host would leak it there.
    pull = k8s.core.v1.Secret(
        f"{name}-ngc-pull-secret",
        metadata=k8s.meta.v1.ObjectMetaArgs(name=NGC_PULL_SECRET, namespace=args.namespace),
        type="kubernetes.io/dockerconfigjson",
        string_data={
            ".dockerconfigjson": args.ngc_api_key.apply(
                lambda key: docker_config_json(NGC_REGISTRY, key)
            )
        },
        opts=secret_opts,
    )
    return [api_key, pull]


def _create_models(
    name: str,
    args: NimOperatorArgs,
    prerequisites: list[pulumi.Resource],
    opts: pulumi.ResourceOptions,
) -> list[k8s.apiextensions.CustomResource]:
    record_images([model_image(model) for model in args.models], args.mirrors)
    after = pulumi.ResourceOptions.merge(opts, pulumi.ResourceOptions(depends_on=prerequisites))
    services = []
    for model in args.models:
        cache = k8s.apiextensions.CustomResource(
            f"{name}-{model.name}-cache",
            api_version=API_VERSION,
            kind="NIMCache",
            metadata=k8s.meta.v1.ObjectMetaArgs(name=model.name, namespace=args.namespace),
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
            metadata=k8s.meta.v1.ObjectMetaArgs(name=model.name, namespace=args.namespace),
            spec=nim_service_spec(
                model, args.mirrors, http_proxy=args.http_proxy, no_proxy=args.no_proxy
            ),
            opts=pulumi.ResourceOptions.merge(after, pulumi.ResourceOptions(depends_on=[cache])),
        )
        services.append(service)
    return services
