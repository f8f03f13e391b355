"""Pulumi Kubernetes Operator v2 manifests for a fleet of tenant stacks.

`python -m stacks fleet operator-manifests --git-url URL --branch B` emits, per tenant,
in the operator's namespace for the fleet:

* a `ServiceAccount` for the tenant's workspace pod, bound to the `system:auth-delegator`
  ClusterRole (the operator authenticates to the workspace's agent with the pod's
  token, as its installation docs require). Nothing else: the tenant stack reaches its
  own cluster through the kubeconfig in its stack config, never through this one.
* a `Stack` (pulumi.com/v1) tracking `Pulumi.<tenant>.yaml` on the branch, with
  references (never values) to the Secret holding the stack's secrets-provider
  credentials (`<tenant>-pulumi-credentials`: the passphrase, or the KMS / Vault
  credentials) and, for a Pulumi Cloud backend, the access token;
* the workspace sized for a GPU tenant stack: a workspace pod's emptyDir reached
  1.3-2.4 GiB under operator 2.7 (pulumi-kubernetes-operator#1308, 33 evictions in a
  day, 14 pods filling a 52.94 GiB node), so ephemeral storage is requested above
  that and capped, and memory covers the engine, the Python program, the kubernetes
  provider and the policy analyzers of one preview.

Production settings: `refresh: true` (state is refreshed before every update, so drift
is seen and corrected), `continueResyncOnCommitMatch` with an hourly resync (the stack
is reconciled even when the branch has not moved), failed updates retried with a
backoff capped at an hour, `destroyOnFinalize: false` (deleting the Stack object never
tears down a tenant's cluster: retiring one is an explicit `fleet destroy`),
`useLocalStackOnly` (a typo never creates an empty stack), and workspaces deleted after
a successful update (`workspaceReclaimPolicy: Delete`: hundreds of idle workspace pods
would each hold their emptyDir).

Policy packs: the operator's agent runs previews and updates without local policy
packs (pulumi-kubernetes-operator#366; its agent marks `PolicyPack` as a TODO). Each
Stack names the packs it must pass (`gpu-caas.io/policy-packs`); they are enforced by a
Pulumi Cloud policy group when the backend is Pulumi Cloud (the CLI in the workspace
runs the group's packs on every update), and in every case by the pull-request check
(`fleet preview` with every pack) that guards the branch the Stacks track
(docs/fleet.md).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import yaml

from stacks.fleet.runner import POLICY_PACKS, secrets_provider_of
from stacks.fleet.selection import TenantStack

STACK_API_VERSION = "pulumi.com/v1"
MANAGED_BY = "gpu-caas-fleet"
PULUMI_VERSION = "3.259.0"
DEFAULT_IMAGE = f"pulumi/pulumi:{PULUMI_VERSION}-nonroot"
"""The operator's default workspace image at the engine version the project pins; a
provider's own image (`--image`) adds the pinned Python dependencies and kubectl."""

WORKSPACE_RESOURCES: dict[str, dict[str, str]] = {
    "requests": {"cpu": "1", "memory": "2Gi", "ephemeral-storage": "3Gi"},
    "limits": {"memory": "4Gi", "ephemeral-storage": "6Gi"},
}
"""The workspace container: ephemeral storage requested above the 2.4 GiB a workspace
was seen to use (so the scheduler never packs more workspaces on a node than its disk
holds) and capped at 6 GiB: the kubelet counts the pod's emptyDir volumes (the `share`
volume with the checkout, virtualenv and plugins) against the sum of its containers'
limits and evicts the pod past it, so a runaway workspace is stopped before it fills
the node. Memory: one preview's processes (`make bench` measures them) with room for
an update."""
RESYNC_SECONDS = 3600
RETRY_MAX_BACKOFF_SECONDS = 3600
UPDATE_TTL = "24h"

