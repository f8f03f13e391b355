"""`TenantCluster`: control plane + node groups + the ONE tenant kubernetes provider."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace

import pulumi
import pulumi_command as command
import pulumi_kubernetes as k8s

from components.cluster.bootstrap import joined_hosts, mint_join_token
from components.cluster.control_plane import ControlPlane
from components.cluster.node_group import NodeGroup
from components.cluster.types import (
    ControlPlaneArgs,
    ControlPlaneBackend,
    JoinParameters,
    NodeGroupArgs,
)

TYPE = "gpu-caas:cluster:TenantCluster"


@dataclass(frozen=True)
class TenantClusterArgs:
    """Inputs of `TenantCluster`."""

    control_plane: ControlPlaneArgs
    node_groups: Sequence[NodeGroupArgs] = ()


class TenantCluster(pulumi.ComponentResource):
    """One tenant's dedicated GPU-ready Kubernetes cluster.

    Children: `<name>-command` (command provider every bootstrap command uses),
    `<name>-control-plane`, `<name>-<group>` per node group, `<name>-join-token`
    (hosted control planes with inventory hosts) and `<name>-k8s`, the tenant's
    kubernetes provider that every resource on the cluster must use.
    """

    kubeconfig: pulumi.Output[str]
    """Admin kubeconfig (secret)."""
    api_endpoint: pulumi.Output[str]
    kubernetes_version: pulumi.Output[str]
    provider: k8s.Provider
    """The tenant cluster's explicit kubernetes provider."""
    control_plane: ControlPlane
    node_groups: dict[str, NodeGroup]
    """Node groups by name."""
    joined_hosts: pulumi.Output[list[str]]
    """Hosts (sorted) whose `kubeadm init` or `kubeadm join` has succeeded after this
    update: a join that failed under `--continue-on-error` is left out; a preview
    repeats what the last update recorded (`bootstrap.joined_hosts`)."""

    def __init__(
        self, name: str, args: TenantClusterArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        # Plain facts the platform-safety pack reads (tenant ownership, Kubernetes floor).
        super().__init__(
            TYPE,
            name,
            {
                "tenant": args.control_plane.cluster_name,
                "kubernetesVersion": args.control_plane.kubernetes_version,
            },
            opts,
        )
        # An explicit command provider: no resource of the cluster uses a default one.
        commands = command.Provider(f"{name}-command", opts=pulumi.ResourceOptions(parent=self))
        self.control_plane = ControlPlane(
            f"{name}-control-plane",
            args.control_plane,
            pulumi.ResourceOptions(parent=self, providers=[commands]),
        )
        join = _join_parameters(name, args, self.control_plane, self, commands)
        self.node_groups = {
            group.group_name: NodeGroup(
                f"{name}-{group.group_name}",
                replace(group, join=join, kubeconfig=self.control_plane.kubeconfig)
                if group.hosts or group.failed_hosts
                else group,
                pulumi.ResourceOptions(
                    parent=self, providers=[commands], depends_on=[self.control_plane]
                ),
            )
            for group in args.node_groups
        }
        self.provider = k8s.Provider(
            f"{name}-k8s",
            kubeconfig=self.control_plane.kubeconfig,
            # The provider (and with it every resource on the cluster) is replaced only
            # when this changes, not when the admin kubeconfig is re-issued or rotated.
            cluster_identifier=f"gpu-caas/{name}",
            # Every ConfigMap gpu-caas creates is read by name by an operator (the GPU
            # Operator's device-plugin, MIG and DCGM configs, ...). The provider's default
            # replaces a ConfigMap whose data changes, which for a fixed name means
            # delete-then-create: a window in which the operator finds no config. Update
            # them in place instead; the operators watch them
            # (https://www.pulumi.com/registry/packages/kubernetes/api-docs/provider/#enableconfigmapmutable_nodejs).
            enable_config_map_mutable=True,
            opts=pulumi.ResourceOptions(parent=self, depends_on=[self.control_plane]),
        )
        renewal = args.control_plane.join_token_renewal
        self.joined_hosts = joined_hosts(
            {
                **self.control_plane.host_commands,
                **{h: c for g in self.node_groups.values() for h, c in g.host_joins.items()},
            },
            renewal.joined_hosts if renewal is not None else frozenset(),
        )
        self.kubeconfig = self.control_plane.kubeconfig
        self.api_endpoint = self.control_plane.api_endpoint
        self.kubernetes_version = self.control_plane.kubernetes_version
        self.register_outputs(
            {
                "tenant": args.control_plane.cluster_name,
                "kubeconfig": self.kubeconfig,
                "apiEndpoint": self.api_endpoint,
                "kubernetesVersion": self.kubernetes_version,
            }
        )


def _join_parameters(
    name: str,
    args: TenantClusterArgs,
    control_plane: ControlPlane,
    parent: TenantCluster,
    commands: command.Provider,
) -> pulumi.Output[JoinParameters] | None:
    """Where hosts join: kubeadm mints tokens on its first control-plane host; a hosted
    control plane has no host of ours, so the first worker mints one with the admin
    kubeconfig on stdin."""
    hosts = [h for g in args.node_groups for h in g.hosts]
    failed = [h for g in args.node_groups for h in g.failed_hosts]
    if not hosts and not failed:
        return None
    if args.control_plane.backend is ControlPlaneBackend.KUBEADM:
        return control_plane.join
    if args.control_plane.backend is ControlPlaneBackend.EXTERNAL:
        raise ValueError("hosts cannot join an external (ISV-managed) cluster")
    # Failed hosts have joined before and never join again (their join ignores new
    # tokens), so the token is minted on an active host; only a tenant whose every
    # worker failed falls back to a failed one (and fails if it is unreachable).
    _, join = mint_join_token(
        f"{name}-join-token",
        host=(hosts or failed)[0],
        joining_hosts=[h.name for h in hosts],
        upload_certs=False,
        kubeconfig=control_plane.kubeconfig,
        opts=pulumi.ResourceOptions(parent=parent, provider=commands),
        renewal=args.control_plane.join_token_renewal,
    )
    return join
