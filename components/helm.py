"""The one way gpu-caas installs a Helm chart.

`helm_release` wraps `kubernetes.helm.v3.Release` so every chart:

* is pinned to the exact `HelmChart.version` from `components/versions.py`;
* is pulled through the tenant's mirror (`Mirrors.chart`), as an https repository
  (`repository_opts.repo`) or an OCI reference (`chart="oci://.../<chart>"`);
* never creates its namespace (`create_namespace=False`): namespaces are explicit
  resources with Pod Security labels, created by the component;
* waits for its resources (`skip_await=False`), so dependents start on a ready
  operator;
* is recorded, with the images it pulls, in the stack's mirror list.

Values are passed through unchanged. Charts put image registries in different keys,
so each component renders its own registry keys from `Mirrors.image_registry` in its
pure values function; `registry_values` is an optional hook for charts where that is
easier as an overlay: its result is deep-merged over `values`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from typing import Any

import pulumi
import pulumi_kubernetes as k8s

from components.mirrors import MirrorList, Mirrors, record_chart, record_images
from components.versions import HelmChart


def chart_reference(chart: HelmChart) -> tuple[str, str | None]:
    """Return `(chart, repo)` as `helm.v3.Release` wants them.

    OCI charts are addressed as `oci://registry/path/<chart>` with no repository;
    https charts as the bare chart name plus the repository URL.
    """
    if chart.is_oci:
        return f"{chart.repository.rstrip('/')}/{chart.chart}", None
    return chart.chart, chart.repository


def deep_merge(base: Mapping[str, Any], overlay: Mapping[str, Any]) -> dict[str, Any]:
    """Return `base` with `overlay` merged in; nested mappings merge, everything else replaces."""
    merged: dict[str, Any] = dict(base)
    for key, value in overlay.items():
        current = merged.get(key)
        if isinstance(current, Mapping) and isinstance(value, Mapping):
            merged[key] = deep_merge(current, value)
        else:
            merged[key] = value
    return merged


def release_args(
    chart: HelmChart,
    values: Mapping[str, Any],
    namespace: pulumi.Input[str],
    mirrors: Mirrors,
    *,
    release_name: str | None = None,
    registry_values: Callable[[Mirrors], Mapping[str, Any]] | None = None,
    timeout_seconds: int = 900,
) -> k8s.helm.v3.ReleaseArgs:
    """Build the `ReleaseArgs` for `chart` (pure; `helm_release` uses it)."""
    mirrored = mirrors.chart(chart)
    chart_ref, repo = chart_reference(mirrored)
    rendered = dict(values)
    if registry_values is not None:
        rendered = deep_merge(rendered, registry_values(mirrors))
    return k8s.helm.v3.ReleaseArgs(
        # A fixed Helm release name keeps chart-generated object names (which derive
        # from it) stable and readable; Pulumi would otherwise append a random suffix.
        name=release_name or chart.chart,
        chart=chart_ref,
        version=mirrored.version,
        namespace=namespace,
        repository_opts=k8s.helm.v3.RepositoryOptsArgs(repo=repo) if repo else None,
        values=rendered,
        create_namespace=False,
        skip_await=False,
        # Roll back a failed upgrade instead of leaving a half-applied release.
        atomic=True,
        cleanup_on_fail=True,
        timeout=timeout_seconds,
    )


def helm_release(
    name: str,
    chart: HelmChart,
    values: Mapping[str, Any],
    namespace: pulumi.Input[str],
    mirrors: Mirrors,
    opts: pulumi.ResourceOptions,
    *,
    images: Iterable[str] = (),
    release_name: str | None = None,
    registry_values: Callable[[Mirrors], Mapping[str, Any]] | None = None,
    timeout_seconds: int = 900,
    mirror_list: MirrorList | None = None,
) -> k8s.helm.v3.Release:
    """Install `chart` as a Helm release through the tenant's mirrors.

    Args:
        name: Pulumi resource name, `f"{component}-{suffix}"`.
        chart: upstream chart from `components/versions.py`.
        values: chart values, rendered by the component's pure values function.
        namespace: existing namespace (the component creates it).
        mirrors: the tenant's chart/image mirrors.
        opts: must carry `parent` and the tenant cluster's explicit `provider`.
        images: upstream image references the release pulls, for the mirror list.
        release_name: Helm release name; defaults to the chart name.
        registry_values: optional hook; its result is deep-merged over `values`.
        timeout_seconds: Helm wait timeout.
        mirror_list: list to record into, in addition to the stack's mirror list.

    Returns:
        The `kubernetes.helm.v3.Release`.
    """
    if opts.provider is None and not opts.providers:
        # Architecture contract: never fall back to the ambient default provider,
        # which would install into whatever cluster the operator's kubeconfig names.
        raise ValueError(f"helm_release {name!r}: opts must carry the tenant cluster provider")
    record_chart(chart, mirrors)
    image_list = list(images)
    record_images(image_list, mirrors)
    if mirror_list is not None:
        mirror_list.add_chart(chart, mirrors)
        mirror_list.add_images(image_list, mirrors)
    args = release_args(
        chart,
        values,
        namespace,
        mirrors,
        release_name=release_name,
        registry_values=registry_values,
        timeout_seconds=timeout_seconds,
    )
    return k8s.helm.v3.Release(name, args, opts=opts)
