"""`NodeGroup`: inventory hosts joined with kubeadm, or declared autoscaled capacity.

Labels and taints of joined hosts are set by kubelet at registration from the
kubeadm JoinConfiguration (`--node-labels`, `nodeRegistration.taints`): the node never
appears untainted, so no GPU workload can land before the taint is there.
"""

from __future__ import annotations

import pulumi
import pulumi_command as command

from components.cluster import kubeadm
from components.cluster.bootstrap import SECRET_OUTPUTS, configure_registry_mirrors
from components.cluster.labels import node_labels, node_taints
from components.cluster.types import JoinParameters, NodeGroupArgs, SshHost, Taint, secret

TYPE = "gpu-caas:cluster:NodeGroup"


def group_labels(args: NodeGroupArgs) -> dict[str, str]:
    """Labels every node of the group carries (without per-host topology)."""
    return node_labels(
        tenant=args.cluster_name,
        node_group=args.group_name,
        gpu_product=args.gpu_product,
        mig_config=args.mig_config,
        sharing_config=args.sharing_config,
        extra=args.labels,
    )


def group_taints(args: NodeGroupArgs) -> list[Taint]:
    """Taints every node of the group carries."""
    return node_taints(
        gpu=args.gpu_product is not None, gpu_taint=args.gpu_taint, extra=args.taints
    )


def node_group_props(args: NodeGroupArgs) -> dict[str, object]:
    """Props the component registers: `tenant`, `nodeGroup` and inventory `hosts`.

    `policies/gpu_caas_policies/platform_safety.py` (`NODE_GROUP`) reads these.
    """
    return {
        "tenant": args.cluster_name,
        "nodeGroup": args.group_name,
        "hosts": [h.name for h in args.hosts],
    }


class NodeGroup(pulumi.ComponentResource):
    """Nodes with one GPU model, sharing mode, labels and taints."""

    node_names: pulumi.Output[list[str]]
    """Kubernetes node names of joined hosts (empty for autoscaled groups)."""
    labels: dict[str, str]
    """Labels of every node of the group (autoscaled: what the NodePool must set)."""
    taints: list[Taint]
    """Taints of every node of the group."""
    joins: list[command.remote.Command]
    """One `kubeadm join` command per host."""

    def __init__(
        self, name: str, args: NodeGroupArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        # Plain facts the platform-safety pack reads (host ownership, one group per host):
        # registered as the component's props so policies need not infer them from labels.
        super().__init__(TYPE, name, node_group_props(args), opts)
        self.labels = group_labels(args)
        self.taints = group_taints(args)
        self.joins = _join_hosts(name, args, self) if args.hosts else []
        self.node_names = pulumi.Output.from_input([h.name for h in args.hosts])
        outputs: dict[str, object] = {
            "tenant": args.cluster_name,
            "nodeGroup": args.group_name,
            "hosts": [h.name for h in args.hosts],
            "nodeNames": self.node_names,
            "labels": self.labels,
            "taints": [f"{t.key}={t.value}:{t.effect}" for t in self.taints],
        }
        if args.autoscale is not None:
            outputs["minNodes"] = args.autoscale.min_nodes
            outputs["maxNodes"] = args.autoscale.max_nodes
        self.register_outputs(outputs)


def _join_hosts(name: str, args: NodeGroupArgs, parent: NodeGroup) -> list[command.remote.Command]:
    if args.join is None:
        raise ValueError("a node group with hosts needs join parameters (set by TenantCluster)")
    join = args.join
    commands = []
    for host in args.hosts:
        labels = node_labels(
            tenant=args.cluster_name,
            node_group=args.group_name,
            host=host,
            mig_config=args.mig_config,
            sharing_config=args.sharing_config,
            extra=args.labels,
        )
        taints = node_taints(
            gpu=host.gpu_product is not None, gpu_taint=args.gpu_taint, extra=args.taints
        )

        def join_configuration(
            j: JoinParameters,
            h: SshHost = host,
            lb: dict[str, str] = labels,
            ts: list[Taint] = taints,
        ) -> str:
            return kubeadm.render_join_configuration(
                node_name=h.name, join=j, cri_socket=args.cri_socket, labels=lb, taints=ts
            )

        stdin = join.apply(join_configuration)
        mirrors = configure_registry_mirrors(
            f"{name}-registry-mirrors-{host.name}",
            host,
            args.registry_mirrors,
            pulumi.ResourceOptions(parent=parent),
        )
        commands.append(
            command.remote.Command(
                f"{name}-join-{host.name}",
                connection=host.connection(),
                create=kubeadm.join_script(args.kubernetes_version),
                delete=kubeadm.RESET_SCRIPT,
                stdin=secret(stdin),
                opts=pulumi.ResourceOptions(
                    parent=parent,
                    additional_secret_outputs=SECRET_OUTPUTS,
                    depends_on=[mirrors] if mirrors else None,
                ),
            )
        )
    return commands
