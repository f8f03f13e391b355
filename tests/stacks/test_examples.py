"""Example stacks: valid, realistic per flavor, and free of plaintext secrets."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from components import versions
from stacks.compose import mirrors
from stacks.config import ControlPlaneBackend, Flavor, load_stack_file
from stacks.config.example_stacks import DEV_PASSPHRASE
from stacks.config.passphrase import PassphraseCrypter

ROOT = Path(__file__).resolve().parents[2]
STACKS = sorted(p for p in ROOT.glob("Pulumi.*.yaml"))


@pytest.mark.parametrize("path", STACKS, ids=lambda p: p.name)
def test_no_plaintext_secrets(path: Path) -> None:
    text = path.read_text(encoding="utf-8")
    assert "PRIVATE KEY" not in text
    assert "token:" not in text
    document = yaml.safe_load(text)
    assert document["encryptionsalt"].startswith("v1:")

    def walk(value: object, key: str = "") -> None:
        if isinstance(value, dict):
            for k, v in value.items():
                walk(v, k)
        elif isinstance(value, list):
            for v in value:
                walk(v, key)
        elif key in {"privateKey", "managementKubeconfig", "kubeconfig"}:
            raise AssertionError(f"{path.name}: {key} is not a secure value")

    walk(document["config"])


@pytest.mark.parametrize(
    ("stack", "flavor", "backend"),
    [
        ("dev", Flavor.TENANT_MANAGED, ControlPlaneBackend.KUBEADM),
        ("h100-training", Flavor.NCP_MANAGED, ControlPlaneBackend.HOSTED),
        ("isv-inference", Flavor.ISV_MANAGED, ControlPlaneBackend.EXTERNAL),
        ("gb200-baremetal", Flavor.TENANT_MANAGED, ControlPlaneBackend.KUBEADM),
    ],
)
def test_example_flavors(stack: str, flavor: Flavor, backend: ControlPlaneBackend) -> None:
    config = load_stack_file(ROOT / f"Pulumi.{stack}.yaml")
    assert (config.flavor, config.backend) == (flavor, backend)


def test_gb200_example_is_an_ha_nvl72_cluster_with_dpus() -> None:
    config = load_stack_file(ROOT / "Pulumi.gb200-baremetal.yaml")
    assert config.control_plane.ha and len(config.control_plane_hosts) == 3
    trays = [h for h in config.hosts if h.gpu is not None]
    assert {h.topology.nvlink_domain for h in trays} == {"nvl72-a", "nvl72-b"}
    assert all(h.dpu for h in trays)
    assert config.mirrors.image_registries["nvcr.io"].startswith("harbor.")
    # Air-gapped: every chart the example installs, DPF's (NGC's doca repository) too,
    # comes from the harbor mirror.
    for chart in (versions.GPU_OPERATOR.helm, versions.DPF.helm):
        assert mirrors(config).chart(chart).repository.startswith("https://harbor."), chart


@pytest.mark.parametrize(
    ("stack", "rails"),
    [("h100-training", 8), ("gb200-baremetal", 4)],
)
def test_rail_optimized_examples_put_every_gpu_host_on_every_rail(stack: str, rails: int) -> None:
    """DGX H100: eight compute rails; GB200 NVL72 compute tray: four. NIC i of every GPU
    host is on rail i (h100-training relies on the default, gb200-baremetal lists them)."""
    config = load_stack_file(ROOT / f"Pulumi.{stack}.yaml")
    configured = tuple(rail.rail for rail in config.gpu.network.rails)
    assert config.gpu.network.enabled and len(configured) == rails
    for host in config.hosts:
        assert config.host_rails(host) == (configured if host.gpu is not None else ()), host.name


def _decrypted(value: object, crypter: PassphraseCrypter, plaintexts: list[str]) -> object:
    """The stack file's config with every `secure:` value decrypted, as the engine hands
    it to the program (each plaintext is added to `plaintexts`)."""
    if isinstance(value, dict):
        if set(value) == {"secure"}:
            plaintexts.append(crypter.decrypt(value["secure"]))
            return plaintexts[-1]
        return {k: _decrypted(v, crypter, plaintexts) for k, v in value.items()}
    if isinstance(value, list):
        return [_decrypted(v, crypter, plaintexts) for v in value]
    return value


@pytest.mark.parametrize("path", STACKS, ids=lambda p: p.name)
def test_example_program_previews_under_mocks(path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The whole program (with the real platform modules) on each example, as a first
    preview: no default provider, nothing secret in plain inputs."""
    import json

    import stacks
    from tests.support.mocks import RecordingMocks, run

    document = yaml.safe_load(path.read_text())
    crypter = PassphraseCrypter.open(DEV_PASSPHRASE, document["encryptionsalt"])
    plaintexts: list[str] = []
    tenant = _decrypted(document["config"]["gpu-caas:tenant"], crypter, plaintexts)
    assert plaintexts, "every example has secrets"
    exported: dict[str, object] = {}
    monkeypatch.setattr("pulumi.export", lambda key, value: exported.__setitem__(key, value))
    mocks = RecordingMocks()
    run(stacks.run, mocks, preview=True, config={"gpu-caas:tenant": json.dumps(tenant)})
    assert {"kubeconfig", "apiEndpoint", "kubernetesVersion", "mirrorList"} <= set(exported)
    assert mocks.one("gpu-caas:cluster:TenantCluster", tenant["name"])  # type: ignore[index]
    for resource in mocks.resources:
        if resource.custom and not resource.type.startswith(("pulumi:providers:", "pulumi:pulumi")):
            assert resource.provider, f"{resource.type} {resource.name} uses a default provider"
    for plaintext in plaintexts:
        assert mocks.leaks(plaintext) == []
