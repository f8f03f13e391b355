"""stacks/config/stack_file.py: stack-file problems say file:line:column, like a compiler."""

from __future__ import annotations

from pathlib import Path

import pytest

from stacks.config import ConfigError, load_stack_file
from stacks.config.errors import ROOT, Problem
from stacks.config.stack_file import config_key_problems, read_stack_file

STACK = """\
config:
  gpu-caas:tenant:
    name: acme
    flavor: tenant-managed
    kubernetes:
      version: "1.34"
    hosts:
      - name: cp-0
        address: 10.0.0.1
        role: control-plane
        ssh: {user: u, privateKey: {secure: v1:abc}}
      - name: gpu-0
        address: 10.0.0.2
        ssh: {user: u, privateKey: {secure: v1:abc}}
        gpu:
          model: H100-80GB
          count: 8
    nodeGroups:
      - name: train
        hosts: [gpu-0]
    isolation:
      imageVerification: {enabled: false}
"""


def _write(tmp_path: Path, text: str, name: str = "Pulumi.acme.yaml") -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def _lines(path: Path) -> list[str]:
    with pytest.raises(ConfigError) as error:
        load_stack_file(path)
    return error.value.lines()


def test_the_sample_is_valid(tmp_path: Path) -> None:
    assert load_stack_file(_write(tmp_path, STACK)).name == "acme"


@pytest.mark.parametrize(
    ("old", "new", "expected"),
    [
        # The key of the bad value (line 17 `count:`, column 11).
        (
            "count: 8",
            "count: eight",
            f"17:11: {ROOT}.hosts[1].gpu.count: 'eight' is not an integer",
        ),
        # A list item: the item itself (`gpu-9` in the flow list at line 20).
        (
            "hosts: [gpu-0]",
            "hosts: [gpu-9]",
            f"20:17: {ROOT}.nodeGroups[0].hosts[0]: unknown host 'gpu-9'; did you mean "
            "'gpu-0'? hosts in the inventory: cp-0, gpu-0",
        ),
        # An unknown key: that key.
        (
            "  address: 10.0.0.2\n",
            "  address: 10.0.0.2\n        adress: 10.0.0.3\n",
            f"14:9: {ROOT}.hosts[1].adress: unknown key; did you mean `address`? (allowed keys: "
            "name, address, ssh, role, gpu, dpu, topology, nodeGroup, state, replaces, "
            "allowFaultDomainChange)",
        ),
        # A missing required key: the nearest key the file has (`kubernetes:`).
        (
            '      version: "1.34"\n',
            "      podCidr: 10.244.0.0/16\n",
            f"5:5: {ROOT}.kubernetes.version: is required",
        ),
        # A problem of a list entry as a whole: its first key.
        (
            "      - name: train\n        hosts: [gpu-0]\n",
            "      - name: train\n        hosts: [gpu-0]\n        autoscale: {maxNodes: 1, "
            "nodeClass: {group: g, kind: k, name: n}}\n",
            f"19:9: {ROOT}.nodeGroups[0]: set exactly one of `hosts` (a non-empty list) or "
            "`autoscale`",
        ),
    ],
)
def test_problems_are_located_at_their_key(
    tmp_path: Path, old: str, new: str, expected: str
) -> None:
    assert old in STACK
    path = _write(tmp_path, STACK.replace(old, new))
    assert _lines(path) == [f"{path}:{expected}"]


def test_yaml_syntax_errors_say_where(tmp_path: Path) -> None:
    path = _write(tmp_path, STACK.replace("    flavor:", "   flavor:"))
    (line,) = _lines(path)
    assert line == (
        f"{path}:4:4: not valid YAML: expected <block end>, but found '<block mapping start>' "
        "(while parsing a block mapping at line 2, column 3); check the indentation"
    )
    # The file name once, no key path.
    assert line.count(str(path)) == 1


def test_an_unterminated_quote_is_located(tmp_path: Path) -> None:
    path = _write(tmp_path, STACK.replace('version: "1.34"', 'version: "1.34'))
    (line,) = _lines(path)
    assert line.startswith(f"{path}:")
    assert "not valid YAML: " in line
    assert "while scanning a quoted scalar at line 6, column 16" in line


