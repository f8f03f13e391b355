"""The NIM pods of a team namespace meet Pod Security `restricted`, proven by the real
Kyverno engine (the Kyverno CLI, built by `make setup-test`).

The objects below are what the NIM Operator v3.1.2 creates for a NIMService and a
NIMCache, reduced to the fields Pod Security judges: the Deployment of
NVIDIA/k8s-nim-operator@v3.1.2:manifests/deployment.yaml (pod `runAsUser`/`runAsGroup`/
`fsGroup` only, no container securityContext) and the Job and manifest Pod of
internal/controller/nimcache_controller.go (`constructJob`, `constructPodSpec`: no
seccomp profile off TKGS). Run through the isolation ClusterPolicies together with
`gpu-caas-nim-pod-security`, the models' objects are admitted; the same objects under a
name that is not a configured model are refused, so the mutation is what admits them and
it reaches no other workload.
"""

from __future__ import annotations

import types
from pathlib import Path
from typing import Any

import pytest

from components.gpu import nim_operator as nim
from components.isolation.kyverno import render_cluster_policies
from stacks.config import load_stack_file
from stacks.platform_gpu_network import placed_nim_models
from stacks.platform_isolation import kyverno_args
from tests.support.kyverno_cli import policy_results, write_policies

ROOT = Path(__file__).resolve().parents[3]
SIGNATURE_POLICY = "gpu-caas-verify-nvidia-images"
RESTRICTED = "gpu-caas-pod-security"

pytestmark = pytest.mark.engine


def _deployment(name: str, namespace: str, image: str) -> dict[str, Any]:
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": name, "namespace": namespace},
        "spec": {
            "selector": {"matchLabels": {"app": name}},
            "template": {
                "metadata": {"labels": {"app": name}},
                "spec": {
                    "securityContext": {"runAsUser": 1000, "runAsGroup": 2000, "fsGroup": 2000},
                    "containers": [
                        {
                            "name": f"{name}-ctr",
                            "image": image,
                            "resources": {"limits": {"nvidia.com/gpu": 1}},
                        }
                    ],
                },
            },
        },
    }


_CACHE_CONTAINER_SECURITY = {
    "allowPrivilegeEscalation": False,
    "capabilities": {"drop": ["ALL"]},
    "runAsNonRoot": True,
    "runAsUser": 1000,
    "runAsGroup": 2000,
}


def _cache_pod_spec(image: str) -> dict[str, Any]:
    return {
        "securityContext": {"runAsUser": 1000, "fsGroup": 2000, "runAsNonRoot": True},
        "containers": [
            {"name": "nim-cache", "image": image, "securityContext": _CACHE_CONTAINER_SECURITY}
        ],
    }


def _job(name: str, namespace: str, image: str) -> dict[str, Any]:
    return {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": {"name": f"{name}-job", "namespace": namespace},
        "spec": {
            "template": {
                "metadata": {"labels": {"app": "k8s-nim-operator"}},
                "spec": {"restartPolicy": "Never", **_cache_pod_spec(image)},
            }
        },
    }


def _pod(name: str, namespace: str, image: str) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": f"{name}-pod", "namespace": namespace},
        "spec": _cache_pod_spec(image),
    }


def _operator_objects(name: str, namespace: str, image: str) -> list[dict[str, Any]]:
    return [
        _deployment(name, namespace, image),
        _job(name, namespace, image),
        _pod(name, namespace, image),
    ]


def _verdicts(
    policies: dict[str, dict[str, Any]], resources: list[dict[str, Any]], tmp_path: Path
) -> dict[tuple[str, str], dict[str, str]]:
    """(kind, name) -> {policy/rule: result} as Kyverno reports them."""
    policy_dir, mutated = tmp_path / "p", tmp_path / "m"
    policy_dir.mkdir()
    mutated.mkdir()
    write_policies(policies, policy_dir)
    results = policy_results(policy_dir, resources, tmp_path, mutated=mutated)
    verdicts: dict[tuple[str, str], dict[str, str]] = {}
    for result in results:
        for resource in result.get("resources", []):
            key = (resource["kind"], resource["name"])
            verdicts.setdefault(key, {})[f"{result['policy']}/{result['rule']}"] = result["result"]
    return verdicts


def test_nim_pods_of_team_models_meet_restricted_and_nothing_else_is_mutated(
    tmp_path: Path,
) -> None:
    config = load_stack_file(ROOT / "Pulumi.isv-inference.yaml")
    models = [m for m in placed_nim_models(config) if m.namespace is not None]
    assert models, "the example puts its NIM models into a team namespace"
    handle = types.SimpleNamespace(provider=None, network_ready=())
    policies = {
        name: spec
        for name, spec in render_cluster_policies(kyverno_args(handle, config)).items()  # type: ignore[arg-type]
        if name != SIGNATURE_POLICY
    }
    policies[nim.POD_SECURITY_POLICY] = nim.render_pod_security_policy(models)
    model = models[0]
    image = nim.model_image(model)
    resources = [
        *_operator_objects(model.name, str(model.namespace), image),
        *_operator_objects("not-a-model", str(model.namespace), image),
    ]
    verdicts = _verdicts(policies, resources, tmp_path)

    admitted = {
        ("Deployment", model.name): "autogen-restricted",
        ("Job", f"{model.name}-job"): "autogen-restricted",
        ("Pod", f"{model.name}-pod"): "restricted",
    }
    for key, rule in admitted.items():
        got = verdicts.get(key, {})
        assert got.get(f"{RESTRICTED}/{rule}") == "pass", (key, got)
        assert any(r.startswith(f"{nim.POD_SECURITY_POLICY}/") for r in got), (key, got)
        assert "fail" not in got.values(), (key, got)
    # The operator's objects as v3.1.2 renders them are refused by `restricted` ...
    for kind, name, rule in (
        ("Deployment", "not-a-model", "autogen-restricted"),
        ("Job", "not-a-model-job", "autogen-restricted"),
        ("Pod", "not-a-model-pod", "restricted"),
    ):
        got = verdicts.get((kind, name), {})
        assert got.get(f"{RESTRICTED}/{rule}") == "fail", (kind, name, got)
        # ... and the mutation, scoped by name, does not touch them.
        assert not any(r.startswith(f"{nim.POD_SECURITY_POLICY}/") for r in got), got
