"""`hosts`: the bare-metal or VM inventory handed over by the provider."""

from __future__ import annotations

import re
import unicodedata
from enum import StrEnum
from typing import Annotated, Any

from pydantic import (
    AfterValidator,
    Field,
    ModelWrapValidatorHandler,
    PlainSerializer,
    PlainValidator,
    WithJsonSchema,
    field_validator,
    model_validator,
)

from components.gpu.catalog import DeclaredGpuModel, GpuModel, ModelName, spec
from components.naming import is_dns_label, is_label_name
from stacks.config.base import ConfigModel
from stacks.config.errors import ROOT, closest_match, looks_like_private_key
from stacks.config.secret import SshPrivateKey

_ADDRESS = re.compile(r"^(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9][A-Za-z0-9.:-]*)$")
_LABEL_VALUE = re.compile(r"^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$")


def check_label_value(value: str) -> str:
    """Validate a Kubernetes label value (topology ids become node labels)."""
    if len(value) > 63 or not _LABEL_VALUE.match(value):
        raise ValueError(
            "must be a label value: <= 63 characters, alphanumerics, '-', '_' or '.', "
            "starting and ending with an alphanumeric"
        )
    return value


def check_label_name(value: str) -> str:
    """Validate the name part of a label key (rail ids become `rail.gpu-caas.io/<id>`)."""
    if not is_label_name(value):
        raise ValueError(
            "must be a label name: 1-63 characters, alphanumerics, '-', '_' or '.', "
            "starting and ending with an alphanumeric"
        )
    return value


RailId = Annotated[str, AfterValidator(check_label_name)]
"""A network rail id (`hosts[].topology.rails[]`, `gpu.network.rails[].rail`): a label
name, because each rail is the node label `rail.gpu-caas.io/<id>`."""


def check_dns_label(value: str) -> str:
    """Validate an RFC 1123 DNS label (names become resource and node names)."""
    if not is_dns_label(value):
        raise ValueError(
            "must be a DNS label: <= 63 lowercase alphanumerics or '-', starting and "
            "ending with an alphanumeric"
        )
    return value


LOGIN_USER = re.compile(r"(?!-)(?![0-9]+$)(?!\.{1,2}$)[^\s:,/]{1,255}")
"""An SSH login user name: what shadow-utils accepts with `--badname`
(`is_valid_user_name`, lib/chkname.c:
https://github.com/shadow-maint/shadow/blob/master/lib/chkname.c: not empty, no `:`
`,` `/`, not starting with `-`, not all digits, not `.` or `..`, shorter than
`LOGIN_NAME_MAX`, 256 with its NUL) and the logins directory services hand out
(`john.doe`, `jdoe@corp.example.com` from SSSD, `CORP\\jdoe` from winbind); no
whitespace. Invisible characters are refused too (`check_login_user`). The user only
reaches the SSH client (`ClientConfig.User`), never a shell."""
_INVISIBLE = frozenset({"Cc", "Cf", "Zl", "Zp"})
"""Unicode categories of control and format characters (a zero-width space or a BOM
makes `ubuntu` a different user that looks the same)."""


def check_login_user(value: str) -> str:
    """Validate an SSH login user name (`LOGIN_USER`).

    Raises:
        ValueError: not a user name. A private key pasted into the field is never
            repeated (nor any multi-line or long value: `stacks.config.errors`).
    """
    if looks_like_private_key(value):
        raise ValueError(
            "holds a private key, not a login user name: remove it and rotate the key "
            "(it has been written outside a secret)"
        )
    if (
        not LOGIN_USER.fullmatch(value)
        or len(value.encode("utf-8")) > 255
        or any(unicodedata.category(char) in _INVISIBLE for char in value)
    ):
        raise ValueError(
            "must be a login user name: no whitespace, control or invisible characters, "
            "':', ',' or '/', not starting with '-', not all digits (e.g. ubuntu, "
            "ec2-user, jdoe@corp.example.com)"
        )
    return value


