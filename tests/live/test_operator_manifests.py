"""The Pulumi Kubernetes Operator manifests applied for real on a live local cluster
(sandbox.cluster: etcd, kube-apiserver with RBAC, controllers), with the operator's
CRDs from ../shared/crds/pulumi-kubernetes-operator installed: the API server stores
every object (strict field validation: an unknown field fails the apply), and the
workspace ServiceAccount can do what the operator needs (token and access reviews)
and nothing more. The operator itself does not run here (no container runs on the
local cluster)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from sandbox.cluster import LocalCluster, running_cluster
from sandbox.services import install_crds
from stacks.fleet.operator import OperatorOptions, operator_manifests, render
from stacks.fleet.selection import discover
from tests.support.upstream import CRDS_ROOT, crd_path

pytestmark = [pytest.mark.engine, pytest.mark.live]

ROOT = Path(__file__).resolve().parents[2]
NAMESPACE = "gpu-caas-fleet"


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalCluster]:
    with running_cluster(tmp_path_factory.mktemp("operator-cluster")) as running:
        crd = crd_path("pulumi.com", "Stack", "pulumi-kubernetes-operator")
        install_crds(running, (str(crd.relative_to(CRDS_ROOT)),))
        yield running


def _apply(cluster: LocalCluster, text: str) -> None:
    done = cluster.kubectl(
        "apply",
        "--server-side",
        "--field-manager",
        "gpu-caas-fleet",
        "--validate=strict",
        "-f",
        "-",
        stdin=text,
    )
    assert done.returncode == 0, done.stderr + "\n" + cluster.logs()


def test_every_tenants_manifests_apply(cluster: LocalCluster) -> None:
    options = OperatorOptions(
        git_url="https://git.example.com/platform/gpu-caas.git", branch="main", namespace=NAMESPACE
    )
    _apply(cluster, render(operator_manifests(discover(ROOT), options)))
    listed = cluster.kubectl("get", "stacks.pulumi.com", "-n", NAMESPACE, "-o", "name")
    assert listed.stdout.split() == [
        "stack.pulumi.com/dev",
        "stack.pulumi.com/gb200-baremetal",
        "stack.pulumi.com/h100-training",
        "stack.pulumi.com/isv-inference",
    ]
    stored = cluster.kubectl(
        "get",
        "stack.pulumi.com/dev",
        "-n",
        NAMESPACE,
        "-o",
        "jsonpath={.spec.workspaceTemplate.spec.resources.requests.ephemeral-storage}",
    )
    assert stored.stdout == "3Gi", "the server pruned the workspace sizing"


def test_an_unknown_field_is_refused_by_the_server(cluster: LocalCluster) -> None:
    options = OperatorOptions(
        git_url="https://git.example.com/p/g.git", branch="main", namespace=NAMESPACE
    )
    stack = operator_manifests(discover(ROOT, ["dev"]), options)[-1]
    stack["spec"]["refreshh"] = True
    done = cluster.kubectl(
        "apply", "--server-side", "--validate=strict", "-f", "-", stdin=render([stack])
    )
    assert done.returncode != 0 and "refreshh" in done.stderr


@pytest.mark.parametrize(
    ("verb", "resource", "allowed"),
    [
        ("create", "tokenreviews.authentication.k8s.io", "yes"),
        ("create", "subjectaccessreviews.authorization.k8s.io", "yes"),
        ("get", "secrets", "no"),
        ("create", "pods", "no"),
    ],
)
def test_workspace_service_account_has_only_what_the_operator_needs(
    cluster: LocalCluster, verb: str, resource: str, allowed: str
) -> None:
    done = cluster.kubectl(
        "auth",
        "can-i",
        verb,
        resource,
        "-n",
        NAMESPACE,
        "--as",
        f"system:serviceaccount:{NAMESPACE}:dev-pulumi",
    )
    assert done.stdout.strip() == allowed, done.stderr
