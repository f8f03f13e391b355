"""`ControlPlane`: the tenant cluster's control plane, with three backends.

Every backend yields the kubeconfig from a resource output (kubeadm init command,
Kamaji admin-kubeconfig fetch, ISV readiness check), so on a first preview it is
unknown and nothing contacts the tenant cluster.
"""

from __future__ import annotations

from collections.abc import Sequence

import pulumi
import pulumi_command as command
import pulumi_kubernetes as k8s

from components.cluster import kamaji, kubeadm, node_lifecycle
from components.cluster.bootstrap import (
    SECRET_OUTPUTS,
    configure_registry_mirrors,
    mint_join_token,
)
from components.cluster.kubeconfig import api_server, fingerprint
from components.cluster.labels import CONTROL_PLANE_TAINT, node_labels
from components.cluster.node_group import managed_labels, upgrade_steps
from components.cluster.sizing import api_server_flags, hosted_sizing
from components.cluster.types import (
    MIN_KUBERNETES_VERSION,
    ControlPlaneArgs,
    ControlPlaneBackend,
    JoinParameters,
    Rollout,
    SshHost,
    secret,
)
from components.cluster.upgrade import UpgradeRole

TYPE = "gpu-caas:cluster:ControlPlane"

_WRITE_KUBECONFIG = """set -eu
umask 077
kc=$(mktemp)
trap 'rm -f "$kc"' EXIT
printf '%s' "$KUBECONFIG_DATA" > "$kc"
"""

FETCH_ADMIN_KUBECONFIG = (
    _WRITE_KUBECONFIG
    + """k() { kubectl --kubeconfig "$kc" --namespace "$TCP_NAMESPACE" "$@"; }
k wait "tenantcontrolplane/$TCP_NAME" --timeout=20m \\
  --for=jsonpath='{.status.kubernetesResources.version.status}'=Ready >&2
k get secret "$TCP_NAME-admin-kubeconfig" -o jsonpath='{.data.admin\\.conf}' | base64 -d
"""
)
"""Wait for the Kamaji TenantControlPlane to be Ready, print its admin kubeconfig.
The management kubeconfig comes from the secret env var KUBECONFIG_DATA."""

WAIT_HOSTED_VERSION = (
    _WRITE_KUBECONFIG
    + """k() { kubectl --kubeconfig "$kc" --namespace "$TCP_NAMESPACE" "$@"; }
k wait "tenantcontrolplane/$TCP_NAME" --timeout=30m \\
  --for=jsonpath='{.status.kubernetesResources.version.version}'="$VERSION" >&2
k wait "tenantcontrolplane/$TCP_NAME" --timeout=30m \\
  --for=jsonpath='{.status.kubernetesResources.version.status}'=Ready >&2
echo "control plane at $VERSION"
"""
)
"""Wait until Kamaji reports the TenantControlPlane Ready at `$VERSION` (`v1.35.0`):
`status.kubernetesResources.version` in the pinned TenantControlPlane CRD."""


def readyz_script(minimum: tuple[int, int] | None = MIN_KUBERNETES_VERSION) -> str:
    """Check an API server answers `/readyz` and (with `minimum`) runs a new enough
    Kubernetes. The kubeconfig comes from the secret env var KUBECONFIG_DATA."""
    script = _WRITE_KUBECONFIG + 'kubectl --kubeconfig "$kc" get --raw /readyz >/dev/null\n'
    if minimum is None:
        return script + 'echo "ready"\n'
    major, minor = minimum
    return script + (
        'minor=$(kubectl --kubeconfig "$kc" get --raw /version '
        '| sed -n \'s/.*"minor": *"\\([0-9]*\\).*/\\1/p\')\n'
        f'[ "${{minor:-0}}" -ge {minor} ] || {{ echo "the cluster runs Kubernetes '
        f"{major}.${{minor:-?}}; gpu-caas needs {major}.{minor} or later (DRA is GA "
        'there)" >&2; exit 1; }\n'
        f'echo "ready {major}.$minor"\n'
    )