class HostRole(StrEnum):
    """What a host runs."""

    CONTROL_PLANE = "control-plane"
    """A kubeadm control-plane node (API server, etcd)."""
    WORKER = "worker"


class HostState(StrEnum):
    """Where a host is in its life: serving, held in reserve, or out of service.

    A `spare` is in no node group: it is joined to nothing until it takes a failed
    host's place (`replaces`). A `failed` host is out of every group: it may stay listed
    in its node group (an inventory file keeps its `nodeGroup`), but its node is
    cordoned and tainted so nothing is scheduled on it, until it is returned (`active`)
    or removed from the inventory (docs/inventory.md#spares-and-failed-hosts).
    """

    ACTIVE = "active"
    """In service: a control-plane host, or a worker of its node group (default)."""
    SPARE = "spare"
    """Held in reserve (per rack or NVLink domain), in no node group; workers only."""
    FAILED = "failed"
    """Out of service: cordoned and tainted, counted in no group's capacity."""


class SshConfig(ConfigModel):
    """How to reach a host over SSH.

    The key is either the host's own `privateKey` (a secret, in-config hosts only) or
    the name of a key declared once under `sshKeys` (`privateKeyRef`); with neither,
    the host gets the `sshKeys` entry scoped to its node group, else to its rack, else
    the unscoped (tenant-wide) one (`stacks.config.host_resolution`). After
    `parse_tenant` every host's `privateKey` and `user` are set.
    """

    user: str | None = None
    """Login user, e.g. `ubuntu`, `ec2-user` or `jdoe@corp.example.com` (refused:
    whitespace, control or invisible characters, `:` `,` `/`, a leading `-`, all
    digits); needs passwordless sudo unless it is root. Unset: the `user` of the host's
    `sshKeys` entry."""
    private_key: SshPrivateKey | None = Field(default=None, exclude=True)
    """SSH private key of this host alone (secret). For many hosts declare the key once
    under `sshKeys` and refer to it (`privateKeyRef`) or scope it to racks / node groups."""
    private_key_ref: str | None = None
    """Name of an `sshKeys` entry (a DNS label): the key this host uses. Never the key
    itself: a key here is refused, without being printed."""
    port: int = Field(default=22, ge=1, le=65535)
    """SSH port."""

    @field_validator("user")
    @classmethod
    def _user(cls, value: str | None) -> str | None:
        return None if value is None else check_login_user(value)

    @field_validator("private_key_ref")
    @classmethod
    def _key_ref(cls, value: str | None) -> str | None:
        if value is None:
            return None
        if looks_like_private_key(value):
            # Said without the value: error lines reach terminals and CI logs.
            raise ValueError(
                "holds a private key, not the name of an sshKeys entry: remove it, "
                "declare the key once as a Pulumi secret with "
                f"{SshPrivateKey.set_hint(f'{ROOT}.sshKeys[<i>].privateKey')} "
                "(and sshKeys[<i>].name) and put that name here; the key has been "
                "written outside a secret, so rotate it"
            )
        if not is_dns_label(value):
            raise ValueError(
                "must be the name of an sshKeys entry, a DNS label: <= 63 lowercase "
                "alphanumerics or '-', starting and ending with an alphanumeric"
            )
        return value

    @model_validator(mode="after")
    def _one_key(self) -> SshConfig:
        if self.private_key is not None and self.private_key_ref is not None:
            raise ValueError(
                "set privateKey or privateKeyRef, not both: privateKeyRef names a key "
                "declared under sshKeys"
            )
        return self

    def key(self) -> SshPrivateKey:
        """The host's SSH key once resolved (`parse_tenant` resolves every host).

        Raises:
            ValueError: the config was validated without `parse_tenant`, so the key a
                `privateKeyRef` (or a scope) names was never looked up.
        """
        if self.private_key is None:
            raise ValueError(
                "the host's SSH key is not resolved: load the config with parse_tenant"
            )
        return self.private_key

    def login(self) -> str:
        """The login user once resolved (the host's, else its `sshKeys` entry's).

        Raises:
            ValueError: the config was validated without `parse_tenant`.
        """
        if self.user is None:
            raise ValueError(
                "the host's SSH user is not resolved: load the config with parse_tenant"
            )
        return self.user