CREDENTIAL_KEYS: dict[str, tuple[tuple[str, str], ...]] = {
    "passphrase": (("PULUMI_CONFIG_PASSPHRASE", "passphrase"),),
    "awskms": (("AWS_ACCESS_KEY_ID", "aws-access-key-id"),
               ("AWS_SECRET_ACCESS_KEY", "aws-secret-access-key")),
    "gcpkms": (("GOOGLE_CREDENTIALS", "google-credentials"),),
    "azurekeyvault": (("AZURE_CLIENT_ID", "azure-client-id"),
                      ("AZURE_CLIENT_SECRET", "azure-client-secret"),
                      ("AZURE_TENANT_ID", "azure-tenant-id")),
    "hashivault": (("VAULT_TOKEN", "vault-token"),),
}  # fmt: skip
"""Per secrets-provider scheme: environment variable -> key in the tenant's
credentials Secret. A workspace with cloud workload identity (IRSA, GKE Workload
Identity) can leave the cloud keys out of the Secret."""


class OperatorError(ValueError):
    """Bad generator input; the message names the option and the fix."""


@dataclass(frozen=True)
class OperatorOptions:
    """Inputs of `operator_manifests`.

    Attributes:
        git_url: the repository the operator clones (https or ssh URL).
        branch: the branch it tracks (protected: only reviewed, previewed commits).
        namespace: where the Stacks, ServiceAccounts and Secrets live.
        backend: state backend URL (`https://api.pulumi.com`, `s3://...`); None uses
            the operator's default (Pulumi Cloud).
        organization: Pulumi Cloud organization (stack `<org>/<tenant>`); None for a
            self-managed backend (stack `<tenant>`, or `organization/<tenant>`).
        image: the workspace image.
        repo_dir: the project's directory in the repository (`Pulumi.yaml`), if not root.
        git_auth_secret: Secret with the clone credentials, for a private repository.
    """

    git_url: str
    branch: str
    namespace: str = "gpu-caas-fleet"
    backend: str | None = None
    organization: str | None = None
    image: str = DEFAULT_IMAGE
    repo_dir: str | None = None
    git_auth_secret: str | None = None

    def __post_init__(self) -> None:
        if not self.git_url.startswith(("https://", "ssh://", "git@", "http://")):
            raise OperatorError(
                f"--git-url {self.git_url!r}: give the repository's https or ssh URL"
            )
        if not self.branch or self.branch.startswith("-"):
            raise OperatorError(f"--branch {self.branch!r}: give the branch the Stacks track")


def uses_pulumi_cloud(backend: str | None) -> bool:
    """True for Pulumi Cloud (the default) and self-hosted Pulumi Cloud (https)."""
    return backend is None or backend.startswith(("https://", "http://"))


def credentials_secret_name(tenant: str) -> str:
    """`<tenant>-pulumi-credentials`: the Secret the provider creates from its secret
    store (docs/fleet.md); the generator only references it."""
    return f"{tenant}-pulumi-credentials"


def service_account_name(tenant: str) -> str:
    """`<tenant>-pulumi`: the tenant workspace's identity."""
    return f"{tenant}-pulumi"


def _secret_ref(name: str, key: str) -> dict[str, Any]:
    return {"type": "Secret", "secret": {"name": name, "key": key}}


def env_refs(stack: TenantStack, options: OperatorOptions) -> dict[str, Any]:
    """The Stack's `envRefs`: the secrets provider's credentials, the Pulumi Cloud
    token when the backend is Pulumi Cloud, and nothing literal that is secret."""
    scheme = secrets_provider_of(stack.path).split("://", 1)[0]
    keys = CREDENTIAL_KEYS.get(scheme)
    if keys is None:
        raise OperatorError(
            f"{stack.path}: secretsprovider scheme {scheme!r} is not one of "
            f"{', '.join(CREDENTIAL_KEYS)}; use one of them (docs/fleet.md)"
        )
    secret = credentials_secret_name(stack.name)
    refs: dict[str, Any] = {env: _secret_ref(secret, key) for env, key in keys}
    if uses_pulumi_cloud(options.backend):
        refs["PULUMI_ACCESS_TOKEN"] = _secret_ref(secret, "pulumi-access-token")
    return refs


def _labels(tenant: str) -> dict[str, str]:
    return {"app.kubernetes.io/managed-by": MANAGED_BY, "gpu-caas.io/tenant": tenant}


