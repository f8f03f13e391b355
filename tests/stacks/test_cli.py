"""`python -m stacks validate|schema`: offline checks with the engine's messages."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from stacks.__main__ import main
from stacks.config.passphrase import PassphraseCrypter

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = [p for p in sorted(ROOT.glob("Pulumi.*.yaml"))]


def test_examples_validate(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["validate", *map(str, EXAMPLES)]) == 0
    out = capsys.readouterr().out.splitlines()
    assert len(out) == len(EXAMPLES) >= 4
    assert all(": ok (" in line for line in out)


def _bad_stack(tmp_path: Path) -> Path:
    document = yaml.safe_load((ROOT / "Pulumi.dev.yaml").read_text())
    # Not on the dev passphrase (a non-example stack on it is an error of its own).
    del document["encryptionsalt"]
    tenant = document["config"]["gpu-caas:tenant"]
    tenant["kubernetes"]["version"] = "1.31"
    tenant["nodeGroups"][1]["hosts"] = ["gpu-0"]
    path = tmp_path / "Pulumi.bad.yaml"
    path.write_text(yaml.safe_dump(document))
    return path


def test_bad_stack_fails_with_one_line_per_problem(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = _bad_stack(tmp_path)
    assert main(["validate", str(path)]) == 1
    err = capsys.readouterr().err.splitlines()
    # file:line:column of the offending key, like a compiler.
    lines = path.read_text().splitlines()
    line = next(i for i, text in enumerate(lines, 1) if "version: '1.31'" in text)
    column = lines[line - 1].index("version") + 1
    assert err == [
        f"{path}:{line}:{column}: gpu-caas:tenant.kubernetes.version: Kubernetes 1.31 is not "
        "supported: gpu-caas needs 1.34 or later, where Dynamic Resource Allocation (DRA) is GA",
    ]


def test_cross_field_problems_are_reported_too(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    document = yaml.safe_load((ROOT / "Pulumi.dev.yaml").read_text())
    document["config"]["gpu-caas:tenant"]["nodeGroups"][1]["hosts"] = ["gpu-0"]
    path = tmp_path / "Pulumi.bad.yaml"
    path.write_text(yaml.safe_dump(document))
    assert main(["validate", str(path)]) == 1
    err = capsys.readouterr().err
    assert "nodeGroups[1].hosts[0]: host 'gpu-0' is already in node group 'train'" in err
    assert "hosts[2].name: worker host 'gpu-1' is in no node group" in err


def test_missing_key_and_unreadable_file(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    empty = tmp_path / "Pulumi.empty.yaml"
    empty.write_text("config: {}\n")
    assert main(["validate", str(empty), str(tmp_path / "nope.yaml")]) == 1
    err = capsys.readouterr().err.splitlines()
    assert err[0] == (
        f"{empty}:1:1: gpu-caas:tenant: is not set; add it under `config:` (see docs/quickstart.md)"
    )
    # The file name once (it was printed twice).
    nope = tmp_path / "nope.yaml"
    assert err[1] == f"{nope}: cannot read the stack file: No such file or directory"


def test_module_entry_point_exits_non_zero_without_traceback(tmp_path: Path) -> None:
    path = _bad_stack(tmp_path)
    result = subprocess.run(
        [sys.executable, "-m", "stacks", "validate", str(path)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 1
    assert "Traceback" not in result.stderr
    assert "Kubernetes 1.31 is not supported" in result.stderr


def test_schema_check(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["schema", "--check"]) == 0
    assert "up to date" in capsys.readouterr().out


def test_help_keeps_the_usage_lines_apart() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "stacks", "--help"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    # Each usage line of the module docstring on its own line, as written.
    for usage in (
        "python -m stacks validate Pulumi.dev.yaml [Pulumi.prod.yaml ...]",
        "python -m stacks schema [--check]",
        "python -m stacks reference [--check]",
    ):
        assert usage in lines, result.stdout


def test_ok_line_counts_in_the_right_number(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["validate", str(ROOT / "Pulumi.gb200-baremetal.yaml")]) == 0
    assert capsys.readouterr().out.rstrip().endswith("9 hosts, 1 node group)")


def test_warnings_say_where_and_name_a_stack_with_another_tenant(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # A copy of the dev stack file for another tenant that kept `name: dev`.
    text = (ROOT / "Pulumi.dev.yaml").read_text()
    document = yaml.safe_load(text)
    del document["encryptionsalt"]
    path = tmp_path / "Pulumi.acme.yaml"
    path.write_text(yaml.safe_dump(document, sort_keys=False))
    assert main(["validate", str(path)]) == 0
    err = capsys.readouterr().err.splitlines()
    line = path.read_text().splitlines().index("    name: dev") + 1
    assert (
        f"{path}:{line}:5: warning: gpu-caas:tenant.name: tenant name 'dev' differs from the "
        "stack name 'acme';"
    ) in "\n".join(err)
    # The exact command, naming the stack of the file.
    assert "(`pulumi config set --stack acme --path 'gpu-caas:tenant.name' acme`)" in "\n".join(err)


def test_a_misspelt_tenant_key_is_suggested(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    text = (ROOT / "Pulumi.dev.yaml").read_text().replace("gpu-caas:tenant:", "gpu-cass:tenant:")
    path = tmp_path / "Pulumi.dev.yaml"
    path.write_text(text)
    assert main(["validate", str(path)]) == 1
    line = text.splitlines().index("  gpu-cass:tenant:") + 1
    assert capsys.readouterr().err.splitlines() == [
        f"{path}:{line}:3: gpu-cass:tenant: unknown config key; did you mean `gpu-caas:tenant`? "
        "(the gpu-caas program reads only `gpu-caas:tenant`)"
    ]


def test_plaintext_secret_fails_validate_at_its_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("PULUMI_CONFIG_PASSPHRASE", raising=False)
    monkeypatch.delenv("PULUMI_CONFIG_PASSPHRASE_FILE", raising=False)
    document = yaml.safe_load((ROOT / "Pulumi.dev.yaml").read_text())
    document["secretsprovider"] = "awskms://alias/acme"  # not the dev passphrase
    del document["encryptionsalt"]
    key = "-----BEGIN OPENSSH PRIVATE KEY-----\nPLAIN-KEY-BODY\n-----END OPENSSH PRIVATE KEY-----"
    document["config"]["gpu-caas:tenant"]["hosts"][1]["ssh"]["privateKey"] = key
    document["config"]["gpu-caas:tenant"]["name"] = "acme"
    path = tmp_path / "Pulumi.acme.yaml"
    path.write_text(yaml.safe_dump(document))
    assert main(["validate", str(path)]) == 1
    captured = capsys.readouterr()
    [line] = captured.err.splitlines()
    where = re.escape(str(path)) + r":\d+:\d+: "
    assert re.match(where + r"gpu-caas:tenant\.hosts\[1\]\.ssh\.privateKey: is plain text", line)
    assert line.endswith(
        "`pulumi config set --stack acme --secret --path 'gpu-caas:tenant.hosts[1].ssh.privateKey' "
        "< <private key file>`"
    )
    assert "PLAIN-KEY-BODY" not in captured.err + captured.out
    assert ": ok (" not in captured.out


def test_errors_are_printed_in_line_order_with_the_stack_named(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Schema errors late in the file and a plain-text secret early in it come from two
    checks; they are printed by line, and every fix command names the file's stack."""
    monkeypatch.delenv("PULUMI_CONFIG_PASSPHRASE", raising=False)
    monkeypatch.delenv("PULUMI_CONFIG_PASSPHRASE_FILE", raising=False)
    document = yaml.safe_load((ROOT / "Pulumi.dev.yaml").read_text())
    document["secretsprovider"] = "awskms://alias/acme"  # not the dev passphrase
    del document["encryptionsalt"]
    tenant = document["config"]["gpu-caas:tenant"]
    tenant["name"] = "acme"
    key = "-----BEGIN OPENSSH PRIVATE KEY-----\nPLAIN-KEY-BODY\n-----END OPENSSH PRIVATE KEY-----"
    tenant["hosts"][2]["ssh"]["privateKey"] = key
    tenant["hosts"][0]["ssh"]["privateKey"] = 7  # not a secret: a schema error
    tenant["nodeGroups"][0]["gpu"] = {"count": "eight"}  # unknown key, later in the file
    path = tmp_path / "Pulumi.acme-prod.yaml"
    path.write_text(yaml.safe_dump(document, sort_keys=False))
    assert main(["validate", str(path)]) == 1
    err = capsys.readouterr().err.splitlines()
    positions = [tuple(map(int, line.split(":")[1:3])) for line in err]
    assert len(err) >= 3 and positions == sorted(positions), err
    # Both the schema's hint for the secret and the plain-text one name the stack.
    hints = [line for line in err if "pulumi config set" in line]
    assert len(hints) == 2, err
    assert all("pulumi config set --stack acme-prod --secret --path" in line for line in hints)
    assert "PLAIN-KEY-BODY" not in "\n".join(err)