class SshKeyConfig(ConfigModel):
    """An SSH private key declared once (a Pulumi secret) and used by many hosts.

    A host uses it when its `ssh.privateKeyRef` names it; a host without its own key or
    reference uses the entry whose `nodeGroups` lists its node group, else the entry
    whose `racks` lists its rack, else the one entry with neither (the tenant's key).
    """

    name: str
    """Key name (DNS label), referred to by `hosts[].ssh.privateKeyRef`."""
    private_key: SshPrivateKey = Field(exclude=True)
    """The private key (secret): `pulumi config set --stack <stack> --secret --path
    'gpu-caas:tenant.sshKeys[<i>].privateKey' < <key file>`."""
    user: str | None = None
    """Login user of the hosts that use this key and set no `ssh.user` (a login user
    name, as `hosts[].ssh.user`)."""
    racks: list[str] = []
    """Racks (`topology.rack`) whose hosts use this key by default."""
    node_groups: list[str] = []
    """Node groups whose hosts use this key by default (before any rack key)."""

    @field_validator("name")
    @classmethod
    def _name(cls, value: str) -> str:
        return check_dns_label(value)

    @field_validator("user")
    @classmethod
    def _user(cls, value: str | None) -> str | None:
        return None if value is None else check_login_user(value)


class InventoryFileConfig(ConfigModel):
    """Hosts kept outside the stack config, in a YAML or JSON file (docs/inventory.md).

    The file is `{hosts: [<host>, ...]}` with the same keys as `hosts[]` (plus
    `nodeGroup`), and no secret: hosts name their key with `ssh.privateKeyRef` or get
    one by scope (`sshKeys`). Its problems are reported as `<file>:<line>:<column>:
    hosts[<i>].<key>: ...`.
    """

    file: str
    """Path of the inventory file, relative to the project directory (the one holding
    Pulumi.yaml); `.yaml`, `.yml` or `.json`."""

    @field_validator("file")
    @classmethod
    def _file(cls, value: str) -> str:
        if not value.strip():
            raise ValueError("must be a file path, e.g. inventory/<tenant>.yaml")
        if not value.endswith((".yaml", ".yml", ".json")):
            raise ValueError("must be a .yaml, .yml or .json file")
        return value


def _gpu_model(value: Any) -> ModelName:
    """A catalog `GpuModel`, else a `DeclaredGpuModel` (its facts are added by GpuConfig)."""
    if isinstance(value, GpuModel | DeclaredGpuModel):
        return value
    if not isinstance(value, str) or not value.strip():
        raise ValueError("must be a GPU model name, e.g. H100-80GB (docs/gpu-platform.md)")
    try:
        return GpuModel(value)
    except ValueError:
        return DeclaredGpuModel(value)


GpuModelName = Annotated[
    ModelName,
    PlainValidator(_gpu_model),
    PlainSerializer(str),
    WithJsonSchema(
        {
            "type": "string",
            "minLength": 1,
            "examples": [m.value for m in GpuModel],
            "description": "A catalog GPU model (docs/gpu-platform.md#gpu-catalog) or, "
            "with productLabel, memoryGb and mig stated, any other model name.",
        }
    ),
]
"""`hosts[].gpu.model`: any name; GpuConfig requires facts for names outside the catalog."""


