"""Pulumi Kubernetes Operator manifests, validated against the operator's CRDs in
../shared/crds/pulumi-kubernetes-operator (unknown fields rejected). Applied on a live
cluster: tests/live/test_operator_manifests.py."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest
import yaml

from stacks.fleet.operator import (
    OperatorError,
    OperatorOptions,
    operator_manifests,
    render,
)
from stacks.fleet.selection import TenantStack, discover
from tests.support.upstream import validate_custom_resource

ROOT = Path(__file__).resolve().parents[3]
OPTIONS = OperatorOptions(git_url="https://git.example.com/platform/gpu-caas.git", branch="main")


def _stacks_of(manifests: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [m for m in manifests if m["kind"] == "Stack"]


@pytest.fixture(scope="module")
def manifests() -> list[dict[str, Any]]:
    return operator_manifests(discover(ROOT), OPTIONS)


def test_every_stack_is_valid_against_the_operator_crd(manifests: list[dict[str, Any]]) -> None:
    stacks = _stacks_of(manifests)
    assert [s["metadata"]["name"] for s in stacks] == [
        "dev",
        "gb200-baremetal",
        "h100-training",
        "isv-inference",
    ]
    for stack in stacks:
        validate_custom_resource("pulumi.com/v1", "Stack", stack)


def test_an_unknown_field_is_rejected(manifests: list[dict[str, Any]]) -> None:
    typo = copy.deepcopy(_stacks_of(manifests)[0])
    typo["spec"]["workspaceTemplate"]["spec"]["resource"] = {}
    with pytest.raises(AssertionError, match="resource"):
        validate_custom_resource("pulumi.com/v1", "Stack", typo)


def test_workspace_is_sized_for_a_gpu_tenant_stack(manifests: list[dict[str, Any]]) -> None:
    spec = _stacks_of(manifests)[0]["spec"]["workspaceTemplate"]["spec"]
    resources = spec["resources"]
    # A workspace emptyDir reached 1.3-2.4 GiB (pulumi-kubernetes-operator#1308).
    assert resources["requests"]["ephemeral-storage"] == "3Gi"
    assert resources["limits"]["ephemeral-storage"] == "6Gi"
    assert resources["requests"]["memory"] == "2Gi"
    assert spec["securityProfile"] == "restricted"


def test_production_refresh_and_drift_settings(manifests: list[dict[str, Any]]) -> None:
    spec = _stacks_of(manifests)[0]["spec"]
    assert spec["refresh"] is True and spec["continueResyncOnCommitMatch"] is True
    assert spec["resyncFrequencySeconds"] == 3600
    assert spec["destroyOnFinalize"] is False and spec["useLocalStackOnly"] is True
    assert spec["workspaceReclaimPolicy"] == "Delete"


def test_secrets_are_references_never_values(manifests: list[dict[str, Any]]) -> None:
    stack = _stacks_of(manifests)[0]
    refs = stack["spec"]["envRefs"]
    assert refs["PULUMI_CONFIG_PASSPHRASE"] == {
        "type": "Secret",
        "secret": {"name": "dev-pulumi-credentials", "key": "passphrase"},
    }
    assert refs["PULUMI_ACCESS_TOKEN"]["secret"]["key"] == "pulumi-access-token"
    text = render(manifests)
    assert "gpu-caas-dev-passphrase" not in text and "kind: Secret\n" not in text


def test_policy_packs_are_named_on_every_stack(manifests: list[dict[str, Any]]) -> None:
    for stack in _stacks_of(manifests):
        annotations = stack["metadata"]["annotations"]
        assert annotations["gpu-caas.io/policy-packs"] == "platform-safety,tenant-isolation"


def test_service_account_has_only_the_auth_delegator_binding(
    manifests: list[dict[str, Any]],
) -> None:
    bindings = [m for m in manifests if m["kind"] == "ClusterRoleBinding"]
    assert len(bindings) == 4
    assert {b["roleRef"]["name"] for b in bindings} == {"system:auth-delegator"}
    assert bindings[0]["subjects"] == [
        {"kind": "ServiceAccount", "name": "dev-pulumi", "namespace": "gpu-caas-fleet"}
    ]
    assert not [m for m in manifests if m["kind"] in ("Role", "ClusterRole", "RoleBinding")]


def test_kms_stack_gets_its_provider_and_cloud_credentials(tmp_path: Path) -> None:
    document = yaml.safe_load((ROOT / "Pulumi.dev.yaml").read_text())
    document.pop("encryptionsalt")
    document["secretsprovider"] = "awskms://alias/gpu-caas?region=eu-west-1"
    path = tmp_path / "Pulumi.prod-a.yaml"
    path.write_text(yaml.safe_dump(document))
    options = OperatorOptions(
        git_url="git@example.com:p/g.git",
        branch="release",
        backend="s3://state-bucket",
        organization="acme",
    )
    stack = _stacks_of(operator_manifests([TenantStack("prod-a", path, "x")], options))[0]
    validate_custom_resource("pulumi.com/v1", "Stack", stack)
    assert stack["spec"]["stack"] == "acme/prod-a"
    assert stack["spec"]["secretsProvider"] == "awskms://alias/gpu-caas?region=eu-west-1"
    assert set(stack["spec"]["envRefs"]) == {"AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"}
    assert stack["metadata"]["annotations"]["gpu-caas.io/policy-enforcement"] == "pr-check"


@pytest.mark.parametrize(
    ("git_url", "branch", "message"),
    [("repo", "main", "--git-url"), ("https://x/y.git", "", "--branch")],
)
def test_bad_options_name_the_flag(git_url: str, branch: str, message: str) -> None:
    with pytest.raises(OperatorError, match=message):
        OperatorOptions(git_url=git_url, branch=branch)
