"""The size of `PULUMI_CONFIG` computed from a stack file (`stacks.config.engine_env_limit`)
and what `python -m stacks validate` says about it.

The constant is checked on this kernel (an environment string of `MAX_ARG_STRLEN`
bytes execs, one more does not), and the whole formula on the real engine: a probe
program records the variable it was started with, for plain config (sized exactly, up
to the byte where the preview stops with `argument list too long`) and for secrets
(sized from their ciphertexts, never under).
"""

from __future__ import annotations

import errno
import functools
import json
import math
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

from bench import host_tenants
from stacks.__main__ import main
from stacks.config.engine_env_limit import (
    CONFIG_ENV,
    MAX_ARG_STRLEN,
    config_env_size,
    engine_env_problems,
    go_json_string,
    plaintext_bytes,
    value_bytes,
)
from stacks.config.errors import ROOT
from stacks.config.passphrase import PassphraseCrypter, encrypt_value
from tests.stacks.samples import PRIVATE_KEY, rsa_private_key_pem

PASSPHRASE = "an engine-env test passphrase"  # noqa: S105 - test value
ACK = "gpu-caas:secretsProviderAcknowledged"
MARK = f"(`{CONFIG_ENV}`"
"""How the size problem names the variable (other messages name PULUMI_CONFIG_PASSPHRASE)."""


@functools.cache
def _crypter() -> tuple[str, PassphraseCrypter]:
    return PassphraseCrypter.new(PASSPHRASE)


def _secure(plaintext: str) -> dict[str, str]:
    return {"secure": _crypter()[1].encrypt(plaintext)}


def _go_config_text(config: dict[str, Any]) -> str:
    """`PULUMI_CONFIG=<json>` as the engine and the language host build it, for plain
    config, with Python's json plus Go's extra escapes (`<`, `>`, `&`, U+2028/9) at each
    of the two encodings: an oracle independent of the module's Go encoder."""

    def go_dumps(value: Any) -> str:
        text = json.dumps(value, ensure_ascii=False, separators=(",", ":"), sort_keys=True)
        for char in "<>&\u2028\u2029":
            text = text.replace(char, f"\\u{ord(char):04x}")
        return text

    def text_of(value: Any) -> str:
        # `key:` with no value travels as "" (the engine warns it will become null).
        return "" if value is None else value if isinstance(value, str) else go_dumps(value)

    return f"{CONFIG_ENV}=" + go_dumps({key: text_of(value) for key, value in config.items()})


PLAIN_CONFIG: dict[str, Any] = {
    "probe:name": "acme",
    "probe:flag": True,
    "probe:count": 3,
    "probe:nothing": None,
    "probe:html": "a<b && c>d",
    "probe:tenant": {
        "name": "acme",
        "quote": 'say "hi" \\ bye',
        "unicode": "Zürich — 東京 \u2028 end",
        "lines": "one\ntwo\r\n\tthree",
        "numbers": [1, -2, 1.5, 0.25, 12345678901234],
        "flags": {"on": True, "off": False, "none": None},
        "publicKey": PRIVATE_KEY.replace("PRIVATE", "PUBLIC"),
        "nested": [{"b": "x", "a": ["y", {"z": "<&>"}]}],
    },
}

FLOATS: dict[str, Any] = {"probe:floats": [100.0, 1.0e-7, 2.5e-9, 1.0e21, 123456.789, -0.5, 0.0]}
"""Floats Go writes unlike Python's json (`100`, `1e-7`): sized on the real engine."""
GO_FLOATS = "[100,1e-7,2.5e-9,1e+21,123456.789,-0.5,0]"
"""How Go's encoding/json writes `FLOATS` (floatEncoder in encoding/json/encode.go)."""


# --- the Go encoding ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "encoded"),
    [
        ("plain", '"plain"'),
        ('a "quoted" \\ back', '"a \\"quoted\\" \\\\ back"'),
        ("<a & b>", '"\\u003ca \\u0026 b\\u003e"'),
        ("\n\r\t\b\f", '"\\n\\r\\t\\b\\f"'),
        ("\x00\x01\x1f\x7f", '"\\u0000\\u0001\\u001f\x7f"'),
        ("é 東 🚀", '"é 東 🚀"'),
        ("\u2028\u2029", '"\\u2028\\u2029"'),
        ("/+=", '"/+="'),
    ],
)
def test_strings_are_escaped_as_go_encoding_json_does(text: str, encoded: str) -> None:
    # Go's appendString (encoding/json/encode.go) with escapeHTML, as json.Marshal.
    assert go_json_string(text) == encoded