class GpuConfig(ConfigModel):
    """GPUs of one host (or of each autoscaled node).

    A model outside the catalog (components/gpu/catalog.py) is accepted when the host
    states what the platform needs (`productLabel`, `memoryGb`, `mig`); `validate`
    then warns which checks are skipped. Stated facts of a catalog model must match it.
    """

    model: GpuModelName
    """GPU model: a catalog model (docs/gpu-platform.md#gpu-catalog) or, with
    `productLabel`, `memoryGb` and `mig` stated, any other name."""
    count: int = Field(ge=1, le=16)
    """GPUs per node."""
    product_label: str | None = None
    """`nvidia.com/gpu.product` that GPU Feature Discovery reports: the NVML name with
    spaces as dashes (`nvidia-smi --query-gpu=name`, e.g. `NVIDIA-H100-80GB-HBM3`).
    Required for a model outside the catalog (and for H100-96GB, whose name NVIDIA's
    driver table lacks); for other catalog models it must be one of the model's."""
    memory_gb: int | None = Field(default=None, ge=1, le=4096)
    """Memory per GPU in GB. Required for a model outside the catalog; for a catalog
    model it must be the catalog's."""
    mig: bool | None = None
    """Whether the GPU supports MIG. Required for a model outside the catalog (a MIG
    layout on it is then checked only for profile-name syntax, counts, 7 compute slices
    and memory); for a catalog model it must be the catalog's."""

    @field_validator("product_label")
    @classmethod
    def _label(cls, value: str | None) -> str | None:
        return None if value is None else check_label_value(value)

    @model_validator(mode="wrap")
    @classmethod
    def _facts(cls, data: Any, handler: ModelWrapValidatorHandler[GpuConfig]) -> GpuConfig:
        return handler(data).with_facts()

    def with_facts(self) -> GpuConfig:
        """This config with the stated facts checked and, where the catalog cannot
        answer, carried by a `DeclaredGpuModel` (so `catalog.spec(model)` uses them).

        Raises:
            ValueError: facts missing for a model outside the catalog (naming which to
                add), or stated facts that contradict the catalog.
        """
        model = self.model
        if isinstance(model, DeclaredGpuModel) and not model.listed:
            missing = [
                key
                for key, value in (
                    (
                        "productLabel (the nvidia.com/gpu.product its nodes report)",
                        self.product_label,
                    ),
                    ("memoryGb (memory per GPU)", self.memory_gb),
                    ("mig (true if the GPU supports MIG)", self.mig),
                )
                if value is None
            ]
            if missing:
                hint = closest_match(model.value, [m.value for m in GpuModel])
                return _raise(
                    f"GPU model {model.value!r} is not in the catalog"
                    + (f" (did you mean {hint!r}?)" if hint else "")
                    + "; to use it anyway, add "
                    + ", ".join(missing)
                    + "; catalog models: "
                    + ", ".join(m.value for m in GpuModel)
                )
            declared = DeclaredGpuModel(
                model.value,
                product_label=self.product_label,
                memory_gb=self.memory_gb,
                mig=self.mig,
            )
            return self.model_copy(update={"model": declared})
        gpu = spec(model)
        name = str(gpu.model)
        wrong = []
        labels = gpu.product_labels
        if self.product_label is not None and labels and self.product_label not in labels:
            wrong.append(
                f"productLabel {self.product_label!r} contradicts the catalog: {name} "
                f"reports {' or '.join(labels)}"
            )
        if self.memory_gb is not None and self.memory_gb != gpu.memory_gb:
            wrong.append(
                f"memoryGb {self.memory_gb} contradicts the catalog: {name} has {gpu.memory_gb} GB"
            )
        if self.mig is not None and self.mig != gpu.mig_capable:
            wrong.append(
                f"mig: {str(self.mig).lower()} contradicts the catalog: {name} "
                + ("supports MIG" if gpu.mig_capable else "does not support MIG")
            )
        if wrong:
            return _raise(
                "; ".join(wrong) + "; remove the key (the catalog knows it) or fix `model`"
            )
        if not gpu.product_labels:
            if self.product_label is None:
                return _raise(
                    f"add productLabel: NVIDIA's driver name table does not list {name}, so "
                    "the catalog does not know the nvidia.com/gpu.product its nodes report "
                    "(`nvidia-smi --query-gpu=name`, spaces as dashes)"
                )
            declared = DeclaredGpuModel(name, product_label=self.product_label)
            return self.model_copy(update={"model": declared})
        return self


