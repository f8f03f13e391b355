"""`stacks.mirror_list` and `python -m stacks mirror-list`: the full list offline, the
short `mirrorList` stack output."""

from __future__ import annotations

import hashlib
import io
import json
from pathlib import Path
from typing import Any

import pytest

import stacks
from components.mirrors import MirrorList, Mirrors
from components.versions import HelmChart
from stacks.__main__ import main
from stacks.config import load_stack_file, parse_tenant
from stacks.config.secret import Secret
from stacks.mirror_list import (
    canonical_json,
    digest,
    mirror_list_output,
    offline_mirror_list,
    render_json,
    render_text,
    run_command,
    stack_file_argument,
    stack_name_of,
)
from tests.components.cluster.helpers import command_outputs
from tests.stacks.samples import SAMPLES, SECRETS, sample
from tests.support.mocks import RecordingMocks, run

ROOT = Path(__file__).resolve().parents[2]


def _listing() -> MirrorList:
    listing = MirrorList()
    mirrors = Mirrors(
        chart_repositories={"https://helm.ngc.nvidia.com/nvidia": "https://mirror.example/ngc"},
        image_registries={"nvcr.io": "mirror.example/nvcr"},
    )
    listing.add_chart(
        HelmChart("https://helm.ngc.nvidia.com/nvidia", "gpu-operator", "v25.3.1"), mirrors
    )
    listing.add_chart(HelmChart("https://kyverno.github.io/kyverno", "kyverno", "3.9.0"), mirrors)
    listing.add_images(["nvcr.io/nvidia/driver:570", "kyverno/kyverno:v1.15.0"], mirrors)
    return listing


def test_render_text_lists_upstream_and_mirror_then_the_digest() -> None:
    listing = _listing()
    assert render_text(listing) == (
        "charts (2):\n"
        "  https://kyverno.github.io/kyverno kyverno 3.9.0\n"
        "  https://helm.ngc.nvidia.com/nvidia gpu-operator v25.3.1 -> https://mirror.example/ngc\n"
        "images (2):\n"
        "  docker.io/kyverno/kyverno:v1.15.0\n"
        "  nvcr.io/nvidia/driver:570 -> mirror.example/nvcr/nvidia/driver:570\n"
        f"sha256: {digest(listing)}\n"
    )


def test_render_json_is_the_former_full_output() -> None:
    listing = _listing()
    assert json.loads(render_json(listing)) == listing.to_output()


def test_digest_is_sha256_of_the_canonical_json() -> None:
    listing = _listing()
    text = canonical_json(listing)
    assert json.loads(text) == listing.to_output()
    assert " " not in text.replace("gpu-operator v", "")  # compact separators
    assert digest(listing) == hashlib.sha256(text.encode()).hexdigest()
    assert digest(MirrorList()) == hashlib.sha256(b'{"charts":[],"images":[]}').hexdigest()


def test_short_output_has_counts_digest_and_the_command() -> None:
    listing = _listing()
    assert mirror_list_output(listing, "dev") == {
        "charts": 2,
        "images": 2,
        "sha256": digest(listing),
        "fullList": "python -m stacks mirror-list Pulumi.dev.yaml",
    }


@pytest.mark.parametrize(
    ("name", "stack"),
    [("Pulumi.dev.yaml", "dev"), ("Pulumi.gb200-baremetal.yaml", "gb200-baremetal")],
)
def test_stack_name_of(name: str, stack: str) -> None:
    assert stack_name_of(Path("/x") / name) == stack


@pytest.mark.parametrize("name", ["Pulumi.yaml", "dev.yaml", "Pulumi.dev.yml"])
def test_stack_name_of_refuses_other_files(name: str) -> None:
    with pytest.raises(ValueError, match="not a stack file; give Pulumi.<stack>.yaml"):
        stack_name_of(Path(name))


