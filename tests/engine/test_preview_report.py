"""What a reviewer reads in the dev tenant's preview, on the real engine with both packs:
the short `mirrorList` (equal to `python -m stacks mirror-list`), the `summary`, a
known `apiEndpoint`, each pack's report of what it checked, decided, deferred and
skipped, shown once (also with `--diff`); and pack configuration mistakes failing with
the key named, every file's at once."""

from __future__ import annotations

import json
import os
import subprocess
from collections.abc import Mapping
from pathlib import Path

import pytest

from policies.gpu_caas_policies import platform_safety, tenant_isolation
from sandbox.workspace import engine_environment
from stacks.config import load_stack_file
from stacks.mirror_list import digest, mirror_list_output, offline_mirror_list
from stacks.summary import tenant_summary
from tests.engine.harness import (
    POLICY_PACKS,
    ROOT,
    PreviewResult,
    engine_env,
    preview,
    require_pulumi,
)

pytestmark = pytest.mark.engine

VALID_CONFIGS: dict[str, object] = {
    "platform-safety": {
        "helm-chart-allowed-repository": {"trustStackMirrors": True},
        "kubernetes-minimum-version": "mandatory",
    },
    "tenant-isolation": {
        "no-tenant-rights-in-platform-namespaces": {"tenantClusterRoles": ["node-viewer"]},
    },
}


def _write_configs(directory: Path, configs: Mapping[str, object]) -> list[Path]:
    """One config file per pack, in `POLICY_PACKS` order (`{}` for packs not named)."""
    paths = []
    for pack in POLICY_PACKS:
        path = directory / f"{pack.name}.json"
        path.write_text(json.dumps(configs.get(pack.name, {})), encoding="utf-8")
        paths.append(path)
    return paths


@pytest.fixture(scope="module")
def dev(tmp_path_factory: pytest.TempPathFactory) -> PreviewResult:
    """The dev preview with both packs, each given a valid config file."""
    directory = tmp_path_factory.mktemp("dev-preview")
    configs = _write_configs(directory, VALID_CONFIGS)
    return preview(ROOT, "dev", directory / "backend", policy_pack_configs=configs)


def test_dev_previews_clean_with_pack_configs(dev: PreviewResult) -> None:
    detail = dev.describe()
    assert dev.returncode == 0 and dev.result == "succeeded", detail
    assert not dev.errors and not dev.violations, detail


def test_mirror_list_output_equals_the_offline_command(dev: PreviewResult) -> None:
    """The engine's run and `python -m stacks mirror-list Pulumi.dev.yaml` build the same
    list: equal SHA-256 of the canonical JSON, equal counts."""
    offline = offline_mirror_list(load_stack_file(ROOT / "Pulumi.dev.yaml"), "dev")
    assert dev.outputs["mirrorList"] == mirror_list_output(offline, "dev"), dev.describe()
    mirror_list = dev.outputs["mirrorList"]
    assert isinstance(mirror_list, dict) and mirror_list["sha256"] == digest(offline)


def test_summary_and_api_endpoint_are_known_at_the_first_preview(dev: PreviewResult) -> None:
    config = load_stack_file(ROOT / "Pulumi.dev.yaml")
    assert dev.outputs["summary"] == tenant_summary(config)
    assert dev.outputs["apiEndpoint"] == "https://192.0.2.10:6443"


def test_each_pack_reports_what_it_checked(dev: PreviewResult) -> None:
    text = "\n".join(dev.infos)
    for pack, policies in (
        ("gpu-caas-platform-safety", platform_safety.POLICIES),
        ("gpu-caas-tenant-isolation", tenant_isolation.POLICIES),
    ):
        assert f"{pack}: {len(policies)} policies over 65 resources at preview" in text, text
    # Policies that looked at something say how much; Helm policies saw the 8 releases.
    assert "  helm-chart-exact-version: checked 8" in text, text
    assert "  kubernetes-explicit-provider: checked " in text, text
    # What decided, where a count says too little: only the GPU Operator's release is
    # checked by its CVE floor, and the versions found are given against the floors.
    assert "  gpu-operator-cve-floor: checked 1 (GPU Operator v26.7.0 >= 25.3.1)\n" in text
    assert "  container-toolkit-cve-floor: checked 1 (toolkit v1.20.0 >= 1.17.8)\n" in text
    assert (
        "  kubernetes-minimum-version (stack): judged 2 resources (Kubernetes 1.34.2 >= 1.34.0)\n"
        in text
    ), text
    # A half that did not run is named with the key that enables it.
    assert (
        "  hosts-belong-to-tenant (stack): judged 3 resources (tenant dev: node groups "
        "notebooks, train); skipped the host inventory check (no hostOwners in the pack "
        "config)\n" in text
    ), text
    # At a first preview the engine hands stack policies no outputs of the Kubernetes
    # objects the update creates; the guardrail rule judges what the program planned
    # (the tenant namespace, its quota, limits, NetworkPolicies and RoleBindings).
    assert "  tenant-namespace-guardrails (stack): judged 28 resources\n" in text, text
    # What was not looked at is said, not hidden behind the green tick.
    assert "not scanned in" in text, text
    assert "no matching resource: " in text, text
    # Each pack's report is one diagnostic, not one per line.
    headers = [info for info in dev.infos if " policies over " in info]
    assert len(headers) == 2 and all(info.count("\n") >= 5 for info in headers), headers


