"""`stacks.run()`: config errors stop the program before any resource, without a traceback."""

from __future__ import annotations

import json
import logging

import pytest

import stacks
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
