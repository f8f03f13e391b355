"""`stack-secrets-encrypted`: the pack reads the stack file and refuses plain-text secrets.

The validator is called directly; the engine's `ConfigureStack` values (stack name,
config, secret keys) are simulated by patching `stack_config`. One real-engine preview
is in tests/engine/test_secrets.py.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import yaml

from policies.gpu_caas_policies import platform_safety as ps
from policies.gpu_caas_policies import stack_config, stack_secrets
from policies.gpu_caas_policies.stack_secrets import (
    STACK_TYPE,
    plaintext_secret_problems,
    stack_secrets_encrypted,
)
from stacks.config.passphrase import PassphraseCrypter
from tests.policies.helpers import run_resource
from tests.stacks.samples import PRIVATE_KEY, sample

FIX = (
    "gpu-caas:tenant.hosts[0].ssh.privateKey: is plain text, not a Pulumi secret: it has been "
    "readable in the stack file (and in git history, if the file was committed), so treat it "
    "as leaked: rotate it (a new key, the old one revoked) and set the new one with `pulumi "
    "config set --stack acme --secret --path 'gpu-caas:tenant.hosts[0].ssh.privateKey' < "
    "<private key file>`"
)


def _write_stack_file(directory: Path, tenant: dict[str, Any], plain_host: int | None) -> None:
    """`Pulumi.acme.yaml` with every private key encrypted but host `plain_host`'s."""
    salt, crypter = PassphraseCrypter.new("own")
    stored = json.loads(json.dumps(tenant))
    for index, host in enumerate(stored["hosts"]):
        if index != plain_host:
            host["ssh"]["privateKey"] = {"secure": crypter.encrypt(host["ssh"]["privateKey"])}
    document = {"encryptionsalt": salt, "config": {"gpu-caas:tenant": stored}}
    (directory / "Pulumi.acme.yaml").write_text(yaml.safe_dump(document))


def test_the_policy_is_in_the_pack_and_mandatory() -> None:
    assert stack_secrets_encrypted in ps.POLICIES
    assert stack_secrets_encrypted.name == "stack-secrets-encrypted"


@pytest.mark.parametrize(("plain_host", "expected"), [(None, []), (0, [FIX])])
def test_plaintext_in_the_stack_file(
    tmp_path: Path, plain_host: int | None, expected: list[str]
) -> None:
    tenant = sample("tenant-managed")
    _write_stack_file(tmp_path, tenant, plain_host)
    # The engine marks the whole tenant secret either way (other keys are `secure:`).
    problems = plaintext_secret_problems("acme", tenant, frozenset({"gpu-caas:tenant"}), [tmp_path])
    assert [str(p) for p in problems] == expected
    assert not any(PRIVATE_KEY.splitlines()[4] in str(p) for p in problems)


def test_without_the_stack_file_the_engines_secret_marks_decide(tmp_path: Path) -> None:
    tenant = sample("tenant-managed")
    assert plaintext_secret_problems("acme", tenant, frozenset({"gpu-caas:tenant"}), []) == []
    problems = plaintext_secret_problems("acme", tenant, frozenset(), [tmp_path])
    assert [p.path for p in problems] == [
        f"gpu-caas:tenant.hosts[{i}].ssh.privateKey" for i in range(3)
    ]


def test_the_validator_reports_on_the_root_stack_resource_only(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    tenant = sample("tenant-managed")
    _write_stack_file(tmp_path, tenant, plain_host=0)
    monkeypatch.setattr(stack_secrets, "stack_file_directories", lambda: [tmp_path])
    monkeypatch.setattr(stack_config, "configured_stack", lambda: "acme")
    monkeypatch.setattr(stack_config, "stack_config", lambda: tenant)
    monkeypatch.setattr(stack_config, "config_secret_keys", lambda: frozenset({"gpu-caas:tenant"}))
    assert run_resource(stack_secrets_encrypted, STACK_TYPE, {}) == [FIX]
    assert run_resource(stack_secrets_encrypted, "kubernetes:core/v1:Namespace", {}) == []


def test_outside_the_engine_the_validator_reports_nothing() -> None:
    """Unit tests of other rules build args without ConfigureStack: nothing to read."""
    assert stack_config.configured_stack() is None or stack_config.stack_config() is None
    assert run_resource(stack_secrets_encrypted, STACK_TYPE, {}) == []
