"""Platform safety rules: what the provider promises itself about what it deploys.

Charts are pinned and come from known places, the GPU stack is past the container-escape
CVE floors, the cluster is new enough for DRA, credentials never sit in plain resource
properties, and every host belongs to exactly one node group of this stack's tenant.

One validator per rule; messages name the resource and the fix. Rules where isolation
is at stake (CVE floors: container escape; credentials; host ownership) are MANDATORY,
and so are the supply-chain rules: an unpinned chart is an unreviewed change.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from typing import Any

from pulumi_policy import (
    EnforcementLevel,
    PolicyConfigSchema,
    ReportViolation,
    ResourceValidationArgs,
    ResourceValidationPolicy,
    StackValidationArgs,
    StackValidationPolicy,
)

from components.naming import LABEL_NODE_GROUP, LABEL_TENANT
from components.versions import Version
from policies.gpu_caas_policies import defaults, secrets, stack_config
from policies.gpu_caas_policies import report as pack_report
from policies.gpu_caas_policies._props import (
    K8S_PROVIDER_TYPE,
    config_list,
    config_value,
    get,
    known,
    preview_tolerant,
    walk_strings,
)
from policies.gpu_caas_policies.stack_secrets import stack_secrets_encrypted

HELM_RELEASE = "kubernetes:helm.sh/v3:Release"
HELM_CHART_V4 = "kubernetes:helm.sh/v4:Chart"
HELM_TYPES = (HELM_RELEASE, HELM_CHART_V4)

TENANT_CLUSTER = "gpu-caas:cluster:TenantCluster"
CONTROL_PLANE = "gpu-caas:cluster:ControlPlane"
NODE_GROUP = "gpu-caas:cluster:NodeGroup"
"""Component types whose registered props the ownership and version rules read:
`{"tenant": str, "kubernetesVersion": str, "hosts": [str], "failedHosts": [str],
"nodeGroup": str}` (see
docs/policies.md, "Component properties")."""

KAMAJI_TCP = "kubernetes:kamaji.clastix.io/v1alpha1:TenantControlPlane"

# An exact chart version: no ranges (^ ~ > < || x *), no empty value.
_EXACT_VERSION = re.compile(r"^v?[0-9]+(\.[0-9]+){1,3}([-+][0-9A-Za-z.\-+]+)?$")
# Leading numeric version of an image tag such as "v1.17.8-ubuntu20.04".
_TAG_VERSION = re.compile(r"^v?([0-9]+(\.[0-9]+){1,3})")


def _describe(args: ResourceValidationArgs) -> str:
    kind = args.resource_type.rsplit(":", 1)[-1]
    return f'{kind} "{args.name}"'


# --------------------------------------------------------------------------- #
# Helm
# --------------------------------------------------------------------------- #


def _chart_name(chart: str) -> str:
    return chart.rstrip("/").rsplit("/", 1)[-1]


def chart_source(props: Mapping[str, Any]) -> str | None:
    """Where a Helm release pulls its chart from: the repository URL, or the OCI path
    without the chart name; None for local paths and `repo/chart` aliases."""
    repo = get(props, "repositoryOpts", "repo")
    if isinstance(repo, str) and repo:
        return repo.rstrip("/")
    chart = get(props, "chart")
    if isinstance(chart, str) and chart.startswith("oci://"):
        return chart.rstrip("/").rsplit("/", 1)[0]
    return None


@preview_tolerant
def helm_exact_version_validator(args: ResourceValidationArgs, report: ReportViolation) -> None:
    """Helm charts are pinned to one exact version."""
    if args.resource_type not in HELM_TYPES:
        return
    version = get(args.props, "version")
    if not isinstance(version, str) or not _EXACT_VERSION.match(version):
        report(
            f"{_describe(args)} installs chart {get(args.props, 'chart')!r} at version "
            f"{version!r}. Pin an exact version (e.g. '3.9.0') from components/versions.py; "
            "ranges and 'latest' change what is deployed without a review.",
            None,
        )


@preview_tolerant
def helm_allowed_source_validator(args: ResourceValidationArgs, report: ReportViolation) -> None:
    """Helm charts come from an allowed repository or the configured mirror."""
    if args.resource_type not in HELM_TYPES:
        return
    config = args.get_config()
    allowed = [
        r.rstrip("/")
        for r in config_list(
            config, "allowedChartRepositories", defaults.ALLOWED_CHART_REPOSITORIES
        )
    ]
    if config_value(config, "trustStackMirrors", True):
        allowed += stack_config.stack_mirrors()[0]
    source = chart_source(args.props)
    if source is None:
        report(
            f"{_describe(args)} installs chart {get(args.props, 'chart')!r} from a local path "
            "or an unnamed repository. Pull it from an allowed repository or the mirror "
            "(set repositoryOpts.repo, or an oci:// chart reference).",
            None,
        )
        return
    if not any(source == a or source.startswith(a + "/") for a in allowed):
        report(
            f"{_describe(args)} pulls chart {get(args.props, 'chart')!r} from {source!r}, "
            "which is not an allowed chart repository. Use the upstream repository from "
            "components/versions.py or the configured mirror, or add the repository to "
            "allowedChartRepositories.",
            None,
        )


_HELM_SCHEMA = PolicyConfigSchema(
    properties={
        "allowedChartRepositories": {
            "type": "array",
            "items": {"type": "string"},
            "description": "Chart repositories (https URL or oci:// path) charts may come from.",
            "default": list(defaults.ALLOWED_CHART_REPOSITORIES),
        },
        "trustStackMirrors": {
            "type": "boolean",
            "description": "Also allow the mirrors named in the stack's gpu-caas:tenant config.",
            "default": True,
        },
    },
)

helm_exact_version = ResourceValidationPolicy(
    name="helm-chart-exact-version",
    description="Helm charts must be pinned to an exact version.",
    validate=helm_exact_version_validator,
    enforcement_level=EnforcementLevel.MANDATORY,
)

helm_allowed_source = ResourceValidationPolicy(
    name="helm-chart-allowed-repository",
    description="Helm charts must come from an allowed repository or the configured mirror.",
    validate=helm_allowed_source_validator,
    enforcement_level=EnforcementLevel.MANDATORY,
    config_schema=_HELM_SCHEMA,
)

# --------------------------------------------------------------------------- #
# CVE floors and Kubernetes version
# --------------------------------------------------------------------------- #


def _at_least(version: str, floor: str) -> bool | None:
    """True/False as `version` >= `floor`; None when `version` is not a version."""
    match = _TAG_VERSION.match(version.strip())
    if match is None:
        return None
    return Version.parse(match.group(1)) >= Version.parse(floor)


def _gpu_operator_release(args: ResourceValidationArgs) -> bool:
    """True for a Helm release of the GPU Operator; any other release is noted as one
    the policy does not apply to (the preview report does not count it)."""
    if args.resource_type not in HELM_TYPES:
        return False
    chart = get(args.props, "chart")
    names = config_list(args.get_config(), "gpuOperatorCharts", ("gpu-operator",))
    if isinstance(chart, str) and _chart_name(chart) in names:
        return True
    pack_report.note_not_applicable()
    return False


def _versus(what: str, version: object, floor: str, ok: bool | None) -> str:
    """`GPU Operator v26.7.0 >= 25.3.1` (or `<`, or `... is not a version`), for the
    preview report."""
    if ok is None:
        return f"{what} {version!r} is not a version (floor {floor})"
    return f"{what} {version} {'>=' if ok else '<'} {floor}"


@preview_tolerant
def gpu_operator_floor_validator(args: ResourceValidationArgs, report: ReportViolation) -> None:
    """The GPU Operator is at or above the CVE-2025-23266 floor."""
    if not _gpu_operator_release(args):
        return
    floor = str(config_value(args.get_config(), "minVersion", defaults.GPU_OPERATOR_MIN_VERSION))
    version = get(args.props, "version")
    ok = _at_least(version, floor) if isinstance(version, str) else None
    pack_report.note_outcome(_versus("GPU Operator", version, floor, ok))
    if not ok:
        report(
            f"{_describe(args)} installs GPU Operator {version!r}, below {floor} (container "
            "escape CVE-2025-23266 in its container toolkit). Use the version from "
            "components/versions.py.",
            None,
        )


@preview_tolerant
def toolkit_floor_validator(args: ResourceValidationArgs, report: ReportViolation) -> None:
    """The NVIDIA Container Toolkit the GPU Operator deploys is at or above the floor."""
    if not _gpu_operator_release(args):
        return
    toolkit = get(args.props, "values", "toolkit", default={}) or {}
    version = get(toolkit, "version")
    if version is None:
        # The chart's default toolkit; the chart floor covers it.
        pack_report.note_outcome("the chart's default toolkit, covered by gpu-operator-cve-floor")
        return
    floor = str(
        config_value(args.get_config(), "minVersion", defaults.CONTAINER_TOOLKIT_MIN_VERSION)
    )
    ok = _at_least(str(version), floor)
    pack_report.note_outcome(_versus("toolkit", version, floor, ok))
    if not ok:
        report(
            f"{_describe(args)} sets toolkit.version {version!r}, below {floor} or not a "
            "version tag (CVE-2025-23266, container escape). Remove the override or set a "
            f"toolkit version >= {floor}.",
            None,
        )


def _kubernetes_version(resource_type: str, props: Mapping[str, Any]) -> str | None:
    if resource_type in (TENANT_CLUSTER, CONTROL_PLANE):
        value = known(props, "kubernetesVersion")
    elif resource_type == KAMAJI_TCP:
        value = known(props, "spec", "kubernetes", "version")
    elif resource_type.startswith("kubernetes:controlplane.cluster.x-k8s.io/"):
        value = known(props, "spec", "version")  # Cluster API KubeadmControlPlane
    else:
        return None
    return value if isinstance(value, str) else None


@preview_tolerant
def kubernetes_version_validator(args: StackValidationArgs, report: ReportViolation) -> None:
    """Tenant clusters run Kubernetes 1.34 or later (DRA GA).

    A stack policy, because gpu-caas components publish `kubernetesVersion` as a
    registered output (`register_outputs`), which only stack policies see.
    """
    floor = str(config_value(args.get_config(), "minVersion", defaults.KUBERNETES_MIN_VERSION))
    for resource in args.resources:
        version = _kubernetes_version(resource.resource_type, resource.props)
        if version is None:
            continue
        ok = _at_least(version, floor)
        pack_report.note_outcome(_versus("Kubernetes", version, floor, ok))
        if ok:
            continue
        kind = resource.resource_type.rsplit(":", 1)[-1]
        report(
            f'{kind} "{resource.name}" runs Kubernetes {version!r}. Use {floor} or later: '
            "GPU allocation relies on Dynamic Resource Allocation, GA in 1.34.",
            resource.urn,
        )


def _min_version_schema(default: str, what: str) -> PolicyConfigSchema:
    return PolicyConfigSchema(
        properties={
            "minVersion": {"type": "string", "description": f"Minimum {what}.", "default": default},
        }
    )


def _cve_floor_schema(default: str, what: str) -> PolicyConfigSchema:
    """Config of a CVE-floor policy: the minimum version and which charts are the GPU
    Operator (the toolkit version is a GPU Operator value)."""
    return PolicyConfigSchema(
        properties={
            **_min_version_schema(default, what).properties,
            "gpuOperatorCharts": {
                "type": "array",
                "items": {"type": "string"},
                "default": ["gpu-operator"],
                "description": "Chart names that are the GPU Operator.",
            },
        }
    )


gpu_operator_floor = ResourceValidationPolicy(
    name="gpu-operator-cve-floor",
    description="The NVIDIA GPU Operator must be at or above the container-escape CVE floor.",
    validate=gpu_operator_floor_validator,
    enforcement_level=EnforcementLevel.MANDATORY,
    config_schema=_cve_floor_schema(defaults.GPU_OPERATOR_MIN_VERSION, "GPU Operator version"),
)

toolkit_floor = ResourceValidationPolicy(
    name="container-toolkit-cve-floor",
    description="The NVIDIA Container Toolkit must be at or above the container-escape CVE floor.",
    validate=toolkit_floor_validator,
    enforcement_level=EnforcementLevel.MANDATORY,
    config_schema=_cve_floor_schema(
        defaults.CONTAINER_TOOLKIT_MIN_VERSION, "NVIDIA Container Toolkit version"
    ),
)

kubernetes_version = StackValidationPolicy(
    name="kubernetes-minimum-version",
    description="Tenant clusters must run Kubernetes 1.34 or later.",
    validate=kubernetes_version_validator,
    enforcement_level=EnforcementLevel.MANDATORY,
    config_schema=_min_version_schema(defaults.KUBERNETES_MIN_VERSION, "Kubernetes version"),
)

# --------------------------------------------------------------------------- #
# Credentials only in secrets
# --------------------------------------------------------------------------- #

_CREDENTIAL_PATTERNS: tuple[tuple[str, re.Pattern[str]], ...] = (
    ("a private key", re.compile(r"-----BEGIN [A-Z0-9 ]*PRIVATE KEY-----")),
    (
        "a kubeconfig",
        re.compile(
            r"client-key-data:\s*\S{16,}|(?s:kind:\s*Config\b.*users:)"
            r"|(?s:\"kind\"\s*:\s*\"Config\".*\"users\")"
        ),
    ),
    ("an NGC API key", re.compile(r"\bnvapi-[A-Za-z0-9_\-]{20,}")),
)

_SECRET_TYPES = frozenset(
    {
        "kubernetes:core/v1:Secret",
        "kubernetes:core/v1:SecretPatch",
    }
)

# Where credentials may sit when the engine's secret markers are not available (unit
# tests, or a pack started without `install_secret_tracking_hook`): the fields gpu-caas
# always fills with Pulumi secrets.
_SECRET_FIELDS: dict[str, tuple[str, ...]] = {
    K8S_PROVIDER_TYPE: ("kubeconfig",),
    "command:remote:Command": ("connection", "environment", "stdin"),
    "command:remote:CopyToRemote": ("connection",),
    "command:local:Command": ("environment", "stdin"),
}

# Command strings end up in the host's process list and shell history, secret or not.
_COMMAND_STRINGS = ("create", "update", "delete")


def find_credentials(
    resource_type: str,
    props: Mapping[str, Any],
    secret_values: frozenset[str] | Callable[[], frozenset[str] | None] | None = None,
) -> list[tuple[str, str]]:
    """`(property path, what)` for every credential not held as a secret.

    Args:
        resource_type: the resource's type token.
        props: its inputs.
        secret_values: strings the engine sent as Pulumi secrets for this resource
            (`secrets.current_secret_strings()`), or a function returning them, called
            only when a credential is found; None when unknown, in which case
            credentials are accepted only in the fields of `_SECRET_FIELDS`.
    """
    if resource_type in _SECRET_TYPES:
        return []
    allowed = _SECRET_FIELDS.get(resource_type, ())
    command = resource_type.startswith("command:")
    found: list[tuple[str, str]] = []
    for path, value in walk_strings(props):
        what = next((w for w, pattern in _CREDENTIAL_PATTERNS if pattern.search(value)), None)
        if what is None:
            continue
        if callable(secret_values):
            secret_values = secret_values()  # asked once, at the first credential
        top = re.split(r"[.\[]", path, maxsplit=1)[0]
        if command and top in _COMMAND_STRINGS:
            found.append((path, what))
        elif secret_values is not None:
            if value not in secret_values:
                found.append((path, what))
        elif top not in allowed:
            found.append((path, what))
    return found


@preview_tolerant
def credentials_validator(args: ResourceValidationArgs, report: ReportViolation) -> None:
    """Kubeconfigs, SSH keys and API keys appear only as secrets."""
    found = find_credentials(args.resource_type, args.props, secrets.current_secret_strings)
    for path, what in found:
        report(
            f"{_describe(args)} holds {what} in `{path}` in plain text. Pass it as a Pulumi "
            "secret (`pulumi.Output.secret`) through the provider kubeconfig or a command's "
            "connection/environment/stdin, or keep it in a kubernetes Secret and reference "
            "it; never put it in a command string.",
            None,
        )


credentials_only_in_secrets = ResourceValidationPolicy(
    name="credentials-only-in-secrets",
    description="Kubeconfigs, SSH private keys and API keys must only ever be held as secrets.",
    validate=credentials_validator,
    enforcement_level=EnforcementLevel.MANDATORY,
)

# --------------------------------------------------------------------------- #
# Hosts and node groups (stack policies over component properties)
# --------------------------------------------------------------------------- #


def _stack_tenant(args: StackValidationArgs) -> str | None:
    """This stack's tenant: policy config, the TenantCluster's `tenant`, or the stack's
    `gpu-caas:tenant` config `name`."""
    configured = config_value(args.get_config(), "tenant", None)
    if isinstance(configured, str) and configured:
        return configured
    for resource in args.resources:
        if resource.resource_type == TENANT_CLUSTER:
            tenant = known(resource.props, "tenant")
            if isinstance(tenant, str):
                return tenant
    return stack_config.stack_tenant_name()


def _node_groups(args: StackValidationArgs) -> list[tuple[str, str, Any, list[str]]]:
    """`(urn, node group name, tenant, hosts)` of every NodeGroup component.

    Reads the props gpu-caas' NodeGroup registers: `tenant`/`nodeGroup`/`hosts` when
    given, else its outputs `labels` (`gpu-caas.io/tenant`, `gpu-caas.io/node-group`)
    and `nodeNames` (joined hosts are named like their inventory host).
    """
    groups = []
    for resource in args.resources:
        if resource.resource_type != NODE_GROUP:
            continue
        labels = known(resource.props, "labels", default={}) or {}
        name = (
            known(resource.props, "nodeGroup") or known(labels, LABEL_NODE_GROUP) or resource.name
        )
        tenant = known(resource.props, "tenant") or known(labels, LABEL_TENANT)
        hosts = known(resource.props, "hosts") or known(resource.props, "nodeNames") or []
        # A failed host is out of service but still this group's host (cordoned Node,
        # kept join): it counts for ownership and for "one group per host".
        failed = known(resource.props, "failedHosts") or []
        hosts = [*hosts, *(failed if isinstance(failed, list) else [])]
        groups.append((resource.urn, str(name), tenant, [h for h in hosts if isinstance(h, str)]))
    # The engine hands resources over in no fixed order; sorting makes every report land
    # on the same resource run after run.
    return sorted(groups, key=lambda group: group[1])


@preview_tolerant
def ownership_validator(args: StackValidationArgs, report: ReportViolation) -> None:
    """Every node group and host belongs to this stack's tenant."""
    tenant = _stack_tenant(args)
    owners = config_value(args.get_config(), "hostOwners", {}) or {}
    groups = _node_groups(args)
    if groups:
        names = ", ".join(name for _, name, _, _ in groups)
        pack_report.note_outcome(f"tenant {tenant or 'unknown'}: node groups {names}")
    if any(hosts for *_, hosts in groups) and not (isinstance(owners, Mapping) and owners):
        pack_report.note_skipped("the host inventory check", "hostOwners")
    for urn, name, group_tenant, hosts in groups:
        # A group that registers no tenant (neither the `tenant` prop nor the
        # gpu-caas.io/tenant label output) cannot be judged: no report rather than a
        # false positive. gpu-caas' NodeGroup registers both (docs/policies.md).
        if group_tenant is not None and tenant is not None and group_tenant != tenant:
            report(
                f'NodeGroup "{name}" belongs to tenant "{group_tenant}", not to this stack\'s '
                f'tenant "{tenant}". Move it to the "{group_tenant}" stack.',
                urn,
            )
        expected = tenant or group_tenant
        if not isinstance(owners, Mapping) or not owners or expected is None:
            continue
        for host in hosts:
            owner = owners.get(host)
            if owner != expected:
                report(
                    f'Host "{host}" of NodeGroup "{name}" is assigned to '
                    f"{'tenant ' + repr(owner) if owner else 'no tenant'} in the provider "
                    f'inventory (hostOwners), not to "{expected}". Remove it '
                    "from the node group or reassign it in the inventory first.",
                    urn,
                )