def test_the_passphrase_provider_warning_is_one_line_and_can_be_acknowledged(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("PULUMI_CONFIG_PASSPHRASE", raising=False)
    monkeypatch.delenv("PULUMI_CONFIG_PASSPHRASE_FILE", raising=False)
    document = yaml.safe_load((ROOT / "Pulumi.dev.yaml").read_text())
    salt, _ = PassphraseCrypter.new("the acme passphrase")
    document["encryptionsalt"] = salt  # its own (the dev secrets do not decrypt: unchecked)
    document["config"]["gpu-caas:tenant"]["name"] = "acme"
    path = tmp_path / "Pulumi.acme.yaml"
    path.write_text(yaml.safe_dump(document, sort_keys=False))
    assert main(["validate", str(path)]) == 0
    warned = [line for line in capsys.readouterr().err.splitlines() if "secretsprovider" in line]
    assert warned == [
        f"{path}: warning: secretsprovider: stack 'acme' uses the passphrase secrets provider, "
        "as safe as a passphrase shared by every operator: for production use a KMS or Vault "
        "key (docs/quickstart.md#secrets-providers), or accept it with `pulumi config set "
        "--stack acme gpu-caas:secretsProviderAcknowledged passphrase`"
    ]
    # What that command writes: the config key, reviewable in the stack file.
    document["config"]["gpu-caas:secretsProviderAcknowledged"] = "passphrase"
    path.write_text(yaml.safe_dump(document, sort_keys=False))
    assert main(["validate", str(path)]) == 0
    assert "secretsprovider" not in capsys.readouterr().err
    # A wrong value is an error at its line.
    document["config"]["gpu-caas:secretsProviderAcknowledged"] = "yes"
    path.write_text(yaml.safe_dump(document, sort_keys=False))
    assert main(["validate", str(path)]) == 1
    line = path.read_text().splitlines().index("  gpu-caas:secretsProviderAcknowledged: 'yes'") + 1
    assert (
        f"{path}:{line}:3: gpu-caas:secretsProviderAcknowledged: must be `passphrase`"
        in capsys.readouterr().err
    )
