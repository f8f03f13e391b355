"""`stacks.run()`: config errors stop the program before any resource, without a traceback."""

from __future__ import annotations

import copy
import json
import logging
from pathlib import Path

import pytest
import yaml

import stacks
from stacks.config.example_stacks import DEV_PASSPHRASE
from stacks.config.passphrase import PassphraseCrypter
from tests.components.cluster.helpers import command_outputs
from tests.stacks.samples import SECRETS, sample
from tests.support.mocks import RecordingMocks, run


def test_config_errors_are_logged_one_line_each_and_exit_32(
    caplog: pytest.LogCaptureFixture,
) -> None:
    data = sample("tenant-managed")
    data["kubernetes"]["version"] = "1.29"
    data["nodeGroups"][1]["hosts"] = ["gpu-0"]
    mocks = RecordingMocks()
    caplog.set_level(logging.ERROR)
    with pytest.raises(SystemExit) as exit_:
        run(stacks.run, mocks, config={"gpu-caas:tenant": json.dumps(data)})
    assert exit_.value.code == stacks.EXIT_REPORTED == 32
    assert mocks.resources == []
    errors = [r.getMessage() for r in caplog.records if r.levelno == logging.ERROR]
    assert errors == [
        "gpu-caas:tenant.kubernetes.version: Kubernetes 1.29 is not supported: gpu-caas needs "
        "1.34 or later, where Dynamic Resource Allocation (DRA) is GA",
    ]
    assert not any("Traceback" in e for e in errors)


def test_missing_config_is_reported(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.ERROR)
    with pytest.raises(SystemExit):
        run(stacks.run, RecordingMocks())
    assert [r.getMessage() for r in caplog.records if r.levelno == logging.ERROR] == [
        "gpu-caas:tenant: is not set; see docs/quickstart.md"
    ]