def stack_resource(stack: TenantStack, options: OperatorOptions) -> dict[str, Any]:
    """The tenant's `Stack` (pulumi.com/v1)."""
    name = f"{options.organization}/{stack.name}" if options.organization else stack.name
    packs = ",".join(p.name for p in POLICY_PACKS)
    spec: dict[str, Any] = {
        "stack": name,
        "projectRepo": options.git_url,
        "branch": options.branch,
        "shallow": True,
        "serviceAccountName": service_account_name(stack.name),
        "envRefs": env_refs(stack, options),
        "refresh": True,
        "continueResyncOnCommitMatch": True,
        "resyncFrequencySeconds": RESYNC_SECONDS,
        "retryMaxBackoffDurationSeconds": RETRY_MAX_BACKOFF_SECONDS,
        "destroyOnFinalize": False,
        "useLocalStackOnly": True,
        "workspaceReclaimPolicy": "Delete",
        "workspaceTemplate": {
            "metadata": {"labels": _labels(stack.name)},
            "spec": {
                "image": options.image,
                "securityProfile": "restricted",
                "resources": WORKSPACE_RESOURCES,
            },
        },
        "updateTemplate": {"spec": {"ttlAfterCompleted": UPDATE_TTL}},
    }
    if options.backend:
        spec["backend"] = options.backend
    provider = secrets_provider_of(stack.path)
    if provider != "passphrase":
        spec["secretsProvider"] = provider
    if options.repo_dir:
        spec["repoDir"] = options.repo_dir
    if options.git_auth_secret:
        spec["gitAuth"] = {"accessToken": _secret_ref(options.git_auth_secret, "accessToken")}
    return {
        "apiVersion": STACK_API_VERSION,
        "kind": "Stack",
        "metadata": {
            "name": stack.name,
            "namespace": options.namespace,
            "labels": {**_labels(stack.name), "gpu-caas.io/flavor": stack.flavor},
            "annotations": {
                "gpu-caas.io/stack-file": stack.path.name,
                "gpu-caas.io/policy-packs": packs,
                "gpu-caas.io/policy-enforcement": (
                    "pulumi-cloud-policy-group+pr-check"
                    if uses_pulumi_cloud(options.backend)
                    else "pr-check"
                ),
            },
        },
        "spec": spec,
    }


def tenant_manifests(stack: TenantStack, options: OperatorOptions) -> list[dict[str, Any]]:
    """ServiceAccount, its auth-delegator binding, and the Stack of one tenant."""
    account = service_account_name(stack.name)
    return [
        {
            "apiVersion": "v1",
            "kind": "ServiceAccount",
            "metadata": {
                "name": account,
                "namespace": options.namespace,
                "labels": _labels(stack.name),
            },
        },
        {
            "apiVersion": "rbac.authorization.k8s.io/v1",
            "kind": "ClusterRoleBinding",
            "metadata": {
                "name": f"{options.namespace}:{account}:auth-delegator",
                "labels": _labels(stack.name),
            },
            "roleRef": {
                "apiGroup": "rbac.authorization.k8s.io",
                "kind": "ClusterRole",
                "name": "system:auth-delegator",
            },
            "subjects": [
                {"kind": "ServiceAccount", "name": account, "namespace": options.namespace}
            ],
        },
        stack_resource(stack, options),
    ]


def operator_manifests(
    stacks: Sequence[TenantStack], options: OperatorOptions
) -> list[dict[str, Any]]:
    """The fleet's namespace, then every tenant's manifests (`tenant_manifests`).

    Raises:
        OperatorError: a stack's secrets provider has no known credentials.
    """
    namespace = {
        "apiVersion": "v1",
        "kind": "Namespace",
        "metadata": {
            "name": options.namespace,
            "labels": {
                "app.kubernetes.io/managed-by": MANAGED_BY,
                # The workspace pods run with the operator's restricted profile.
                "pod-security.kubernetes.io/enforce": "restricted",
            },
        },
    }
    manifests: list[dict[str, Any]] = [namespace]
    for stack in stacks:
        manifests += tenant_manifests(stack, options)
    return manifests


def render(manifests: Sequence[Mapping[str, Any]]) -> str:
    """Multi-document YAML for `kubectl apply -f -`."""
    return yaml.safe_dump_all([dict(m) for m in manifests], sort_keys=False)
