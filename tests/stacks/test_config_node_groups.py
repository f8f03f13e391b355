"""`stacks/config/node_groups.py`: node labels that kubelet or Karpenter would refuse."""

from __future__ import annotations

import pytest
import yaml
from pydantic import ValidationError

from stacks.config.node_groups import NodeGroupConfig, node_label_key_problem
from tests.support.upstream import CRDS_ROOT


@pytest.mark.parametrize(
    ("key", "fragment"),
    [
        ("gpu-caas.io/role", None),
        ("example.com/team", None),
        ("team", None),
        ("node.kubernetes.io/gpu-pool", None),
        ("kubelet.kubernetes.io/pool", None),
        ("sub.node.kubernetes.io/x", None),
        ("topology.kubernetes.io/zone", None),
        ("node.kubernetes.io/instance-type", None),
        ("karpenter.sh/capacity-type", None),
        ("node-role.kubernetes.io/worker", "kubelet refuses kubernetes.io and k8s.io labels"),
        ("kubernetes.io/role", "kubelet refuses"),
        ("foo.k8s.io/bar", "kubelet refuses"),
        ("k8s.io/bar", "kubelet refuses"),
        ("node-restriction.kubernetes.io/pool", "NodeRestriction admission plugin"),
        ("karpenter.sh/nodepool", "karpenter.sh label domain is restricted"),
        ("kubernetes.io/hostname", "each node's own name"),
        ("x.karpenter.sh/y", "karpenter.sh label domain is restricted"),
    ],
)
def test_node_label_keys(key, fragment):
    problem = node_label_key_problem(key)
    if fragment is None:
        assert problem is None
    else:
        assert problem is not None and fragment in problem and repr(key) in problem


def test_a_refused_label_fails_the_node_group_with_the_fix():
    with pytest.raises(ValidationError, match="use your own prefix"):
        NodeGroupConfig.model_validate(
            {"name": "train", "hosts": ["gpu-0"], "labels": {"node-role.kubernetes.io/gpu": ""}}
        )


def test_karpenter_rules_are_the_pinned_crds():
    """The karpenter.sh rules above are the NodePool CRD's CEL rules at v1.14.1."""
    crd = yaml.safe_load(
        (CRDS_ROOT / "karpenter" / "v1.14.1" / "karpenter.sh_nodepools.yaml").read_text()
    )
    version = next(v for v in crd["spec"]["versions"] if v["name"] == "v1")
    template = version["schema"]["openAPIV3Schema"]["properties"]["spec"]["properties"]["template"]
    rules = template["properties"]["metadata"]["properties"]["labels"]["x-kubernetes-validations"]
    messages = {r["message"] for r in rules}
    assert messages == {
        'label domain "karpenter.sh" is restricted',
        'label "karpenter.sh/nodepool" is restricted',
        'label "kubernetes.io/hostname" is restricted',
    }
    assert '["karpenter.sh/capacity-type", "karpenter.sh/nodepool"]' in rules[0]["rule"]
