"""`NodeGroup`: inventory hosts joined with kubeadm, or declared autoscaled capacity.

Labels and taints of joined hosts are set by kubelet at registration from the
kubeadm JoinConfiguration (`--node-labels`, `nodeRegistration.taints`): the node never
appears untainted, so no GPU workload can land before the taint is there.
"""

from __future__ import annotations

from collections.abc import Mapping

import pulumi
import pulumi_command as command

from components import naming
from components.cluster import kubeadm, node_lifecycle
from components.cluster.bootstrap import SECRET_OUTPUTS, configure_registry_mirrors
from components.cluster.labels import node_labels, node_taints
from components.cluster.types import JoinParameters, NodeGroupArgs, SshHost, Taint, secret
from components.cluster.upgrade import UpgradeRole, upgrade_script
from components.isolation.tenant_namespaces import LABEL_TEAM

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
    """Props the component registers: `tenant`, `nodeGroup`, inventory `hosts` and
    `failedHosts`, and `team` for a group dedicated to one team (its `gpu-caas.io/team`
    label, set from `nodeGroups[].team`; absent otherwise).

    `policies/gpu_caas_policies/platform_safety.py` (`NODE_GROUP`) and the team rules of
    `policies/gpu_caas_policies/tenant_isolation.py` read these.
    """
    props: dict[str, object] = {
        "tenant": args.cluster_name,
        "nodeGroup": args.group_name,
        "hosts": [h.name for h in args.hosts],
        "failedHosts": [h.name for h in args.failed_hosts],
    }
    team = args.labels.get(LABEL_TEAM)
    if team is not None:
        props["team"] = team
    return props


class NodeGroup(pulumi.ComponentResource):
    """Nodes with one GPU model, sharing mode, labels and taints."""

    node_names: pulumi.Output[list[str]]
    """Kubernetes node names of joined hosts (empty for autoscaled groups)."""
    labels: dict[str, str]
    """Labels of every node of the group (autoscaled: what the NodePool must set)."""
    taints: list[Taint]
    """Taints of every node of the group."""
    joins: list[command.remote.Command]
    """One `kubeadm join` command per host (failed hosts included)."""
    host_joins: dict[str, command.remote.Command]
    """Host name -> its `kubeadm join` command (the same commands as `joins`)."""
    nodes: list[command.local.Command]
    """One `<group>-node-<host>` command per host: keeps its Node's labels, taints and
    schedulability as the config says; deleting it drains and deletes the Node."""

    def __init__(
        self, name: str, args: NodeGroupArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        # Plain facts the platform-safety pack reads (host ownership, one group per host):
        # registered as the component's props so policies need not infer them from labels.
        super().__init__(TYPE, name, node_group_props(args), opts)
        self.labels = group_labels(args)
        self.taints = group_taints(args)
        self.joins = _join_hosts(name, args, self) if args.hosts or args.failed_hosts else []
        self.host_joins = dict(
            zip([h.name for h in [*args.hosts, *args.failed_hosts]], self.joins, strict=True)
        )
        self.nodes = _keep_nodes_in_step(name, args, self, self.host_joins) if self.joins else []
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


def host_labels(args: NodeGroupArgs, host: SshHost) -> dict[str, str]:
    """Labels of one joined host: the group's plus its topology (rack, rails, NVLink)."""
    return node_labels(
        tenant=args.cluster_name,
        node_group=args.group_name,
        host=host,
        mig_config=args.mig_config,
        sharing_config=args.sharing_config,
        extra=args.labels,
    )


def host_taints(args: NodeGroupArgs, host: SshHost) -> list[Taint]:
    """Taints of one joined host."""
    return node_taints(
        gpu=host.gpu_product is not None, gpu_taint=args.gpu_taint, extra=args.taints
    )


def _join_hosts(name: str, args: NodeGroupArgs, parent: NodeGroup) -> list[command.remote.Command]:
    if args.join is None:
        raise ValueError("a node group with hosts needs join parameters (set by TenantCluster)")
    join = args.join
    commands = []
    failed = {h.name for h in args.failed_hosts}
    for host in [*args.hosts, *args.failed_hosts]:
        labels = host_labels(args, host)
        taints = host_taints(args, host)

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
                    # A join runs once: a new bootstrap token (minted whenever hosts are
                    # added), new labels or a new Kubernetes version must not re-run it
                    # on a joined host. Labels and taints of joined hosts follow the
                    # config through `<group>-node-<host>`, versions through
                    # `<group>-upgrade-<host>`; a new host joins with the current inputs.
                    # A failed host may be unreachable: not even a new SSH key re-runs it.
                    ignore_changes=["create", "stdin"]
                    + (["connection"] if host.name in failed else []),
                ),
            )
        )
    return commands


HOST_ACTIVE = "active"
HOST_FAILED = "failed"