def test_valid_config_deploys_and_exports(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("stacks.platform.install", lambda handle, config: {})
    exported: dict[str, object] = {}
    monkeypatch.setattr("pulumi.export", lambda key, value: exported.__setitem__(key, value))
    mocks = RecordingMocks(command_outputs)
    run(stacks.run, mocks, config={"gpu-caas:tenant": json.dumps(sample("tenant-managed"))})
    assert {"kubeconfig", "apiEndpoint", "kubernetesVersion", "mirrorList"} <= set(exported)
    assert mocks.one("gpu-caas:cluster:TenantCluster", "acme")
    for secret in SECRETS:
        assert mocks.leaks(secret) == []


def test_a_tenant_named_unlike_its_stack_is_warned(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setattr("stacks.platform.install", lambda handle, config: {})
    monkeypatch.setattr("pulumi.export", lambda key, value: None)
    caplog.set_level(logging.WARNING)
    config = {"gpu-caas:tenant": json.dumps(sample("tenant-managed"))}  # name: acme
    run(stacks.run, RecordingMocks(command_outputs), config=config, stack="dev")
    warned = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert any(
        w.startswith("gpu-caas:tenant.name: tenant name 'acme' differs from the stack name 'dev';")
        # The exact command, naming the stack: `make preview` may have selected another.
        and "(`pulumi config set --stack dev --path 'gpu-caas:tenant.name' dev`)" in w
        for w in warned
    ), warned
    caplog.clear()
    run(stacks.run, RecordingMocks(command_outputs), config=config, stack="acme-prod")
    assert not any("differs from the stack name" in r.getMessage() for r in caplog.records)


def test_a_misspelt_tenant_key_is_suggested(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.ERROR)
    mocks = RecordingMocks()
    with pytest.raises(SystemExit):
        run(stacks.run, mocks, config={"gpu-cass:tenant": json.dumps(sample("tenant-managed"))})
    assert mocks.resources == []
    assert [r.getMessage() for r in caplog.records if r.levelno == logging.ERROR] == [
        "gpu-cass:tenant: unknown config key; did you mean `gpu-caas:tenant`? (the gpu-caas "
        "program reads only `gpu-caas:tenant`)"
    ]


def test_the_passphrase_provider_acknowledgement_is_a_known_key(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """`gpu-caas:secretsProviderAcknowledged` (read by validate) is not an unknown key to
    the program."""
    monkeypatch.setattr("stacks.platform.install", lambda handle, config: {})
    monkeypatch.setattr("pulumi.export", lambda key, value: None)
    caplog.set_level(logging.ERROR)
    config = {
        "gpu-caas:tenant": json.dumps(sample("tenant-managed")),
        "gpu-caas:secretsProviderAcknowledged": "passphrase",
    }
    mocks = RecordingMocks(command_outputs)
    run(stacks.run, mocks, config=config, stack="acme")
    assert mocks.one("gpu-caas:cluster:TenantCluster", "acme")
    assert [r for r in caplog.records if r.levelno >= logging.ERROR] == []


def _refused(
    caplog: pytest.LogCaptureFixture, data: dict[str, object], **options: object
) -> list[str]:
    """Run the program on `data`; assert it stops before any resource; its error lines."""
    mocks = RecordingMocks()
    caplog.set_level(logging.ERROR)
    with pytest.raises(SystemExit) as exit_:
        run(stacks.run, mocks, config={"gpu-caas:tenant": json.dumps(data)}, **options)  # type: ignore[arg-type]
    assert exit_.value.code == stacks.EXIT_REPORTED
    assert mocks.resources == []
    errors = [r.getMessage() for r in caplog.records if r.levelno == logging.ERROR]
    for secret in SECRETS:
        assert not any(secret in e for e in errors)
    return errors


def test_plaintext_secrets_stop_the_program(caplog: pytest.LogCaptureFixture) -> None:
    """Without the stack file, a tenant the engine does not mark secret holds its secrets
    in plain text."""
    errors = _refused(caplog, sample("tenant-managed"), secret_keys=[])
    assert len(errors) == 3
    assert errors[0] == (
        "gpu-caas:tenant.hosts[0].ssh.privateKey: is plain text, not a Pulumi secret: it has "
        "been readable in the stack file (and in git history, if the file was committed), so "
        "treat it as leaked: rotate it (a new key, the old one revoked) and set the new one "
        "with `pulumi config set --stack test --secret --path "
        "'gpu-caas:tenant.hosts[0].ssh.privateKey' < <private key file>`"
    )


def test_a_missing_secret_names_the_stack_in_its_fix(caplog: pytest.LogCaptureFixture) -> None:
    data = sample("tenant-managed")
    del data["hosts"][1]["ssh"]["privateKey"]
    errors = _refused(caplog, data, stack="acme-prod")
    assert errors[0].startswith(
        "gpu-caas:tenant.hosts[1].ssh.privateKey: is required; set it with `pulumi config set "
        "--stack acme-prod --secret --path 'gpu-caas:tenant.hosts[1].ssh.privateKey' < "
        "<private key file>`"
    )


def test_secrets_of_the_wrong_shape_stop_the_program(caplog: pytest.LogCaptureFixture) -> None:
    data = sample("isv-managed")
    data["controlPlane"]["external"]["kubeconfig"] = "/home/me/.kube/config"
    errors = _refused(caplog, data)
    assert errors == [
        "gpu-caas:tenant.controlPlane.external.kubeconfig: is a file path, not the kubeconfig: "
        "set the file's contents; it must be a kubeconfig (the file's YAML contents): set it "
        "with `pulumi config set --stack test --secret --path 'gpu-caas:tenant.controlPlane."
        "external.kubeconfig' < <kubeconfig file>`"
    ]
    assert not any("/home/me" in e for e in errors)


def test_a_non_example_stack_on_the_dev_passphrase_is_refused(
    caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    data = sample("tenant-managed")
    salt, crypter = PassphraseCrypter.new(DEV_PASSPHRASE)
    encrypted = copy.deepcopy(data)
    for host in encrypted["hosts"]:
        host["ssh"]["privateKey"] = {"secure": crypter.encrypt(host["ssh"]["privateKey"])}
    stack_file = {"encryptionsalt": salt, "config": {"gpu-caas:tenant": encrypted}}
    (tmp_path / "Pulumi.test.yaml").write_text(yaml.safe_dump(stack_file))
    monkeypatch.chdir(tmp_path)  # the project directory (mocks have no root directory)
    monkeypatch.setenv("PULUMI_CONFIG_PASSPHRASE", DEV_PASSPHRASE)
    monkeypatch.delenv("GPU_CAAS_ALLOW_DEV_PASSPHRASE", raising=False)
    [error] = _refused(caplog, data)
    assert error.startswith(
        "encryptionsalt: stack 'test' is encrypted with the public dev passphrase"
    )
    assert error.endswith("for a throwaway test stack only, set GPU_CAAS_ALLOW_DEV_PASSPHRASE=1")
    # The opt-in lets a throwaway stack run.
    monkeypatch.setattr("stacks.platform.install", lambda handle, config: {})
    monkeypatch.setattr("pulumi.export", lambda key, value: None)
    monkeypatch.setenv("GPU_CAAS_ALLOW_DEV_PASSPHRASE", "1")
    mocks = RecordingMocks(command_outputs)
    run(stacks.run, mocks, config={"gpu-caas:tenant": json.dumps(data)})
    assert mocks.one("gpu-caas:cluster:TenantCluster", "acme")


@pytest.mark.parametrize("source", ["variable", "file"])
def test_a_stack_on_an_empty_passphrase_is_refused(
    caplog: pytest.LogCaptureFixture,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
    source: str,
) -> None:
    """`pulumi stack change-secrets-provider <stack> passphrase` without a terminal re-keys
    a stack to the empty passphrase; the engine then runs the program with it."""
    data = sample("tenant-managed")
    salt, crypter = PassphraseCrypter.new("")
    encrypted = copy.deepcopy(data)
    for host in encrypted["hosts"]:
        host["ssh"]["privateKey"] = {"secure": crypter.encrypt(host["ssh"]["privateKey"])}
    stack_file = {"encryptionsalt": salt, "config": {"gpu-caas:tenant": encrypted}}
    (tmp_path / "Pulumi.test.yaml").write_text(yaml.safe_dump(stack_file))
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("PULUMI_CONFIG_PASSPHRASE", raising=False)
    monkeypatch.delenv("PULUMI_CONFIG_PASSPHRASE_FILE", raising=False)
    if source == "variable":
        monkeypatch.setenv("PULUMI_CONFIG_PASSPHRASE", "")
    else:
        (tmp_path / "passphrase").write_text("")
        monkeypatch.setenv("PULUMI_CONFIG_PASSPHRASE_FILE", str(tmp_path / "passphrase"))
    monkeypatch.setenv("GPU_CAAS_ALLOW_DEV_PASSPHRASE", "1")  # no opt-in for this one
    [error] = _refused(caplog, data)
    assert error.startswith(
        "encryptionsalt: stack 'test' is encrypted with an empty passphrase (an empty "
        "PULUMI_CONFIG_PASSPHRASE or passphrase file, or `pulumi stack change-secrets-provider "
        "passphrase` run without a terminal), so anyone can read its secrets; re-key it to a "
        "passphrase of your own with `PULUMI_CONFIG_PASSPHRASE='' pulumi stack "
        "change-secrets-provider --stack test passphrase < <new passphrase file>`"
    )