def test_plain_config_is_sized_to_the_byte() -> None:
    expected = len(_go_config_text(PLAIN_CONFIG).encode()) + 1  # the NUL
    size = config_env_size(PLAIN_CONFIG)
    assert (size.total, size.secrets) == (expected, 0)
    assert config_env_size({}).total == len(f"{CONFIG_ENV}={{}}") + 1


def test_floats_are_written_as_go_does() -> None:
    size, _ = value_bytes(FLOATS["probe:floats"])
    assert size == len(go_json_string(GO_FLOATS))


@pytest.mark.parametrize("plaintext", ["", "x", "pulumi", "é東🚀", "line\n" * 40, "k" * 5000])
def test_the_plaintext_length_comes_from_the_ciphertext(plaintext: str) -> None:
    ciphertext = encrypt_value(os.urandom(32), plaintext)
    assert plaintext_bytes(ciphertext) == len(plaintext.encode())


def test_other_ciphertexts_are_bounded_by_their_length() -> None:
    # The Pulumi Cloud provider: base64 of an opaque ciphertext, never shorter.
    assert plaintext_bytes("AAAAAAAAAAAAAAAA") == 12
    assert plaintext_bytes("v1:not base64!:x") == len("v1:not base64!:x")


@pytest.mark.parametrize(
    ("secret", "where"),
    [
        (lambda: rsa_private_key_pem(4096), "nested"),
        (lambda: rsa_private_key_pem(4096), "top"),
        (lambda: PRIVATE_KEY, "nested"),  # OpenSSH ed25519
        (lambda: "nvapi-" + "k" * 64, "nested"),
        (lambda: "short", "top"),
    ],
)
def test_secrets_are_never_under_counted_and_barely_over(
    secret: Callable[[], str], where: str
) -> None:
    plaintext = secret()
    if where == "top":
        encrypted: Any = _secure(plaintext)
        decrypted: Any = plaintext
    else:
        encrypted = {"hosts": [{"ssh": {"privateKey": _secure(plaintext)}}]}
        decrypted = {"hosts": [{"ssh": {"privateKey": plaintext}}]}
    actual = len(_go_config_text({ROOT: decrypted}).encode()) + 1
    estimate = config_env_size({ROOT: encrypted})
    assert estimate.secrets == 1
    assert actual <= estimate.total <= actual + 12


def test_value_bytes_of_a_top_level_secret_counts_its_line_breaks_once() -> None:
    # Top level: escaped once (`\n`); nested: twice (`\\n`).
    top, _ = value_bytes(_secure("a\nb"))
    nested, _ = value_bytes({"k": _secure("a\nb")})
    assert top == len(json.dumps("a\nb")) + 2  # 3 line breaks assumed, 1 real
    assert nested > top


# --- the limit ------------------------------------------------------------------------


def test_the_kernel_limit_is_max_arg_strlen_per_environment_string() -> None:
    """`NAME=value` plus its NUL may be 32 pages, not one more byte (E2BIG): on 4 KiB
    pages (x86_64, the CI machines) that is MAX_ARG_STRLEN, the limit validate uses
    whatever machine it runs on; larger pages (some arm64 kernels) allow more."""
    limit = 32 * os.sysconf("SC_PAGESIZE")
    assert limit >= MAX_ARG_STRLEN
    name = "GPU_CAAS_PROBE"
    fits = "x" * (limit - len(name) - 2)  # `=` and the NUL
    subprocess.run(["/bin/true"], env={name: fits}, check=True)
    with pytest.raises(OSError) as raised:
        subprocess.run(["/bin/true"], env={name: fits + "x"}, check=True)
    assert raised.value.errno == errno.E2BIG


def _padded(target: int, base: dict[str, Any] | None = None) -> dict[str, Any]:
    """`base` (plain) with a `probe:pad` value making `PULUMI_CONFIG` `target` bytes."""
    config = {**(base or PLAIN_CONFIG), "probe:pad": ""}
    missing = target - config_env_size(config).total
    assert missing >= 0
    return {**config, "probe:pad": "a" * missing}