@preview_tolerant
def one_group_per_host_validator(args: StackValidationArgs, report: ReportViolation) -> None:
    """No host serves two node groups."""
    seen: dict[str, str] = {}
    for urn, name, _tenant, hosts in _node_groups(args):
        for host in hosts:
            if host in seen and seen[host] != name:
                report(
                    f'Host "{host}" is in NodeGroup "{seen[host]}" and NodeGroup "{name}". '
                    "Keep each host in exactly one node group.",
                    urn,
                )
            else:
                seen[host] = name


node_group_ownership = StackValidationPolicy(
    name="hosts-belong-to-tenant",
    description="Every node group and host must belong to this stack's tenant.",
    validate=ownership_validator,
    enforcement_level=EnforcementLevel.MANDATORY,
    config_schema=PolicyConfigSchema(
        properties={
            "tenant": {
                "type": "string",
                "description": "This stack's tenant; default: the TenantCluster's tenant.",
            },
            "hostOwners": {
                "type": "object",
                "additionalProperties": {"type": "string"},
                "description": "Provider inventory: host name -> owning tenant.",
                "default": {},
            },
        }
    ),
)

one_group_per_host = StackValidationPolicy(
    name="host-in-one-node-group",
    description="No host may serve two node groups.",
    validate=one_group_per_host_validator,
    enforcement_level=EnforcementLevel.MANDATORY,
)

POLICIES = [
    helm_exact_version,
    helm_allowed_source,
    gpu_operator_floor,
    toolkit_floor,
    kubernetes_version,
    credentials_only_in_secrets,
    stack_secrets_encrypted,
    node_group_ownership,
    one_group_per_host,
]
"""The platform-safety pack, in the order the docs list it."""
