"""Hosts in an inventory file (YAML or JSON) referenced by the stack config."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest
import yaml

from stacks.config import ConfigError, load_stack_file, parse_tenant
from stacks.config.inventory_file import project_directory, read_inventory
from tests.stacks.samples import PRIVATE_KEY, TENANT_MANAGED

HOSTS: list[dict[str, Any]] = [
    {"name": "cp-0", "address": "10.0.0.10", "role": "control-plane"},
    {"name": "gpu-0", "address": "10.0.1.10", "nodeGroup": "train",
     "gpu": {"model": "H100-80GB", "count": 8}, "topology": {"rack": "r1"}},
    {"name": "gpu-1", "address": "10.0.1.11", "nodeGroup": "inference",
     "gpu": {"model": "H100-80GB", "count": 8}},
]  # fmt: skip


def _tenant(file: str = "inventory/acme.yaml") -> dict[str, Any]:
    tenant = copy.deepcopy(TENANT_MANAGED)
    del tenant["hosts"]
    tenant["inventory"] = {"file": file}
    tenant["sshKeys"] = [{"name": "fleet", "user": "ubuntu", "privateKey": PRIVATE_KEY}]
    for group in tenant["nodeGroups"]:
        del group["hosts"]
    return tenant


def _project(tmp_path: Path, hosts: Any, name: str = "acme.yaml", text: str | None = None) -> Path:
    (tmp_path / "Pulumi.yaml").write_text("name: gpu-caas\nruntime: python\n")
    folder = tmp_path / "inventory"
    folder.mkdir(exist_ok=True)
    path = folder / name
    if text is None:
        text = (
            json.dumps({"hosts": hosts})
            if name.endswith(".json")
            else yaml.safe_dump({"hosts": hosts}, sort_keys=False)
        )
    path.write_text(text)
    return path


@pytest.mark.parametrize("name", ["acme.yaml", "acme.json"])
def test_hosts_come_from_the_file_yaml_or_json(tmp_path: Path, name: str) -> None:
    _project(tmp_path, HOSTS, name)
    config = parse_tenant(_tenant(f"inventory/{name}"), tmp_path)
    assert [h.name for h in config.hosts] == ["cp-0", "gpu-0", "gpu-1"]
    assert {g.name: g.hosts for g in config.node_groups} == {
        "train": ["gpu-0"],
        "inference": ["gpu-1"],
    }
    assert all(h.ssh.key() is config.ssh_keys[0].private_key for h in config.hosts)


def _stack_file(tmp_path: Path, tenant: dict[str, Any]) -> Path:
    path = tmp_path / "Pulumi.acme.yaml"
    path.write_text(yaml.safe_dump({"config": {"gpu-caas:tenant": tenant}}, sort_keys=False))
    return path


def _lines(tmp_path: Path, tenant: dict[str, Any]) -> list[str]:
    with pytest.raises(ConfigError) as caught:
        load_stack_file(_stack_file(tmp_path, tenant))
    return caught.value.lines()


def test_a_stack_file_reads_its_inventory_from_the_project_directory(tmp_path: Path) -> None:
    _project(tmp_path, HOSTS)
    nested = tmp_path / "stacks"
    nested.mkdir()
    config = load_stack_file(_stack_file(nested, _tenant()))
    assert len(config.hosts) == 3
    assert project_directory(nested) == tmp_path.resolve()


BAD_ADDRESS = [*HOSTS[:2], {**HOSTS[2], "address": "ssh://10.0.1.11"}]
DUPLICATE = [*HOSTS, {**HOSTS[2], "address": "10.0.1.12"}]
UNKNOWN_GROUP = [*HOSTS[:2], {**HOSTS[2], "nodeGroup": "inferense"}]
CONTROL_PLANE_IN_GROUP = [{**HOSTS[0], "nodeGroup": "train"}, *HOSTS[1:]]
INLINE_KEY = [*HOSTS[:1], {**HOSTS[1], "ssh": {"privateKey": PRIVATE_KEY}}, *HOSTS[2:]]
# the models accept the field's Python name too (populate_by_name)
SNAKE_CASE_KEY = [*HOSTS[:1], {**HOSTS[1], "ssh": {"private_key": PRIVATE_KEY}}, *HOSTS[2:]]


@pytest.mark.parametrize(
    ("hosts", "expected"),
    [
        # schema problem: line of the key in the file, path inside the file
        (BAD_ADDRESS,
         "inventory/acme.yaml:14:3: hosts[2].address: 'ssh://10.0.1.11' must be an IP address"),
        # cross-field rule on the merged config, moved to the file
        (DUPLICATE, "inventory/acme.yaml:19:3: hosts[3].name: 'gpu-1' is already used by hosts[2]"),
        (UNKNOWN_GROUP, "inventory/acme.yaml:15:3: hosts[2].nodeGroup: no node group 'inferense'"),
        # a rule about a node group's entry that came from a host's nodeGroup
        (CONTROL_PLANE_IN_GROUP,
         "inventory/acme.yaml:5:3: hosts[0].nodeGroup: host 'cp-0' has role 'control-plane'"),
        # no secret in the file, and the value is never shown
        (INLINE_KEY, "inventory/acme.yaml:14:5: hosts[1].ssh.privateKey: an inventory file "
         "holds no secret (it is not encrypted): remove this key, declare the key once as a "
         "Pulumi secret with `pulumi config set --stack acme --secret --path "
         "'gpu-caas:tenant.sshKeys[<i>].privateKey' < <private key file>`"),
        (SNAKE_CASE_KEY, "inventory/acme.yaml:14:5: hosts[1].ssh.private_key: an inventory "
         "file holds no secret (it is not encrypted): remove this key"),
    ],
)  # fmt: skip
def test_problems_are_located_in_the_inventory_file(
    tmp_path: Path, hosts: list[dict[str, Any]], expected: str
) -> None:
    _project(tmp_path, hosts)
    lines = _lines(tmp_path, _tenant())
    assert any(line.startswith(expected) for line in lines), lines
    assert not any("BEGIN OPENSSH" in line or PRIVATE_KEY.splitlines()[2] in line for line in lines)


def test_a_yaml_syntax_error_is_located(tmp_path: Path) -> None:
    _project(tmp_path, None, text="hosts:\n  - name: cp-0\n   address: x\n")
    lines = _lines(tmp_path, _tenant())
    assert lines[0].startswith("inventory/acme.yaml:3:"), lines
    assert "not valid YAML" in lines[0]


def test_a_json_syntax_error_says_json(tmp_path: Path) -> None:
    _project(tmp_path, None, "acme.json", text='{"hosts": [\n  {"name": "cp-0",}\n')
    lines = _lines(tmp_path, _tenant("inventory/acme.json"))
    assert "not valid JSON" in lines[0] and lines[0].startswith("inventory/acme.json:"), lines


def test_repeated_keys_are_refused(tmp_path: Path) -> None:
    _project(tmp_path, None, text="hosts:\n  - name: cp-0\n    name: cp-1\n    address: 10.0.0.1\n")
    lines = _lines(tmp_path, _tenant())
    assert lines == [
        "inventory/acme.yaml:3:5: hosts[0].name: is given twice (first at line 2); YAML keeps "
        "only the last value: remove one"
    ]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("- name: cp-0\n", "inventory/acme.yaml:1:1: not an inventory file"),
        ("{}\n", "inventory/acme.yaml:1:1: not an inventory file"),
    ],
)
def test_a_file_that_is_not_an_inventory(tmp_path: Path, text: str, expected: str) -> None:
    _project(tmp_path, None, text=text)
    assert _lines(tmp_path, _tenant())[0].startswith(expected)


def test_a_missing_file_is_named_at_the_config_key(tmp_path: Path) -> None:
    (tmp_path / "Pulumi.yaml").write_text("name: gpu-caas\n")
    lines = _lines(tmp_path, _tenant("inventory/missing.yaml"))
    assert len(lines) == 1
    assert "gpu-caas:tenant.inventory.file: cannot read the inventory file" in lines[0]
    assert lines[0].startswith(f"{tmp_path / 'Pulumi.acme.yaml'}:")


def test_hosts_in_both_places_are_refused(tmp_path: Path) -> None:
    _project(tmp_path, HOSTS)
    tenant = _tenant()
    tenant["hosts"] = copy.deepcopy(TENANT_MANAGED["hosts"])
    lines = _lines(tmp_path, tenant)
    assert len(lines) == 1 and "gpu-caas:tenant.hosts: hosts come from inventory.file" in lines[0]


@pytest.mark.parametrize("file", ["inventory/acme.txt", " "])
def test_the_file_must_be_yaml_or_json(tmp_path: Path, file: str) -> None:
    with pytest.raises(ConfigError) as caught:
        parse_tenant(_tenant(file), tmp_path)
    assert caught.value.problems[0].path == "gpu-caas:tenant.inventory.file"


def test_read_inventory_returns_validated_hosts(tmp_path: Path) -> None:
    path = _project(tmp_path, HOSTS)
    inventory = read_inventory(path, "inventory/acme.yaml")
    assert [h.node_group for h in inventory.hosts] == [None, "train", "inference"]


@pytest.mark.parametrize("project", ["absolute", "relative"])
def test_a_missing_file_names_the_absolute_path_tried(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, project: str
) -> None:
    """A user running from another directory sees where the file was looked for."""
    (tmp_path / "Pulumi.yaml").write_text("name: gpu-caas\n")
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    directory = tmp_path if project == "absolute" else Path("..")
    with pytest.raises(ConfigError) as caught:
        parse_tenant(_tenant("inventory/../inventory/missing.yaml"), directory)
    tried = tmp_path.resolve() / "inventory" / "missing.yaml"
    assert caught.value.lines() == [
        "gpu-caas:tenant.inventory.file: cannot read the inventory file "
        f"'inventory/../inventory/missing.yaml' at {tried} (No such file or directory); the "
        "path is relative to the project directory (the one holding Pulumi.yaml)"
    ]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        # a trailing comma, in an object and in a list
        ('{"hosts": [\n  {"name": "cp-0", "address": "10.0.0.10",}\n]}\n',
         "inventory/acme.json:2:43: not valid JSON: Expecting property name enclosed in "
         "double quotes"),
        ('{"hosts": [\n  {"name": "cp-0", "address": "10.0.0.10"},\n]}\n',
         "inventory/acme.json:3:1: not valid JSON: Expecting value"),
        # a tab inside a string (tabs between tokens are JSON whitespace)
        ('{"hosts": [\n\t{"name": "cp-0\t", "address": "10.0.0.10"}\n]}\n',
         "inventory/acme.json:2:16: not valid JSON: Invalid control character at"),
        # YAML, not JSON: a comment, single quotes, a bare key
        ('# acme\n{"hosts": []}\n', "inventory/acme.json:1:1: not valid JSON: Expecting value"),
        ("{'hosts': []}\n",
         "inventory/acme.json:1:2: not valid JSON: Expecting property name enclosed in "
         "double quotes"),
        ("hosts: []\n", "inventory/acme.json:1:1: not valid JSON: Expecting value"),
        # Python's json reads these; JSON has no such numbers
        ('{"hosts": [{"name": "cp-0", "gpu": {"count": NaN}}]}',
         "inventory/acme.json: not valid JSON: NaN is not a JSON value"),
        ('{"hosts": [{"name": "cp-0", "gpu": {"count": -Infinity}}]}',
         "inventory/acme.json: not valid JSON: -Infinity is not a JSON value"),
    ],
)  # fmt: skip
def test_a_json_file_must_be_strict_json(tmp_path: Path, text: str, expected: str) -> None:
    _project(tmp_path, None, "acme.json", text=text)
    lines = _lines(tmp_path, _tenant("inventory/acme.json"))
    assert len(lines) == 1 and lines[0].startswith(expected), lines


@pytest.mark.parametrize("indent", [2, "\t"])
def test_strict_json_problems_keep_their_line_and_column(tmp_path: Path, indent: int | str) -> None:
    text = json.dumps({"hosts": BAD_ADDRESS}, indent=indent)
    line = next(i for i, t in enumerate(text.splitlines(), 1) if "ssh://" in t)
    column = text.splitlines()[line - 1].index('"address"') + 1
    _project(tmp_path, None, "acme.json", text="\ufeff" + text)  # a BOM, as Windows tools write
    lines = _lines(tmp_path, _tenant("inventory/acme.json"))
    assert lines[0].startswith(
        f"inventory/acme.json:{line}:{column}: hosts[2].address: 'ssh://10.0.1.11' must be"
    ), lines


def test_json_values_are_read_as_json(tmp_path: Path) -> None:
    """`8e0` is the number 8 in JSON (YAML 1.1 reads it as a string)."""
    text = json.dumps({"hosts": HOSTS}).replace('"count": 8', '"count": 8e0')
    path = _project(tmp_path, None, "acme.json", text=text)
    inventory = read_inventory(path, "inventory/acme.json")
    assert [h.gpu.count for h in inventory.hosts if h.gpu] == [8, 8]


def test_repeated_json_keys_are_refused(tmp_path: Path) -> None:
    text = '{"hosts": [\n  {"name": "cp-0", "name": "cp-1", "address": "10.0.0.1"}\n]}\n'
    _project(tmp_path, None, "acme.json", text=text)
    lines = _lines(tmp_path, _tenant("inventory/acme.json"))
    assert lines[0].startswith("inventory/acme.json:2:20: hosts[0].name: is given twice"), lines


NO_SECRET = (
    "an inventory file holds no secret (it is not encrypted): remove this key, declare the "
    "key once as a Pulumi secret with `pulumi config set --stack acme --secret --path "
    "'gpu-caas:tenant.sshKeys[<i>].privateKey' < <private key file>` (and "
    "sshKeys[<i>].name), and refer to it with ssh.privateKeyRef or scope it to racks or "
    "node groups; if this file held a real key, rotate it"
)


@pytest.mark.parametrize(
    ("key", "expected"),
    [
        ("privatekey", f"unknown key; {NO_SECRET} (allowed keys: user, privateKeyRef, port)"),
        ("privateky", f"unknown key; {NO_SECRET} (allowed keys: user, privateKeyRef, port)"),
        ("privateKEY", f"unknown key; {NO_SECRET} (allowed keys: user, privateKeyRef, port)"),
        # other suggestions stay, without privateKey among the allowed keys
        ("privateKeyref",
         "unknown key; did you mean `privateKeyRef`? (allowed keys: user, privateKeyRef, port)"),
        ("usr", "unknown key; did you mean `user`? (allowed keys: user, privateKeyRef, port)"),
    ],
)  # fmt: skip
def test_a_misspelt_ssh_key_in_the_file_points_at_privatekeyref(
    tmp_path: Path, key: str, expected: str
) -> None:
    hosts = [*HOSTS[:1], {**HOSTS[1], "ssh": {key: "fleet"}}, *HOSTS[2:]]
    _project(tmp_path, hosts)
    lines = _lines(tmp_path, _tenant())
    assert lines == [f"inventory/acme.yaml:14:5: hosts[1].ssh.{key}: {expected}"]


def test_a_misspelt_private_key_in_the_stack_config_keeps_its_suggestion() -> None:
    tenant = copy.deepcopy(TENANT_MANAGED)
    tenant["hosts"][0]["ssh"] = {"privatekey": PRIVATE_KEY}
    with pytest.raises(ConfigError) as caught:
        parse_tenant(tenant)
    assert any("did you mean `privateKey`?" in line for line in caught.value.lines())


def test_json_that_pyyaml_cannot_read_is_read_without_positions(tmp_path: Path) -> None:
    """A surrogate pair (`\\ud83d\\ude00`) is JSON that PyYAML refuses: the file is still
    read, its problems named at the file without a line."""
    text = json.dumps({"hosts": [{**HOSTS[0], "name": "cp-\U0001f600"}, *HOSTS[1:]]})
    assert "\\ud83d\\ude00" in text
    _project(tmp_path, None, "acme.json", text=text)
    lines = _lines(tmp_path, _tenant("inventory/acme.json"))
    assert lines[0].startswith("inventory/acme.json: hosts[0].name: "), lines