@pytest.mark.parametrize(
    ("total", "errors", "warnings"),
    [
        (MAX_ARG_STRLEN + 1, 1, 0),
        (MAX_ARG_STRLEN, 0, 1),
        (-(-MAX_ARG_STRLEN * 3 // 4), 0, 1),  # 75%
        (-(-MAX_ARG_STRLEN * 3 // 4) - 1, 0, 0),
        (4096, 0, 0),
    ],
)
def test_an_error_over_the_limit_and_a_warning_from_three_quarters(
    total: int, errors: int, warnings: int
) -> None:
    config = _padded(total)
    assert config_env_size(config).total == total
    found = engine_env_problems({"config": config})
    assert (len(found[0]), len(found[1])) == (errors, warnings)


# --- python -m stacks validate ----------------------------------------------------------


def _in_config_tenant(gpu_hosts: int, key: str) -> dict[str, Any]:
    """`gpu-caas:tenant` as the user trial had it: every host (and 3 control-plane
    hosts) in `hosts`, each with its own encrypted copy of `key`."""
    tenant = host_tenants.tenant_config(gpu_hosts, name="acme")
    del tenant["inventory"], tenant["sshKeys"]
    tenant["hosts"] = host_tenants.inventory_document(gpu_hosts)["hosts"]
    for host in tenant["hosts"]:
        host["ssh"] = {"user": "ubuntu", "privateKey": _secure(key)}
    return tenant


def _in_config_stack(tmp_path: Path, gpu_hosts: int, key: str) -> Path:
    """The stack file of `_in_config_tenant`."""
    return _write_stack(tmp_path, _in_config_tenant(gpu_hosts, key))


def _write_stack(tmp_path: Path, tenant: dict[str, Any]) -> Path:
    (tmp_path / "Pulumi.yaml").write_text("name: gpu-caas\nruntime: python\n")
    document = {"encryptionsalt": _crypter()[0], "config": {ROOT: tenant, ACK: "passphrase"}}
    path = tmp_path / "Pulumi.acme.yaml"
    path.write_text(yaml.safe_dump(document, sort_keys=False))
    return path


def _size_of(path: Path) -> int:
    return config_env_size(yaml.safe_load(path.read_text())["config"]).total


def _size_of_tenant(tenant: dict[str, Any]) -> int:
    """`_size_of` the stack file `_write_stack` would write for `tenant`."""
    return config_env_size({ROOT: tenant, ACK: "passphrase"}).total


@pytest.fixture
def no_passphrase(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("PULUMI_CONFIG_PASSPHRASE", raising=False)
    monkeypatch.delenv("PULUMI_CONFIG_PASSPHRASE_FILE", raising=False)


def _validate(path: Path, capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    code = main(["validate", str(path)])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def test_the_user_trials_203_hosts_fail_validate_with_the_fix(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], no_passphrase: None
) -> None:
    path = _in_config_stack(tmp_path, 200, rsa_private_key_pem(4096))
    code, out, err = _validate(path, capsys)
    assert code == 1
    assert ": ok (" not in out
    [line] = [line for line in err.splitlines() if MARK in line]
    size = config_env_size(yaml.safe_load(path.read_text())["config"])
    assert size.hosts == 203 and size.secrets == 203
    assert line.startswith(
        f"{path}: the stack config the engine hands the program in one environment variable "
        f"(`PULUMI_CONFIG`, its 203 secrets decrypted) is about {size.total:,} bytes, over "
        "Linux's limit of 131,072 bytes for one environment variable (MAX_ARG_STRLEN): "
        "`pulumi preview` and `pulumi up` would stop with `fork/exec .../python: argument "
        f"list too long`. {size.hosts_bytes:,} bytes of it are the 203 hosts listed in the "
        "stack file: move the hosts to an inventory file (`gpu-caas:tenant.inventory.file`) "
        "and declare each SSH key once under `gpu-caas:tenant.sshKeys`"
    ), line
    assert line.endswith("(docs/inventory.md)")


def test_just_under_the_limit_warns_and_just_over_fails(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], no_passphrase: None
) -> None:
    key = rsa_private_key_pem(4096)
    # The most hosts (each with its own RSA-4096 key) that still fit.
    hosts = 20
    while _size_of_tenant(_in_config_tenant(hosts + 1, key)) <= MAX_ARG_STRLEN:
        hosts += 1
    (tmp_path / "under").mkdir()
    (tmp_path / "over").mkdir()
    under = _in_config_stack(tmp_path / "under", hosts, key)
    over = _in_config_stack(tmp_path / "over", hosts + 1, key)
    assert _size_of(under) <= MAX_ARG_STRLEN < _size_of(over)

    code, out, err = _validate(under, capsys)
    assert code == 0, err
    assert out.startswith(f"{under}: ok (tenant-managed, backend kubeadm, {hosts + 3} hosts")
    [warning] = [line for line in err.splitlines() if MARK in line]
    # Rounded down: 99.6% of the limit is not "100%" (that would read as over it).
    percent = f"{math.floor(_size_of(under) / MAX_ARG_STRLEN * 100)}%"
    assert warning.startswith(f"{under}: warning: the stack config the engine hands")
    assert f", {percent} of Linux's limit of 131,072 bytes" in warning

    code, out, err = _validate(over, capsys)
    assert code == 1
    assert out == ""
    assert f"{over}: the stack config" in err and "over Linux's limit" in err


def test_an_inventory_file_and_one_shared_key_stay_far_below(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], no_passphrase: None
) -> None:
    (tmp_path / host_tenants.INVENTORY_FILE).write_text(
        yaml.safe_dump(host_tenants.inventory_document(2048), sort_keys=False)
    )
    tenant = host_tenants.tenant_config(2048, name="acme")
    tenant["sshKeys"][0]["privateKey"] = _secure(rsa_private_key_pem(4096))
    path = _write_stack(tmp_path, tenant)
    size = config_env_size(yaml.safe_load(path.read_text())["config"])
    assert (size.hosts, size.secrets) == (0, 1)
    assert size.total < MAX_ARG_STRLEN // 16
    code, out, err = _validate(path, capsys)
    assert code == 0, err
    assert "2051 hosts" in out
    assert MARK not in err


def test_no_secret_reaches_the_message(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    # With the passphrase set, validate decrypts and checks every key: still nothing of
    # them (or of their ciphertexts) in what it prints.
    monkeypatch.setenv("PULUMI_CONFIG_PASSPHRASE", PASSPHRASE)
    monkeypatch.delenv("PULUMI_CONFIG_PASSPHRASE_FILE", raising=False)
    path = _in_config_stack(tmp_path, 240, PRIVATE_KEY)  # small ed25519 keys: more hosts
    assert _size_of(path) > MAX_ARG_STRLEN
    code, out, err = _validate(path, capsys)
    assert code == 1
    assert "over Linux's limit" in err
    printed = out + err
    for line in PRIVATE_KEY.splitlines()[1:-1]:
        assert line not in printed
    document = yaml.safe_load(path.read_text())
    ciphertext = document["config"][ROOT]["hosts"][0]["ssh"]["privateKey"]["secure"]
    assert ciphertext.split(":")[2][:16] not in printed


def test_validate_reports_the_size_even_when_the_config_is_invalid(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], no_passphrase: None
) -> None:
    path = _in_config_stack(tmp_path, 200, rsa_private_key_pem(4096))
    document = yaml.safe_load(path.read_text())
    document["config"][ROOT]["kubernetes"]["version"] = "1.31"
    path.write_text(yaml.safe_dump(document, sort_keys=False))
    code, _, err = _validate(path, capsys)
    assert code == 1
    assert "Kubernetes 1.31 is not supported" in err
    assert "over Linux's limit" in err


# --- on the real engine -----------------------------------------------------------------

PROBE = """\
import os
with open(os.environ["GPU_CAAS_PROBE_OUT"], "wb") as out:
    out.write(os.environb[b"PULUMI_CONFIG"])
"""


class _Probe:
    """A throwaway project whose program records the `PULUMI_CONFIG` it was given."""

    def __init__(self, tmp_path: Path) -> None:
        from sandbox.workspace import engine_environment
        from tests.engine.harness import require_pulumi

        self.pulumi = require_pulumi()
        self.project = tmp_path / "probe"
        self.project.mkdir()
        (tmp_path / "backend").mkdir()
        (tmp_path / "tmp").mkdir()
        self.out = tmp_path / "config.json"
        root = Path(__file__).resolve().parents[2]
        (self.project / "Pulumi.yaml").write_text(
            f"name: probe\nruntime:\n  name: python\n  options:\n    virtualenv: {root / '.venv'}\n"
        )
        (self.project / "__main__.py").write_text(PROBE)
        self.env = {
            **engine_environment(tmp_path / "backend"),
            "PULUMI_CONFIG_PASSPHRASE": PASSPHRASE,
            "GPU_CAAS_PROBE_OUT": str(self.out),
            "TMPDIR": str(tmp_path / "tmp"),
        }
        self._run("stack", "init", "t", "--secrets-provider", "passphrase")
        stack_file = yaml.safe_load((self.project / "Pulumi.t.yaml").read_text())
        self.salt = stack_file["encryptionsalt"]
        self.crypter = PassphraseCrypter.open(PASSPHRASE, self.salt)

    def _run(self, *args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [self.pulumi, "--non-interactive", *args],
            cwd=self.project,
            env=self.env,
            capture_output=True,
            text=True,
            timeout=180,
            check=False,
        )

    def preview(self, config: dict[str, Any]) -> tuple[int | None, str]:
        """`(len("PULUMI_CONFIG=<value>") + 1, output)` of one preview with `config`;
        None when the program did not start."""
        (self.project / "Pulumi.t.yaml").write_text(
            yaml.safe_dump({"encryptionsalt": self.salt, "config": config})
        )
        self.out.unlink(missing_ok=True)
        proc = self._run("preview")
        output = proc.stdout + proc.stderr
        if not self.out.exists():
            return None, output
        assert proc.returncode == 0, output[-2000:]
        return len(f"{CONFIG_ENV}=".encode()) + len(self.out.read_bytes()) + 1, output


@pytest.mark.engine
def test_the_engine_passes_what_is_computed_and_stops_one_byte_over(tmp_path: Path) -> None:
    probe = _Probe(tmp_path)
    # Plain config: to the byte.
    actual, output = probe.preview({**PLAIN_CONFIG, **FLOATS})
    assert actual == config_env_size({**PLAIN_CONFIG, **FLOATS}).total, output[-2000:]
    # Secrets, nested and top-level: never under, at most a few bytes over per secret.
    pem = rsa_private_key_pem(4096)
    secret_config = {
        **PLAIN_CONFIG,
        "probe:token": {"secure": probe.crypter.encrypt("nvapi-" + "k" * 64)},
        "probe:tenant": {
            "hosts": [
                {"name": f"h{i}", "ssh": {"privateKey": {"secure": probe.crypter.encrypt(pem)}}}
                for i in range(3)
            ]
            + [{"name": "e", "ssh": {"privateKey": {"secure": probe.crypter.encrypt(PRIVATE_KEY)}}}]
        },
    }
    actual, output = probe.preview(secret_config)
    estimate = config_env_size(secret_config)
    assert actual is not None, output[-2000:]
    assert estimate.secrets == 5
    assert actual <= estimate.total <= actual + 12 * estimate.secrets
    # Exactly at the limit the program starts; one byte more and it cannot.
    actual, output = probe.preview(_padded(MAX_ARG_STRLEN))
    assert actual == MAX_ARG_STRLEN, output[-2000:]
    actual, output = probe.preview(_padded(MAX_ARG_STRLEN + 1))
    assert actual is None
    assert "argument list too long" in output, output[-2000:]


def test_module_entry_point_exits_non_zero_over_the_limit(
    tmp_path: Path, no_passphrase: None
) -> None:
    path = _in_config_stack(tmp_path, 40, rsa_private_key_pem(4096))
    env = {k: v for k, v in os.environ.items() if not k.startswith("PULUMI_CONFIG_PASSPHRASE")}
    result = subprocess.run(
        [sys.executable, "-m", "stacks", "validate", str(path)],
        cwd=Path(__file__).resolve().parents[2],
        env=env,
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )
    assert result.returncode == 1
    assert "argument list too long" in result.stderr
    assert "Traceback" not in result.stderr