def _text_preview(backend: Path, *extra: str) -> str:
    """`pulumi preview` of dev with both packs as a user sees it in a terminal (no
    `--json`; stdout and stderr together: `--diff` writes diagnostics to stderr)."""
    pulumi = require_pulumi()
    env = engine_environment(backend)
    env.pop("PULUMI_ENABLE_STREAMING_JSON_PREVIEW", None)
    backend.mkdir(parents=True, exist_ok=True)
    subprocess.run(
        [pulumi, "stack", "select", "dev", "--create", "--secrets-provider", "passphrase"],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=120, check=True,
    )  # fmt: skip
    packs = [arg for pack in POLICY_PACKS for arg in ("--policy-pack", str(pack))]
    proc = subprocess.run(
        [pulumi, "preview", "--stack", "dev", "--non-interactive", *packs, *extra],
        cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        timeout=900, check=False,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stdout[-3000:]
    return proc.stdout


@pytest.fixture(scope="module")
def dev_text(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """The dev preview's text output, plain and with `--diff`."""
    backend = tmp_path_factory.mktemp("dev-text") / "backend"
    return {"plain": _text_preview(backend), "diff": _text_preview(backend, "--diff")}


PACK_POLICIES = {
    "gpu-caas-platform-safety": platform_safety.POLICIES,
    "gpu-caas-tenant-isolation": tenant_isolation.POLICIES,
}


@pytest.mark.parametrize("mode", ["plain", "diff"])
def test_each_report_is_shown_once_and_single_spaced(dev_text: dict[str, str], mode: str) -> None:
    """Printed to stdout, every report line became a diagnostic of its own: the
    non-interactive resource list repeated each on the stack's row (22 extra lines) and
    `--diff` double-spaced them. Sent as one diagnostic, the row shows the pack's header
    only (plain), the body appears once, and `--diff` prints it as it is."""
    text = dev_text[mode]
    lines = text.splitlines()
    for pack, policies in PACK_POLICIES.items():
        header = f"{pack}: {len(policies)} policies over 65 resources at preview"
        on_row = [line for line in lines if line.endswith(f" create {header}")]
        assert len(on_row) == (1 if mode == "plain" else 0), text
        (at,) = [i for i, line in enumerate(lines) if line.strip() == header]
        indent = lines[at][: len(lines[at]) - len(lines[at].lstrip())] + "  "
        body = []
        for line in lines[at + 1 :]:  # the block right below the header, no blank lines
            if not line.startswith(indent):
                break
            body.append(line.strip())
        idle = next((b for b in body if b.startswith("no matching resource: ")), None)
        named = {b.split(":")[0].removesuffix(" (stack)") for b in body}
        covered = [p.name for p in policies if p.name in named]
        covered += idle.removeprefix("no matching resource: ").split(", ") if idle else []
        assert sorted(covered) == sorted(p.name for p in policies), (body, text)
        assert [line for line in body if text.count(line) != 1] == [], text
    # No report line on the stack's row of the plan (it showed every one before).
    assert not [line for line in lines if "pulumi:pulumi:Stack gpu-caas-dev create   " in line]


def _config_error(tmp_path: Path, configs: Mapping[str, object], **env: str) -> str:
    saved = {k: os.environ.get(k) for k in env}
    os.environ.update(env)
    try:
        result = preview(
            ROOT,
            "dev",
            tmp_path / "backend",
            policy_pack_configs=_write_configs(tmp_path, configs),
        )
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
    assert result.returncode != 0, result.describe()
    return "\n".join(result.errors) + "\n" + result.stderr


def test_an_unknown_policy_is_named_with_the_valid_ones(tmp_path: Path) -> None:
    """Without this, the engine says `invalid enforcement level ""`."""
    text = _config_error(tmp_path, {"platform-safety": {"helm-chart-exact-versoin": {}}})
    assert "'helm-chart-exact-versoin' is not a policy of pack gpu-caas-platform-safety" in text
    assert "did you mean 'helm-chart-exact-version'?" in text
    assert "its policies: container-toolkit-cve-floor, credentials-only-in-secrets" in text
    assert "platform-safety.json" in text
    assert 'invalid enforcement level ""' not in text


def test_a_misspelled_key_is_named_with_the_policy_keys(tmp_path: Path) -> None:
    """Without this, the policy silently runs on its default."""
    configs = {"tenant-isolation": {"tenant-namespace-guardrails": {"platfromNamespaces": ["x"]}}}
    text = _config_error(tmp_path, configs)
    assert "tenant-namespace-guardrails.platfromNamespaces: unknown key" in text, text
    assert "(did you mean 'platformNamespaces'?)" in text
    assert "tenant-namespace-guardrails takes: enforcementLevel, managementProviders" in text


def test_every_config_files_problems_come_at_once(tmp_path: Path) -> None:
    """The engine stops at the first pack that fails to start; that pack reports the
    problems of both packs' files, so the second mistake does not wait for a fix of the
    first."""
    configs = {
        "platform-safety": {"helm-chart-exact-versoin": {}},
        "tenant-isolation": {"tenant-namespace-guardrails": {"platfromNamespaces": ["x"]}},
    }
    text = _config_error(tmp_path, configs)
    first = "platform-safety.json: 'helm-chart-exact-versoin' is not a policy of pack "
    second = "tenant-isolation.json: tenant-namespace-guardrails.platfromNamespaces: unknown key"
    assert first in text and second in text, text
    assert text.index(first) < text.index(second)


def test_swapped_config_files_are_named(tmp_path: Path) -> None:
    """A config file given with the other pack's `--policy-pack`."""
    swapped = {"platform-safety": VALID_CONFIGS["tenant-isolation"]}
    swapped["tenant-isolation"] = VALID_CONFIGS["platform-safety"]
    text = _config_error(tmp_path, swapped)
    for file, other in (
        ("platform-safety.json", "gpu-caas-tenant-isolation"),
        ("tenant-isolation.json", "gpu-caas-platform-safety"),
    ):
        assert f"{file}: this file looks like the config of pack {other} " in text, text
    assert "paired with the wrong --policy-pack?" in text
    assert "is not a policy of pack" not in text  # one message per file, not per key


def test_the_configure_check_alone_catches_what_reaches_the_pack(tmp_path: Path) -> None:
    """When the command line cannot be read (not Linux, Pulumi Cloud config), the pack's
    `Configure` check names misspelled keys and unknown policies given a level."""
    configs = {
        "tenant-isolation": {
            "no-nodeport-services-in-tenant-namespaces": {"platformNamespace": []},
            "no-such-policy": "advisory",
        }
    }
    text = _config_error(tmp_path, configs, GPU_CAAS_PACK_CONFIG_CLI_CHECK="off")
    assert "no-nodeport-services-in-tenant-namespaces.platformNamespace: unknown key" in text, text
    assert "'no-such-policy' is not a policy of pack gpu-caas-tenant-isolation" in text, text


def test_the_report_is_printed_at_previews_only(tmp_path: Path) -> None:
    """`pulumi up` (its update phase) prints no report; a preview of the same stack does."""
    program = tmp_path / "program"
    program.mkdir()
    (program / "Pulumi.yaml").write_text(
        "name: report-probe\nruntime:\n  name: python\n  options:\n"
        f"    virtualenv: {ROOT / '.venv'}\n",
        encoding="utf-8",
    )
    (program / "__main__.py").write_text('import pulumi\n\npulumi.export("x", 1)\n')
    pack = ROOT / "policies" / "tenant-isolation"
    env = engine_env(tmp_path / "backend")
    (tmp_path / "backend").mkdir()
    pulumi = require_pulumi()

    def run(*args: str) -> str:
        proc = subprocess.run(
            [pulumi, *args, "--stack", "t", "--non-interactive", "--policy-pack", str(pack)],
            cwd=program,
            env=env,
            capture_output=True,
            text=True,
            timeout=300,
            check=False,
        )
        assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
        return proc.stdout

    subprocess.run(
        [pulumi, "stack", "init", "t", "--secrets-provider", "passphrase"],
        cwd=program,
        env=env,
        capture_output=True,
        check=True,
        timeout=120,
    )
    assert "policies over" not in run("up", "--yes", "--skip-preview")
    count = len(tenant_isolation.POLICIES)
    assert f"gpu-caas-tenant-isolation: {count} policies over 1 resource at preview" in run(
        "preview"
    )