def _raise(message: str) -> GpuConfig:
    raise ValueError(message)


class TopologyConfig(ConfigModel):
    """Where a host sits: drives topology-aware scheduling labels."""

    rack: str | None = None
    """Rack id (`gpu-caas.io/rack`)."""
    rails: list[RailId] | None = None
    """Network rails this host's NICs connect to; one node label
    `rail.gpu-caas.io/<rail>: "true"` each, which selects the rail's secondary network
    (`gpu.network.rails`). On rail-optimized fabrics every GPU host is on every rail
    (DGX/HGX H100: NIC i of every host goes to leaf switch i). Unset: a GPU host is on
    every rail of `gpu.network.rails`, a host without GPUs on none; list the rails of
    hosts cabled to only some of them, `[]` for a GPU host on no rail."""
    nvlink_domain: str | None = None
    """Multi-node NVLink domain, e.g. the NVL72 rack (`nvidia.com/gpu.clique`)."""

    @model_validator(mode="before")
    @classmethod
    def _no_single_rail(cls, data: Any) -> Any:
        # `rail: <id>` was the pre-multi-rail key; say what replaces it instead of
        # pydantic's bare "unknown key".
        if isinstance(data, dict) and "rail" in data:
            raise ValueError(
                "`rail` was replaced by `rails`, a list: a host has one NIC per rail, and "
                "on rail-optimized fabrics every GPU host is on every rail. Write "
                f"`rails: [{data['rail']}]`, or leave `rails` out to put a GPU host on every "
                "rail of gpu.network.rails"
            )
        return data

    @field_validator("rack", "nvlink_domain")
    @classmethod
    def _label_value(cls, value: str | None) -> str | None:
        return None if value is None else check_label_value(value)

    @field_validator("rails")
    @classmethod
    def _unique_rails(cls, rails: list[str] | None) -> list[str] | None:
        if rails is None:
            return None
        repeated = sorted({rail for rail in rails if rails.count(rail) > 1})
        if repeated:
            raise ValueError(f"rails must be unique; repeated: {', '.join(repeated)}")
        return rails


class HostConfig(ConfigModel):
    """One host of the inventory; its name becomes the Kubernetes node name."""

    name: str
    """Host name (DNS label); becomes the Kubernetes node name."""
    address: str
    """IP address or DNS name reachable over SSH."""
    ssh: SshConfig = SshConfig()
    """SSH access (user, port, the key or the name of an `sshKeys` entry); omit it to
    use the key and user `sshKeys` scope to the host."""
    role: HostRole = HostRole.WORKER
    """`control-plane` (kubeadm backend) or `worker`."""
    gpu: GpuConfig | None = None
    """GPUs of the host; omit for CPU-only hosts."""
    dpu: bool = False
    """The host has a BlueField DPU."""
    topology: TopologyConfig = TopologyConfig()
    """Rack, network rails and NVLink domain (node labels)."""
    node_group: str | None = None
    """The node group this worker joins (instead of listing it in `nodeGroups[].hosts`):
    what an inventory exported from a CMDB says."""
    state: HostState = HostState.ACTIVE
    """`active` (default), `spare` (in no node group, ready to replace a failed host) or
    `failed` (cordoned and tainted, out of its node group until returned)."""
    replaces: str | None = None
    """Name of the `failed` host whose place this host takes in its node group: same GPU
    model and count and, for NVLink or rail-aligned groups, the same NVLink domain and
    rails (unless `allowFaultDomainChange`)."""
    allow_fault_domain_change: bool = False
    """With `replaces`: accept a replacement in another NVLink domain or on other rails
    than the failed host (validate warns that the fault domain changes)."""

    @field_validator("name")
    @classmethod
    def _name(cls, value: str) -> str:
        return check_dns_label(value)

    @field_validator("address")
    @classmethod
    def _address(cls, value: str) -> str:
        if not _ADDRESS.match(value):
            raise ValueError(
                "must be an IP address or DNS name, without scheme, user, port or path"
            )
        return value