class ControlPlane(pulumi.ComponentResource):
    """The control plane of one tenant cluster (hosted, kubeadm or external)."""

    kubeconfig: pulumi.Output[str]
    """Admin kubeconfig of the tenant cluster (secret)."""
    api_endpoint: pulumi.Output[str]
    """API server URL, e.g. `https://api.acme.example:6443`."""
    kubernetes_version: pulumi.Output[str]
    join: pulumi.Output[JoinParameters] | None
    """kubeadm backend: join parameters minted on the first control-plane host (secret)."""
    host_commands: dict[str, command.remote.Command]
    """kubeadm backend: host name -> its `kubeadm init` (first host) or `kubeadm join`
    command; empty for the other backends."""

    def __init__(
        self, name: str, args: ControlPlaneArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__(TYPE, name, None, opts)
        self.join = None
        self.host_commands = {}
        if args.backend is ControlPlaneBackend.HOSTED:
            kubeconfig = _create_hosted(name, args, self)
        elif args.backend is ControlPlaneBackend.KUBEADM:
            kubeconfig, self.join = _create_kubeadm(name, args, self)
        else:
            kubeconfig = _create_external(name, args, self)
        self.kubeconfig = secret(kubeconfig)
        # The server URL is not confidential; unsecret it so previews show it.
        self.api_endpoint = pulumi.Output.unsecret(self.kubeconfig.apply(api_server))
        self.kubernetes_version = pulumi.Output.from_input(args.kubernetes_version)
        self.register_outputs(
            {
                "kubeconfig": self.kubeconfig,
                "apiEndpoint": self.api_endpoint,
                "kubernetesVersion": self.kubernetes_version,
            }
        )


def _create_hosted(name: str, args: ControlPlaneArgs, parent: ControlPlane) -> pulumi.Output[str]:
    """Kamaji TenantControlPlane on the management cluster, then fetch its kubeconfig."""
    hosted = args.hosted
    if hosted is None:
        raise ValueError("backend 'hosted' needs ControlPlaneArgs.hosted")
    management_kubeconfig = secret(hosted.management_kubeconfig)
    # Gate the management provider on a readiness check, like the other backends: on a
    # first preview its kubeconfig is unknown, so nothing contacts the management
    # cluster (no "cluster is unreachable" warnings offline); once the check has run,
    # previews are validated against the management cluster for real.
    management_ready = command.local.Command(
        f"{name}-management-readyz",
        create=readyz_script(minimum=None),
        environment={"KUBECONFIG_DATA": management_kubeconfig},
        triggers=[pulumi.Output.from_input(management_kubeconfig).apply(fingerprint)],
        opts=pulumi.ResourceOptions(parent=parent, additional_secret_outputs=SECRET_OUTPUTS),
    )
    management = k8s.Provider(
        f"{name}-management",
        kubeconfig=secret(
            pulumi.Output.all(management_ready.stdout, management_kubeconfig).apply(
                lambda v: str(v[1])
            )
        ),
        # Credentials rotate; the management cluster does not: never replace on a new
        # kubeconfig (https://www.pulumi.com/registry/packages/kubernetes/api-docs/provider/).
        cluster_identifier=f"gpu-caas/{args.cluster_name}/management",
        opts=pulumi.ResourceOptions(parent=parent),
    )
    on_management = pulumi.ResourceOptions(parent=parent, provider=management)
    namespace = k8s.core.v1.Namespace(
        f"{name}-namespace",
        metadata=k8s.meta.v1.ObjectMetaArgs(
            name=hosted.namespace, labels={"gpu-caas.io/tenant": args.cluster_name}
        ),
        opts=on_management,
    )
    tcp = k8s.apiextensions.CustomResource(
        f"{name}-tcp",
        api_version=kamaji.API_VERSION,
        kind=kamaji.KIND,
        metadata=k8s.meta.v1.ObjectMetaArgs(
            name=args.cluster_name,
            namespace=namespace.metadata.name,
            labels={"gpu-caas.io/tenant": args.cluster_name},
        ),
        spec=kamaji.tenant_control_plane_spec(
            name=args.cluster_name,
            version=args.kubernetes_version,
            sizing=hosted_sizing(args.size, args.ha),
            service_type=hosted.service_type,
            pod_cidr=args.pod_cidr,
            service_cidr=args.service_cidr,
            data_store=hosted.data_store,
            address=hosted.address,
            konnectivity_tolerations=hosted.konnectivity_tolerations,
        ),
        opts=on_management,
    )
    # A version change updates the TenantControlPlane in place; Kamaji then rolls the
    # control-plane pods. Workers (which depend on this component) start their own
    # upgrade only when the API server reports the new version.
    command.local.Command(
        f"{name}-upgraded",
        create=WAIT_HOSTED_VERSION,
        environment={
            "KUBECONFIG_DATA": management_kubeconfig,
            "TCP_NAMESPACE": namespace.metadata.name,
            "TCP_NAME": args.cluster_name,
            "VERSION": f"v{args.kubernetes_version}",
        },
        triggers=[args.kubernetes_version],
        opts=pulumi.ResourceOptions(
            parent=parent, depends_on=[tcp], additional_secret_outputs=SECRET_OUTPUTS
        ),
    )
    fetch = command.local.Command(
        f"{name}-admin-kubeconfig",
        create=FETCH_ADMIN_KUBECONFIG,
        environment={
            "KUBECONFIG_DATA": management_kubeconfig,
            "TCP_NAMESPACE": namespace.metadata.name,
            "TCP_NAME": args.cluster_name,
        },
        # A replaced TenantControlPlane has a new CA: fetch again.
        triggers=[tcp.id],
        opts=pulumi.ResourceOptions(
            parent=parent, depends_on=[tcp], additional_secret_outputs=SECRET_OUTPUTS
        ),
    )
    return fetch.stdout


def _create_kubeadm(
    name: str, args: ControlPlaneArgs, parent: ControlPlane
) -> tuple[pulumi.Output[str], pulumi.Output[JoinParameters]]:
    """kubeadm init on the first control-plane host, join the others (HA)."""
    settings = args.kubeadm
    if settings is None or not settings.hosts:
        raise ValueError("backend 'kubeadm' needs ControlPlaneArgs.kubeadm with hosts")
    first, *others = settings.hosts
    version = args.kubernetes_version
    taints = [CONTROL_PLANE_TAINT]
    child = pulumi.ResourceOptions(parent=parent, additional_secret_outputs=SECRET_OUTPUTS)

    def after_mirrors(host: SshHost) -> pulumi.ResourceOptions:
        # The host's first image pulls (kubeadm's control-plane images) use the mirror.
        mirrors = configure_registry_mirrors(
            f"{name}-registry-mirrors-{host.name}",
            host,
            settings.registry_mirrors,
            pulumi.ResourceOptions(parent=parent),
        )
        return (
            child
            if mirrors is None
            else pulumi.ResourceOptions.merge(child, pulumi.ResourceOptions(depends_on=[mirrors]))
        )

    init = command.remote.Command(
        f"{name}-init",
        connection=first.connection(),
        create=kubeadm.init_script(version),
        delete=kubeadm.RESET_SCRIPT,
        stdin=kubeadm.render_init_configuration(
            cluster_name=args.cluster_name,
            version=version,
            node_name=first.name,
            advertise_address=first.address,
            endpoint=settings.endpoint,
            pod_cidr=args.pod_cidr,
            service_cidr=args.service_cidr,
            cri_socket=settings.cri_socket,
            labels=node_labels(tenant=args.cluster_name, node_group=None, host=first),
            taints=taints,
            api_server_args=api_server_flags(args.size).as_args(),
        ),
        # `kubeadm init` runs once; version changes go through `<name>-upgrade-<host>`.
        opts=pulumi.ResourceOptions.merge(after_mirrors(first), _RUN_ONCE),
    )
    _, join = mint_join_token(
        f"{name}-join-token",
        host=first,
        joining_hosts=settings.joining_hosts or [h.name for h in settings.hosts],
        upload_certs=bool(others),
        kubeconfig=None,
        opts=pulumi.ResourceOptions(parent=parent, depends_on=[init]),
        renewal=args.join_token_renewal,
    )
    joins: list[command.remote.Command] = [init]
    for host in others:
        labels = node_labels(tenant=args.cluster_name, node_group=None, host=host)

        def join_configuration(
            j: JoinParameters, h: SshHost = host, lb: dict[str, str] = labels
        ) -> str:
            return kubeadm.render_join_configuration(
                node_name=h.name,
                join=j,
                cri_socket=settings.cri_socket,
                labels=lb,
                taints=taints,
                control_plane_address=h.address,
            )

        joins.append(
            command.remote.Command(
                f"{name}-join-{host.name}",
                connection=host.connection(),
                create=kubeadm.join_script(version),
                delete=kubeadm.RESET_SCRIPT,
                stdin=secret(join.apply(join_configuration)),
                opts=pulumi.ResourceOptions.merge(after_mirrors(host), _RUN_ONCE),
            )
        )
    parent.host_commands = {h.name: c for h, c in zip(settings.hosts, joins, strict=True)}
    _upgrade_in_turn(name, args, parent, list(zip(settings.hosts, joins, strict=True)), init.stdout)
    return init.stdout, join


_RUN_ONCE = pulumi.ResourceOptions(ignore_changes=["create", "stdin"])
"""init and joins run once: a new token, version or label set must not re-run them."""


def _upgrade_in_turn(
    name: str,
    args: ControlPlaneArgs,
    parent: ControlPlane,
    hosts: Sequence[tuple[SshHost, pulumi.Resource]],
    kubeconfig: pulumi.Output[str],
) -> None:
    """Control-plane hosts one at a time: drain, upgrade, Node back in line.

    The first host runs `kubeadm upgrade apply`, the others `kubeadm upgrade node`
    (https://kubernetes.io/docs/tasks/administer-cluster/kubeadm/kubeadm-upgrade/); the
    node groups depend on the whole control plane, so workers follow once every
    control-plane host is done. Drain and upgrade are replaced when the version
    changes; all three do nothing on a host already at the version.
    """
    version = args.kubernetes_version
    previous: pulumi.Resource | None = None
    for index, (host, joined) in enumerate(hosts):
        environment = node_lifecycle.node_environment(
            node=host.name,
            kubeconfig=secret(kubeconfig),
            version=version,
            labels=managed_labels(
                node_labels(tenant=args.cluster_name, node_group=None, host=host)
            ),
            taints=[CONTROL_PLANE_TAINT],
            state="active",
            drain_timeout_seconds=Rollout().drain_timeout_seconds,
            delete_emptydir_data=Rollout().delete_empty_dir_data,
        )
        role = UpgradeRole.FIRST_CONTROL_PLANE if index == 0 else UpgradeRole.CONTROL_PLANE
        previous = upgrade_steps(
            name,
            host,
            version=version,
            role=role,
            environment=environment,
            after=[joined] + ([previous] if previous is not None else []),
            parent=parent,
        )


def _create_external(name: str, args: ControlPlaneArgs, parent: ControlPlane) -> pulumi.Output[str]:
    """Check the ISV cluster answers and is new enough; its kubeconfig then flows on."""
    external = args.external
    if external is None:
        raise ValueError("backend 'external' needs ControlPlaneArgs.external")
    kubeconfig = secret(external.kubeconfig)
    ready = command.local.Command(
        f"{name}-readyz",
        create=readyz_script(),
        environment={"KUBECONFIG_DATA": kubeconfig},
        # Re-check when the ISV hands over a different kubeconfig.
        triggers=[pulumi.Output.from_input(kubeconfig).apply(fingerprint)],
        opts=pulumi.ResourceOptions(parent=parent, additional_secret_outputs=SECRET_OUTPUTS),
    )
    # Unknown until the cluster answered: a first preview never contacts it.
    return pulumi.Output.all(ready.stdout, kubeconfig).apply(lambda v: str(v[1]))