def test_repeated_keys_are_errors(tmp_path: Path) -> None:
    path = _write(tmp_path, STACK.replace("    name: acme\n", "    name: acme\n    name: dev\n"))
    assert _lines(path) == [
        f"{path}:4:5: {ROOT}.name: is given twice (first at line 3); YAML keeps only the last "
        "value: remove one"
    ]


@pytest.mark.parametrize(
    "typo", ["gpu-cass:tenant", "gpu-caas:tenants", "tenant", "gpu-caas:tnant"]
)
def test_a_misspelt_tenant_key_suggests_it(tmp_path: Path, typo: str) -> None:
    path = _write(tmp_path, STACK.replace("gpu-caas:tenant:", f"{typo}:"))
    assert _lines(path) == [
        f"{path}:2:3: {typo}: unknown config key; did you mean `gpu-caas:tenant`? (the gpu-caas "
        "program reads only `gpu-caas:tenant`)"
    ]


def test_other_project_keys_are_errors_and_other_namespaces_are_not(tmp_path: Path) -> None:
    path = _write(
        tmp_path,
        STACK.replace("config:\n", "config:\n  kubernetes:context: x\n  gpu-caas:debug: 1\n"),
    )
    (line,) = _lines(path)
    assert line.startswith(f"{path}:3:3: gpu-caas:debug: unknown config key; did you mean")


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            "config: {}\n",
            f"1:1: {ROOT}: is not set; add it under `config:` (see docs/quickstart.md)",
        ),
        ("", f"{ROOT}: is not set; add it under `config:` (see docs/quickstart.md)"),
        ("- a\n", "1:1: not a stack file: expected a mapping with a `config:` key"),
        ("config: [1]\n", "1:1: `config:` must be a mapping of config keys"),
    ],
)
def test_file_shape_problems(tmp_path: Path, text: str, expected: str) -> None:
    path = _write(tmp_path, text)
    sep = "" if expected[0].isdigit() else " "
    assert _lines(path) == [f"{path}:{sep}{expected}"]


def test_unreadable_file(tmp_path: Path) -> None:
    path = tmp_path / "Pulumi.nope.yaml"
    assert _lines(path) == [f"{path}: cannot read the stack file: No such file or directory"]


def test_locate_follows_the_path_as_far_as_the_file_has_it(tmp_path: Path) -> None:
    stack_file = read_stack_file(_write(tmp_path, STACK))
    assert stack_file.stack == "acme"
    where = stack_file.locate(Problem(f"{ROOT}.hosts[1].gpu.count", "m"))
    assert (where.file, where.line, where.column) == (str(stack_file.path), 17, 11)
    # Beyond the file (services are all defaults): the deepest key it has.
    deep = stack_file.locate(Problem(f"{ROOT}.services.observability.prometheus.mode", "m"))
    assert (deep.line, deep.column) == (2, 3)
    out_of_range = stack_file.locate(Problem(f"{ROOT}.hosts[7].name", "m"))
    assert (out_of_range.line, out_of_range.column) == (7, 5)


@pytest.mark.parametrize(
    ("keys", "paths"),
    [
        ({ROOT: {}}, []),
        ({ROOT: {}, "kubernetes:context": "x", "pulumi:tags": {}}, []),
        ({}, [ROOT]),
        ({"gpu-cass:tenant": {}}, ["gpu-cass:tenant"]),
        ({ROOT: {}, "gpu-caas:extra": 1}, ["gpu-caas:extra"]),
        # The passphrase provider's acknowledgement is read (by validate).
        ({ROOT: {}, "gpu-caas:secretsProviderAcknowledged": "passphrase"}, []),
        (
            {ROOT: {}, "gpu-caas:secretProviderAcknowledged": "x"},
            ["gpu-caas:secretProviderAcknowledged"],
        ),
    ],
)
def test_config_key_problems(keys: dict[str, object], paths: list[str]) -> None:
    assert [p.path for p in config_key_problems(keys)] == paths


def test_a_misspelt_acknowledgement_is_suggested() -> None:
    [problem] = config_key_problems({ROOT: {}, "gpu-caas:secretProviderAcknowledged": "x"})
    assert problem.message == (
        "unknown config key; did you mean `gpu-caas:secretsProviderAcknowledged`?"
    )
