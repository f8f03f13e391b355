"""What README.md, docs/quickstart.md and docs/policies.md point at exists and is true.

Every repository path, link (and its anchor) and `make` target they mention exists; the
policy pack config examples they use name real policies and config keys of the right
types; the config errors they show are what `python -m stacks validate` prints. The
runnable blocks themselves run in test_docs_commands.py and test_quickstart.py.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import jsonschema
import pytest

from policies.gpu_caas_policies import defaults
from policies.gpu_caas_policies.platform_safety import POLICIES as PLATFORM_SAFETY
from policies.gpu_caas_policies.tenant_isolation import POLICIES as TENANT_ISOLATION
from stacks.__main__ import main as stacks_cli
from tests.docs.doc_blocks import (
    DOCS,
    ROOT,
    anchors,
    blocks,
    links,
    make_targets_mentioned,
    makefile_targets,
    mentioned_paths,
    runnable_blocks,
)

CREATED_BY_THE_DOCS = {"Pulumi.acme.yaml", "Pulumi.broken.yaml"}
"""Files the documented commands create (quickstart: `cp ... Pulumi.acme.yaml`; the
validate example's broken copy)."""

PACKS = {"tenant-isolation": TENANT_ISOLATION, "platform-safety": PLATFORM_SAFETY}
ENFORCEMENT_LEVELS = {"advisory", "mandatory", "remediate", "disabled"}
EXAMPLE_CONFIGS = sorted((ROOT / "policies/config").glob("*.json"))


def _exists(path: str) -> bool:
    pattern = re.sub(r"<[^>]+>", "*", path.rstrip("/"))
    return any(ROOT.glob(pattern)) if "*" in pattern else (ROOT / pattern).exists()


@pytest.mark.parametrize("doc", DOCS)
def test_every_path_the_doc_mentions_exists(doc: str) -> None:
    missing = sorted(
        p for p in mentioned_paths(doc) if p not in CREATED_BY_THE_DOCS and not _exists(p)
    )
    assert not missing, f"{doc} mentions paths that do not exist: {missing}"


@pytest.mark.parametrize("doc", DOCS)
def test_every_link_and_anchor_resolves(doc: str) -> None:
    base = (ROOT / doc).parent
    broken = []
    for target in sorted(links(doc)):
        path, _, anchor = target.partition("#")
        resolved = (base / path).resolve()
        if not resolved.exists():
            broken.append(f"{target}: no such file")
        elif anchor and anchor not in anchors(resolved):
            broken.append(f"{target}: no heading with anchor #{anchor} in {path}")
    own = anchors(ROOT / doc)
    text = (ROOT / doc).read_text(encoding="utf-8")
    broken += [
        f"#{a}: no such heading"
        for a in sorted(set(re.findall(r"\]\(#([^)\s]+)\)", text)))
        if a not in own
    ]
    assert not broken, f"{doc}: {broken}"


@pytest.mark.parametrize("doc", DOCS)
def test_every_make_target_the_doc_mentions_exists(doc: str) -> None:
    unknown = sorted(make_targets_mentioned(doc) - makefile_targets())
    assert not unknown, f"{doc} tells the reader to run make targets the Makefile lacks: {unknown}"


@pytest.mark.parametrize("doc", DOCS)
def test_documented_test_commands_run_with_the_tools_on_path(doc: str) -> None:
    """A documented `pytest` command runs after `. scripts/env.sh` in its block (or via
    `make`): tests that run the Pulumi or Kyverno CLI fail without them on PATH, and
    `.venv/bin/python` alone does not put them there."""
    wrong = []
    for block in blocks(doc):
        if block.lang not in ("sh", "bash", "shell", "console"):
            continue
        sourced = False
        for number, line in enumerate(block.text.splitlines(), block.line + 1):
            command = line.split("#", 1)[0]
            if re.search(r"(^|[;&|]\s*|\s)\. scripts/env\.sh", command):
                sourced = True
            if "pytest" in command and not command.lstrip().startswith("make ") and not sourced:
                wrong.append(f"{doc}:{number}: {line.strip()}")
    assert not wrong, f"pytest without `. scripts/env.sh` first: {wrong}"


def test_the_runnable_blocks_are_marked() -> None:
    """The engine tests run exactly these blocks; a marker lost in an edit would make
    them test nothing."""
    counts = {doc: len(runnable_blocks(doc)) for doc in DOCS}
    assert counts == {"README.md": 1, "docs/quickstart.md": 3, "docs/policies.md": 1}, counts


# --------------------------------------------------------------------------- #
# Policy pack configuration examples
# --------------------------------------------------------------------------- #


def _config_problems(config: dict[str, Any], policies: list[Any]) -> list[str]:
    """Unknown policy names, unknown keys and wrongly typed values in a pack config."""
    by_name = {p.name: p for p in policies}
    problems = []
    for name, settings in config.items():
        policy = by_name.get(name)
        if policy is None:
            problems.append(f"{name}: no such policy (known: {sorted(by_name)})")
            continue
        if isinstance(settings, str):
            if settings not in ENFORCEMENT_LEVELS:
                problems.append(f"{name}: enforcement level {settings!r}")
            continue
        properties = dict(policy.config_schema.properties) if policy.config_schema else {}
        for key, value in settings.items():
            if key == "enforcementLevel":
                if value not in ENFORCEMENT_LEVELS:
                    problems.append(f"{name}.{key}: {value!r} is not one of {ENFORCEMENT_LEVELS}")
                continue
            if key not in properties:
                problems.append(f"{name}.{key}: no such config key (known: {sorted(properties)})")
                continue
            try:
                jsonschema.validate(value, properties[key])
            except jsonschema.ValidationError as error:
                problems.append(f"{name}.{key}: {error.message}")
    return problems


@pytest.mark.parametrize("path", EXAMPLE_CONFIGS, ids=lambda p: p.name)
def test_example_pack_config_names_real_policies_and_keys(path: Path) -> None:
    pack = path.stem
    assert pack in PACKS, f"{path.name}: name it after a pack directory ({sorted(PACKS)})"
    config = json.loads(path.read_text(encoding="utf-8"))
    assert config, f"{path.name} configures nothing"
    problems = _config_problems(config, PACKS[pack])
    assert not problems, f"{path.name}: {problems}"


def test_both_packs_have_an_example_config() -> None:
    assert {p.stem for p in EXAMPLE_CONFIGS} == set(PACKS)


@pytest.mark.parametrize("path", EXAMPLE_CONFIGS, ids=lambda p: p.name)
def test_example_pack_config_keeps_the_defaults_it_extends(path: Path) -> None:
    """A list in pack config replaces the default; the examples add to the whole default
    list (as docs/policies.md says), so the example stacks still pass with them."""
    defaults_of = {
        "platformNamespaces": defaults.PLATFORM_NAMESPACES,
        "privilegedNamespaces": defaults.PRIVILEGED_NAMESPACES,
        "allowedChartRepositories": defaults.ALLOWED_CHART_REPOSITORIES,
        "managementProviders": defaults.MANAGEMENT_PROVIDERS,
    }
    config = json.loads(path.read_text(encoding="utf-8"))
    dropped = {
        f"{name}.{key}": sorted(set(defaults_of[key]) - set(value))
        for name, settings in config.items()
        for key, value in settings.items()
        if key in defaults_of and set(defaults_of[key]) - set(value)
    }
    assert not dropped, f"{path.name} drops defaults: {dropped}"


def test_json_examples_in_policies_md_name_real_policies_and_keys() -> None:
    json_blocks = [b for b in blocks("docs/policies.md") if b.lang == "json"]
    assert json_blocks
    every_policy = [*TENANT_ISOLATION, *PLATFORM_SAFETY]
    for block in json_blocks:
        problems = _config_problems(json.loads(block.text), every_policy)
        assert not problems, f"docs/policies.md:{block.line}: {problems}"


# --------------------------------------------------------------------------- #
# Config errors shown in the docs
# --------------------------------------------------------------------------- #


def _broken_dev_output(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> list[str]:
    """`python -m stacks validate Pulumi.broken.yaml` for the copy of Pulumi.dev.yaml the
    quickstart describes, edited as a user would by hand (so line numbers agree): without
    its `encryptionsalt`, `gpu-0` added to the `notebooks` node group, `ha: true`."""
    text = (ROOT / "Pulumi.dev.yaml").read_text(encoding="utf-8")
    edits = [
        (r"^encryptionsalt: .*\n", ""),
        (r"^(\s+)ha: false$", r"\1ha: true"),
        (r"^(\s+)- gpu-1$", r"\1- gpu-1\n\1- gpu-0"),
    ]
    for pattern, replacement in edits:
        text, count = re.subn(pattern, replacement, text, count=1, flags=re.M)
        assert count == 1, f"Pulumi.dev.yaml changed: no line matches {pattern!r}"
    (tmp_path / "Pulumi.broken.yaml").write_text(text, encoding="utf-8")
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("PULUMI_CONFIG_PASSPHRASE", raising=False)
    monkeypatch.delenv("PULUMI_CONFIG_PASSPHRASE_FILE", raising=False)
    assert stacks_cli(["validate", "Pulumi.broken.yaml"]) == 1
    return capsys.readouterr().err.splitlines()


def test_quickstart_shows_what_validate_prints(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    shown = [
        b
        for b in blocks("docs/quickstart.md")
        if b.marker is not None and "python -m stacks validate Pulumi.broken.yaml" in b.marker
    ]
    assert len(shown) == 1, "the quickstart's validate output example lost its marker"
    assert shown[0].text.splitlines() == _broken_dev_output(tmp_path, monkeypatch, capsys)


def test_readme_error_line_is_what_validate_prints(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    match = re.search(r"^```\n(gpu-caas:tenant\..+)\n```$", readme, flags=re.M)
    assert match, "README's config error example is gone"
    printed = _broken_dev_output(tmp_path, monkeypatch, capsys)
    assert any(line.endswith(f": {match.group(1)}") for line in printed), printed