def _keep_nodes_in_step(
    name: str,
    args: NodeGroupArgs,
    parent: NodeGroup,
    joins: Mapping[str, command.remote.Command],
) -> list[command.local.Command]:
    """Per host, after its join: drain, upgrade, then keep its Node as the config says.

    `<group>-drain-<host>` (local) and `<group>-upgrade-<host>` (over SSH) are replaced
    when the group's Kubernetes version changes (`triggers`), so the preview lists one
    drain and one upgrade per host; both do nothing on a host already at the version.
    `<group>-node-<host>` (local) waits for the Node to be Ready at the version, sets
    the group's labels and taints (through the API, only the keys gpu-caas manages)
    and uncordons it if gpu-caas cordoned it (`node_lifecycle.CORDONED_ANNOTATION`);
    deleting it (the host left the group) drains and deletes the Node
    before the join's delete runs `kubeadm reset` on the host. At most
    `rollout.max_unavailable` hosts of the group are between drain and uncordon at
    once: host i's drain waits for host i - max_unavailable's node step.

    A failed host gets only its node step, in state `failed` (cordoned, tainted
    `NoExecute`): nothing runs on it over SSH.
    """
    if args.kubeconfig is None:
        raise ValueError(
            "a node group with hosts needs the admin kubeconfig (set by TenantCluster)"
        )
    rollout = args.rollout
    nodes: list[command.local.Command] = []
    for index, host in enumerate(args.hosts):
        environment = _node_environment(args, host, HOST_ACTIVE)
        after: list[pulumi.Resource] = [joins[host.name]]
        if index >= rollout.max_unavailable:
            after.append(nodes[index - rollout.max_unavailable])
        nodes.append(
            upgrade_steps(
                name,
                host,
                version=args.kubernetes_version,
                role=UpgradeRole.WORKER,
                environment=environment,
                after=after,
                parent=parent,
            )
        )
    for host in args.failed_hosts:
        environment = _node_environment(args, host, HOST_FAILED)
        nodes.append(_node_step(name, host, environment, [joins[host.name]], parent))
    return nodes


def upgrade_steps(
    name: str,
    host: SshHost,
    *,
    version: str,
    role: UpgradeRole,
    environment: dict[str, pulumi.Input[str]],
    after: list[pulumi.Resource],
    parent: pulumi.Resource,
) -> command.local.Command:
    """`<name>-drain-<host>` (local, after `after`), `<name>-upgrade-<host>` (over SSH)
    and `<name>-node-<host>` (local), in that order; returns the node step.

    Drain and upgrade are replaced when `version` changes (`triggers`); the node step is
    updated when its `environment` (`node_lifecycle.node_environment`) changes. Used for
    worker hosts here and for control-plane hosts by `control_plane`.
    """
    drain = command.local.Command(
        f"{name}-drain-{host.name}",
        create=node_lifecycle.script_command(node_lifecycle.DRAIN_SCRIPT),
        environment=drain_environment(environment),
        triggers=[version],
        opts=pulumi.ResourceOptions(
            parent=parent, depends_on=after, additional_secret_outputs=SECRET_OUTPUTS
        ),
    )
    upgrade = command.remote.Command(
        f"{name}-upgrade-{host.name}",
        connection=host.connection(),
        create=upgrade_script(version, role=role),
        triggers=[version],
        opts=pulumi.ResourceOptions(
            parent=parent, depends_on=[drain], additional_secret_outputs=SECRET_OUTPUTS
        ),
    )
    return _node_step(name, host, environment, [upgrade], parent)


def _node_step(
    name: str,
    host: SshHost,
    environment: dict[str, pulumi.Input[str]],
    after: list[pulumi.Resource],
    parent: pulumi.Resource,
) -> command.local.Command:
    return command.local.Command(
        f"{name}-node-{host.name}",
        create=node_lifecycle.script_command(node_lifecycle.SYNC_SCRIPT),
        # Inline: a delete runs with what the state holds (the checkout may have moved on).
        delete=node_lifecycle.REMOVE_NODE,
        environment=environment,
        opts=pulumi.ResourceOptions(
            parent=parent, depends_on=after, additional_secret_outputs=SECRET_OUTPUTS
        ),
    )


def _node_environment(
    args: NodeGroupArgs, host: SshHost, state: str
) -> dict[str, pulumi.Input[str]]:
    assert args.kubeconfig is not None  # checked by the caller
    return node_lifecycle.node_environment(
        node=host.name,
        kubeconfig=args.kubeconfig,
        version=args.kubernetes_version,
        labels=managed_labels(host_labels(args, host)),
        taints=host_taints(args, host),
        state=state,
        drain_timeout_seconds=args.rollout.drain_timeout_seconds,
        delete_emptydir_data=args.rollout.delete_empty_dir_data,
    )


_DRAIN_INPUTS = frozenset(
    {"KUBECONFIG_DATA", "NODE", "VERSION", "DRAIN_TIMEOUT", "DELETE_EMPTYDIR"}
)


def drain_environment(environment: dict[str, pulumi.Input[str]]) -> dict[str, pulumi.Input[str]]:
    """What the drain reads: a label change must not show as a drain update."""
    return {k: v for k, v in environment.items() if k in _DRAIN_INPUTS}


def managed_labels(labels: dict[str, str]) -> dict[str, str]:
    """The labels the node step keeps in line with the config after registration.

    GPU Feature Discovery owns `nvidia.com/gpu.product` (it appends the MIG profile in
    the `single` strategy) and the DRA driver / GFD own `nvidia.com/gpu.clique` (the
    fabric's cluster UUID and clique id) once the GPU stack runs: set at registration
    only, so a sync never fights them
    (https://github.com/NVIDIA/k8s-device-plugin#catalog-of-labels).
    """
    owned_by_gpu_stack = {naming.LABEL_GPU_PRODUCT, naming.LABEL_GPU_CLIQUE}
    return {k: v for k, v in labels.items() if k not in owned_by_gpu_stack}
