"""`pack_config`: every policy's config refuses unknown keys; unknown policies are named."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import jsonschema
import pytest

from policies.gpu_caas_policies import platform_safety, tenant_isolation
from policies.gpu_caas_policies.pack_config import (
    ENFORCEMENT_LEVEL,
    PackConfigError,
    check_config,
    config_file_for,
    config_problems,
    pack_config_schema,
    policy_config_schema,
    policy_keys,
)

PACKS = {
    "gpu-caas-platform-safety": platform_safety.POLICIES,
    "gpu-caas-tenant-isolation": tenant_isolation.POLICIES,
}
EVERY_POLICY = [(pack, policy) for pack, policies in PACKS.items() for policy in policies]


def _ids(item: Any) -> str:
    return str(item[1].name) if isinstance(item, tuple) else str(item)


@pytest.mark.parametrize("entry", EVERY_POLICY, ids=_ids)
def test_every_policy_schema_refuses_unknown_keys(entry: tuple[str, Any]) -> None:
    _, policy = entry
    schema = policy_config_schema(policy)
    jsonschema.Draft202012Validator.check_schema(schema)
    validator = jsonschema.Draft202012Validator(schema)
    assert schema["additionalProperties"] is False
    assert validator.is_valid({ENFORCEMENT_LEVEL: "advisory"})
    assert not validator.is_valid({"noSuchKey": 1})
    assert not validator.is_valid({ENFORCEMENT_LEVEL: "loud"})
    defaults = {
        key: spec["default"]
        for key, spec in (policy.config_schema.properties if policy.config_schema else {}).items()
        if "default" in spec
    }
    assert validator.is_valid(defaults), policy.name


@pytest.mark.parametrize("entry", EVERY_POLICY, ids=_ids)
def test_checker_agrees_with_the_schema_on_a_misspelled_key(entry: tuple[str, Any]) -> None:
    pack, policy = entry
    policies = PACKS[pack]
    keys = policy_keys(policy)
    misspelled = keys[-1][:-1] + "X"
    config = {policy.name: {misspelled: "x"}}
    assert not jsonschema.Draft202012Validator(pack_config_schema(policies)).is_valid(config)
    assert config_problems(pack, policies, config, "ci/pack.json") == [
        f"ci/pack.json: {policy.name}.{misspelled}: unknown key"
        + (f" (did you mean {keys[-1]!r}?)" if len(keys[-1]) > 4 else "")
        + f"; {policy.name} takes: {', '.join(keys)}"
    ]


@pytest.mark.parametrize("pack", sorted(PACKS))
def test_the_documented_examples_are_valid(pack: str) -> None:
    policies = PACKS[pack]
    names = [p.name for p in policies]
    config: dict[str, Any] = {
        names[0]: "advisory",
        names[1]: {ENFORCEMENT_LEVEL: "mandatory"},
        "all": "mandatory",
        "environments": ["gpu-caas/ci"],
    }
    assert jsonschema.Draft202012Validator(pack_config_schema(policies)).is_valid(config)
    assert config_problems(pack, policies, config, "f.json") == []
    check_config(pack, policies, config, "f.json")  # does not raise


def test_a_real_configuration_passes() -> None:
    config = {
        "tenant-namespace-guardrails": {
            "platformNamespaces": ["kube-system", "gpu-operator"],
            "managementProviders": ["*-management"],
        },
        "no-tenant-rights-in-platform-namespaces": {"tenantClusterRoles": ["node-viewer"]},
        "kubernetes-explicit-provider": {"enforcementLevel": "mandatory"},
    }
    pack = "gpu-caas-tenant-isolation"
    assert config_problems(pack, PACKS[pack], config, "ci/tenant-isolation.json") == []


def test_an_unknown_policy_is_named_with_the_valid_ones() -> None:
    pack = "gpu-caas-platform-safety"
    policies = PACKS[pack]
    problems = config_problems(
        pack, policies, {"helm-chart-exact-versoin": {"x": 1}}, "ci/platform-safety.json"
    )
    assert problems == [
        "ci/platform-safety.json: 'helm-chart-exact-versoin' is not a policy of pack "
        "gpu-caas-platform-safety (did you mean 'helm-chart-exact-version'?); its policies: "
        + ", ".join(sorted(p.name for p in policies))
        + " (or 'all' for every policy)"
    ]


def test_all_takes_only_an_enforcement_level() -> None:
    pack = "gpu-caas-tenant-isolation"
    problems = config_problems(pack, PACKS[pack], {"all": {"platformNamespaces": []}}, "f.json")
    assert problems == ["f.json: all.platformNamespaces: unknown key; all takes: enforcementLevel"]


def test_check_config_raises_every_problem() -> None:
    pack = "gpu-caas-tenant-isolation"
    with pytest.raises(PackConfigError) as error:
        check_config(
            pack,
            PACKS[pack],
            {"nope": {}, "no-nodeport-services-in-tenant-namespaces": {"platfromNamespaces": []}},
            "f.json",
        )
    assert len(error.value.problems) == 2
    assert "'nope' is not a policy" in error.value.problems[0]
    assert "platfromNamespaces: unknown key (did you mean 'platformNamespaces'?)" in str(
        error.value
    )


@pytest.mark.parametrize(
    ("argv", "expected"),
    [
        (
            ["pulumi", "preview", "--policy-pack", "policies/a", "--policy-pack-config", "a.json"],
            "a.json",
        ),
        (
            [
                "pulumi",
                "preview",
                "--policy-pack=policies/b",
                "--policy-pack",
                "policies/a",
                "--policy-pack-config",
                "b.json",
                "--policy-pack-config=a.json",
            ],
            "a.json",
        ),
        (
            ["pulumi", "up", "--policy-pack", "policies/b,policies/a"]
            + ["--policy-pack-config", "b.json,a.json"],
            "a.json",
        ),
        (["pulumi", "preview", "--policy-pack", "policies/a"], None),
        (
            ["pulumi", "preview", "--policy-pack", "policies/b", "--policy-pack-config", "b.json"],
            None,
        ),
    ],
    ids=["one", "flag-forms", "comma-separated", "no-config", "other-pack"],
)
def test_config_file_for(argv: list[str], expected: str | None, tmp_path: Path) -> None:
    (tmp_path / "policies" / "a").mkdir(parents=True)
    found = config_file_for(argv, tmp_path, tmp_path / "policies" / "a")
    assert found == (tmp_path / expected if expected else None)