@pytest.mark.parametrize("flavor", sorted(SAMPLES))
def test_offline_list_is_the_one_the_program_exports(
    flavor: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """With secrets encrypted (unknown during the run, as the command has them) and
    with secrets known (`stacks.run`, the program's steps as the engine runs them), the list is the
    same. tests/engine/test_mirror_list.py compares with the real engine."""
    data = sample(flavor)
    encrypted = _encrypt_secrets(data)
    offline = offline_mirror_list(parse_tenant(encrypted), "test")
    assert len(offline.charts) >= 5 and len(offline.images) >= 10, flavor

    exported: dict[str, object] = {}
    monkeypatch.setattr("pulumi.export", lambda key, value: exported.__setitem__(key, value))
    run(
        stacks.run,
        RecordingMocks(command_outputs),
        preview=True,
        config={"gpu-caas:tenant": json.dumps(data)},
    )
    assert exported["mirrorList"] == mirror_list_output(offline, "test")


def _encrypt_secrets(value: Any) -> Any:
    """`value` with every sample secret replaced by a `{"secure": ...}` placeholder, as
    a stack file holds it."""
    if isinstance(value, dict):
        return {k: _encrypt_secrets(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_encrypt_secrets(v) for v in value]
    if isinstance(value, str) and any(secret in value for secret in SECRETS):
        return {"secure": "v1:placeholder"}
    return value


def test_secrets_stay_encrypted_and_the_patch_is_undone() -> None:
    original = Secret.output
    offline_mirror_list(load_stack_file(ROOT / "Pulumi.dev.yaml"), "dev")
    assert Secret.output is original
    with pytest.raises(Exception, match="still encrypted"):
        Secret(None, encrypted="v1:abc").output()


def test_command_prints_the_list(capsys: pytest.CaptureFixture[str]) -> None:
    path = ROOT / "Pulumi.dev.yaml"
    assert main(["mirror-list", str(path)]) == 0
    text = capsys.readouterr().out
    listing = offline_mirror_list(load_stack_file(path), "dev")
    assert text == render_text(listing)
    assert "oci://ghcr.io/nvidia/kai-scheduler kai-scheduler" in text
    assert main(["mirror-list", str(path), "--json"]) == 0
    assert json.loads(capsys.readouterr().out) == listing.to_output()


def test_command_refuses_a_file_that_is_not_a_stack_file() -> None:
    err = io.StringIO()
    assert run_command(ROOT / "Pulumi.yaml", as_json=False, out=io.StringIO(), err=err) == 2
    assert "not a stack file" in err.getvalue()


def test_command_reports_config_errors_by_key_path(tmp_path: Path) -> None:
    bad = tmp_path / "Pulumi.bad.yaml"
    bad.write_text("config:\n  gpu-caas:tenant:\n    name: Bad_Name\n", encoding="utf-8")
    out, err = io.StringIO(), io.StringIO()
    assert run_command(bad, as_json=False, out=out, err=err) == 1
    assert out.getvalue() == ""
    assert "gpu-caas:tenant.kubernetes: is required" in err.getvalue()
    assert all(line.startswith(str(bad)) for line in err.getvalue().splitlines())


@pytest.mark.parametrize(
    ("project", "expected"),
    [
        (".", "Pulumi.dev.yaml"),  # the repository's own project
        (".sandbox/pulumi/project", ".sandbox/pulumi/project/Pulumi.dev.yaml"),  # make sandbox
        ("/elsewhere/project", "Pulumi.dev.yaml"),
    ],
)
def test_full_list_names_the_stack_file_from_the_repository_root(
    project: str, expected: str
) -> None:
    directory = Path(project) if project.startswith("/") else ROOT / project
    assert stack_file_argument("dev", directory, ROOT) == expected


def test_a_sandbox_stack_file_named_from_the_root_gets_its_path(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # `make sandbox` keeps the stack file in .sandbox/pulumi/project/; its stack output
    # names that path, and the bare name given from the root gets the path in the error.
    import stacks.mirror_list as mirror_list

    sandbox = tmp_path / ".sandbox" / "pulumi" / "project"
    sandbox.mkdir(parents=True)
    (sandbox / "Pulumi.sandbox-dev.yaml").write_text((ROOT / "Pulumi.dev.yaml").read_text())
    monkeypatch.setattr(mirror_list, "REPO_ROOT", tmp_path)
    monkeypatch.chdir(tmp_path)
    assert stack_file_argument("sandbox-dev", sandbox) == (
        ".sandbox/pulumi/project/Pulumi.sandbox-dev.yaml"
    )
    err = io.StringIO()
    assert run_command(Path("Pulumi.sandbox-dev.yaml"), False, io.StringIO(), err) == 2
    assert err.getvalue() == (
        "Pulumi.sandbox-dev.yaml: no such file; the sandbox's stack file is "
        ".sandbox/pulumi/project/Pulumi.sandbox-dev.yaml (from the repository root: python -m "
        "stacks mirror-list .sandbox/pulumi/project/Pulumi.sandbox-dev.yaml)\n"
    )
