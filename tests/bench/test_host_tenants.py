"""A generated 2048-host tenant validates offline, and what the engine hands the program
and the policy packs stays small: the stack config does not grow with the hosts.

The real-engine preview of the same stack with both packs runs in `make bench`
(bench/hosts_scaling.py: minutes of engine time, beyond the test budget)."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
import yaml

from bench import host_tenants
from policies.gpu_caas_policies import stack_config
from policies.gpu_caas_policies.stack_secrets import plaintext_secret_problems
from stacks.config import load_stack_file, parse_tenant
from stacks.config.engine_env_limit import MAX_ARG_STRLEN
from stacks.config.errors import ROOT
from tests.stacks.samples import PRIVATE_KEY


def _project(tmp_path: Path, gpu_hosts: int) -> Path:
    (tmp_path / "Pulumi.yaml").write_text("name: gpu-caas\nruntime: python\n")
    (tmp_path / host_tenants.INVENTORY_FILE).write_text(
        yaml.safe_dump(host_tenants.inventory_document(gpu_hosts), sort_keys=False)
    )
    tenant = host_tenants.with_placeholder_key(host_tenants.tenant_config(gpu_hosts))
    stack_file = tmp_path / "Pulumi.bench.yaml"
    stack_file.write_text(yaml.safe_dump({"config": {ROOT: tenant}}, sort_keys=False))
    return stack_file


def test_a_2048_host_inventory_validates_in_linear_time(tmp_path: Path) -> None:
    stack_file = _project(tmp_path, 2048)
    load_stack_file(stack_file)  # warm imports
    start = time.process_time()
    config = load_stack_file(stack_file)
    seconds = time.process_time() - start
    assert len(config.hosts) == 2048 + host_tenants.CONTROL_PLANE_HOSTS
    assert len(config.node_groups) == 2048 // host_tenants.GROUP_SIZE
    assert all(len(group.hosts) == host_tenants.GROUP_SIZE for group in config.node_groups)
    key = config.ssh_keys[0].private_key
    assert all(host.ssh.key() is key and host.ssh.user == "ubuntu" for host in config.hosts)
    # Measured ~0.5 s of CPU (most of it the YAML parser); a rule comparing all pairs of
    # 2048 hosts would take far longer.
    assert seconds < 5, f"validating 2048 hosts took {seconds:.1f} s of CPU"


def test_validate_cli_accepts_the_2048_host_stack(tmp_path: Path) -> None:
    stack_file = _project(tmp_path, 2048)
    result = subprocess.run(
        [sys.executable, "-m", "stacks", "validate", str(stack_file)],
        capture_output=True,
        text=True,
        check=False,
        cwd=Path(__file__).resolve().parents[2],
        timeout=300,
    )
    assert result.returncode == 0, result.stderr
    assert "2051 hosts, 128 node groups" in result.stdout


def _engine_config(gpu_hosts: int) -> str:
    """`gpu-caas:tenant` as the engine sends it (JSON, the secret decrypted)."""
    tenant: dict[str, Any] = host_tenants.tenant_config(gpu_hosts)
    tenant["sshKeys"][0]["privateKey"] = PRIVATE_KEY
    return json.dumps(tenant)


def test_the_config_the_engine_passes_does_not_grow_with_the_hosts() -> None:
    small, large = _engine_config(16), _engine_config(2048)
    # Only the node-group list grows (one `{"name": "train-NNN"}` per 16 hosts): under 2
    # bytes per host, against ~700 per host (address, GPU, topology, an encrypted key)
    # in the stack config before.
    assert (len(large) - len(small)) / (2048 - 16) < 2
    assert len(large) < MAX_ARG_STRLEN // 16


def test_the_policy_packs_read_a_2048_host_stack_config(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import pulumi.runtime

    raw = _engine_config(2048)
    monkeypatch.setattr(pulumi.runtime, "get_config", lambda key: raw if key == ROOT else None)
    assert stack_config.stack_tenant_name() == "bench"
    assert stack_config.stack_mirrors() == ([], [])
    tenant = stack_config.stack_config()
    assert tenant is not None
    # The stack-secrets rule on a stack whose file has the key encrypted: nothing to report.
    stack_file = _project(tmp_path, 2048)
    (tmp_path / "Pulumi.bench.yaml").write_text(stack_file.read_text())
    problems = plaintext_secret_problems("bench", tenant, frozenset({ROOT}), [tmp_path])
    assert problems == []


def test_a_plaintext_shared_key_is_reported_once_at_its_key_path(tmp_path: Path) -> None:
    tenant = host_tenants.tenant_config(16)
    tenant["sshKeys"][0]["privateKey"] = PRIVATE_KEY
    (tmp_path / "Pulumi.bench.yaml").write_text(
        yaml.safe_dump({"config": {ROOT: tenant}}, sort_keys=False)
    )
    problems = plaintext_secret_problems("bench", tenant, frozenset(), [tmp_path])
    assert [p.path for p in problems] == [f"{ROOT}.sshKeys[0].privateKey"]
    assert (
        "pulumi config set --stack bench --secret --path 'gpu-caas:tenant.sshKeys[0].privateKey'"
        in (problems[0].message)
    )
    assert PRIVATE_KEY.splitlines()[2] not in problems[0].message


def test_generated_tenants_parse_at_every_bench_size(tmp_path: Path) -> None:
    for size in (16, 128):
        directory = tmp_path / str(size)
        directory.mkdir()
        (directory / host_tenants.INVENTORY_FILE).write_text(
            json.dumps(host_tenants.inventory_document(size))
        )
        config = parse_tenant(json.loads(_engine_config(size)), directory)
        assert len(config.hosts) == size + host_tenants.CONTROL_PLANE_HOSTS
