"""`pack_config`: every policy's config refuses unknown keys; unknown policies are named."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import jsonschema
import pytest

from policies.gpu_caas_policies import platform_safety, tenant_isolation
from policies.gpu_caas_policies.pack_config import (
    ENFORCEMENT_LEVEL,
    REPO,
    PackConfigError,
    check_config,
    config_file_for,
    config_pairs,
    config_problems,
    files_problems,
    known_pack,
    known_packs,
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


SAFETY, ISOLATION = "gpu-caas-platform-safety", "gpu-caas-tenant-isolation"
SAFETY_DIR, ISOLATION_DIR = (
    REPO / "policies" / "platform-safety",
    REPO / "policies" / "tenant-isolation",
)


def test_the_known_packs_are_this_repositorys() -> None:
    assert known_packs() == PACKS
    assert known_pack(SAFETY_DIR) == (SAFETY, platform_safety.POLICIES)
    assert known_pack(REPO / "policies" / "config") is None


def test_a_config_of_the_other_pack_is_named_as_such() -> None:
    config = {
        "tenant-namespace-guardrails": {"platformNamespaces": ["x"]},
        "no-tenant-rights-in-platform-namespaces": {"tenantClusterRoles": []},
        "kubernetes-explicit-provider": "mandatory",
        "no-cluster-admin-binding": "advisory",
        "all": "mandatory",
    }
    assert config_problems(SAFETY, PACKS[SAFETY], config, "ci/isolation.json", PACKS) == [
        "ci/isolation.json: this file looks like the config of pack gpu-caas-tenant-isolation "
        "(it configures tenant-namespace-guardrails, no-tenant-rights-in-platform-namespaces, "
        "kubernetes-explicit-provider and 1 more), not of gpu-caas-platform-safety; paired with "
        "the wrong --policy-pack? The n-th --policy-pack-config goes with the n-th --policy-pack."
    ]


def test_one_foreign_policy_among_own_ones_is_named_with_its_pack() -> None:
    config = {"helm-chart-exact-version": "mandatory", "tenant-namespace-guardrails": {}}
    (problem,) = config_problems(SAFETY, PACKS[SAFETY], config, "f.json", PACKS)
    assert problem.startswith(
        "f.json: 'tenant-namespace-guardrails' is not a policy of pack gpu-caas-platform-safety "
        "(it is a policy of pack gpu-caas-tenant-isolation); its policies: "
    )


def _write(directory: Path, name: str, config: object) -> Path:
    path = directory / name
    path.write_text(json.dumps(config) if not isinstance(config, str) else config)
    return path


def test_every_files_problems_are_reported_at_once(tmp_path: Path) -> None:
    # Two packs, two bad files: both files' problems in one go, in command-line order
    # (the engine stops at the first pack that fails to start).
    safety = _write(tmp_path, "safety.json", {"helm-chart-exact-versoin": {}})
    isolation = _write(
        tmp_path, "isolation.json", {"tenant-namespace-guardrails": {"platfromNamespaces": []}}
    )
    argv = ["pulumi", "preview", "--policy-pack", str(SAFETY_DIR), "--policy-pack",
            str(ISOLATION_DIR), "--policy-pack-config", "safety.json",
            "--policy-pack-config", "isolation.json"]  # fmt: skip
    pairs = config_pairs(argv, tmp_path)
    assert pairs == [(SAFETY_DIR, safety), (ISOLATION_DIR, isolation)]
    problems = files_problems(pairs, tmp_path)
    assert len(problems) == 2, problems
    assert problems[0].startswith("safety.json: 'helm-chart-exact-versoin' is not a policy of ")
    assert problems[1].startswith(
        "isolation.json: tenant-namespace-guardrails.platfromNamespaces: unknown key"
    )
    # Whichever pack the engine starts first reports the same, all of it.
    this = (ISOLATION, tenant_isolation.POLICIES, ISOLATION_DIR)
    assert files_problems(pairs, tmp_path, this) == problems


def test_swapped_files_are_each_named(tmp_path: Path) -> None:
    safety_config = {"helm-chart-allowed-repository": {"trustStackMirrors": True}}
    isolation_config: dict[str, object] = {
        "no-tenant-rights-in-platform-namespaces": {"tenantClusterRoles": []}
    }
    pairs = [
        (SAFETY_DIR, _write(tmp_path, "isolation.json", isolation_config)),
        (ISOLATION_DIR, _write(tmp_path, "safety.json", safety_config)),
    ]
    problems = files_problems(pairs, tmp_path)
    assert [p.split(";")[0] for p in problems] == [
        "isolation.json: this file looks like the config of pack gpu-caas-tenant-isolation (it "
        "configures no-tenant-rights-in-platform-namespaces), not of gpu-caas-platform-safety",
        "safety.json: this file looks like the config of pack gpu-caas-platform-safety (it "
        "configures helm-chart-allowed-repository), not of gpu-caas-tenant-isolation",
    ]
    assert all(p.endswith("paired with the wrong --policy-pack? The n-th "
                          "--policy-pack-config goes with the n-th --policy-pack.")
               for p in problems)  # fmt: skip


def test_unreadable_files_and_other_packs(tmp_path: Path) -> None:
    pairs = [
        (SAFETY_DIR, _write(tmp_path, "broken.json", "{not json")),
        (ISOLATION_DIR, _write(tmp_path, "list.json", ["tenant-namespace-guardrails"])),
        (tmp_path / "someone-elses-pack", _write(tmp_path, "theirs.json", {"x": {}})),
        (ISOLATION_DIR, tmp_path / "absent.json"),
    ]
    problems = files_problems(pairs, tmp_path)
    assert [p.split(":")[0] for p in problems] == ["broken.json", "list.json", "absent.json"]
    assert "cannot read the config of pack gpu-caas-platform-safety" in problems[0]
    assert "must be a JSON object keyed by policy name" in problems[1]
    assert files_problems([(ISOLATION_DIR, _write(tmp_path, "ok.json", {}))], tmp_path) == []
