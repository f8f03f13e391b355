"""`components/upstream_facts.py` is complete and honest: every literal in the product
source that looks like an upstream fact is registered, every entry still occurs where it
says, every check names an existing test, every citation can be opened, and
docs/upstream-facts.md is current.

Nothing here runs the named tests (they run on their own); this only parses them.
"""

from __future__ import annotations

import ast
import functools
import re
from collections import defaultdict
from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path

import pytest

from components import upstream_facts
from components.upstream_facts import FACTS, FAMILIES, OWN_OR_EXAMPLE, Fact
from tests.support.upstream import CRDS_ROOT

ROOT = Path(__file__).resolve().parents[2]
SCANNED = ("components", "stacks", "policies/gpu_caas_policies")
NOT_SCANNED = {
    "components/upstream_facts.py": "the register itself holds every value as a literal",
}

_TOKEN = re.compile(r"[A-Za-z0-9][A-Za-z0-9._/-]*")
_DNS = re.compile(r"^(?:[a-z0-9](?:[-a-z0-9]*[a-z0-9])?\.)+[a-z][-a-z0-9]*[a-z]$")
_DCGM = re.compile(r"^DCGM_FI_[A-Z0-9_]*[A-Z0-9]$")
_API_VERSION = re.compile(r"^v[0-9]+(?:(?:alpha|beta)[0-9]+)?$")
_IMAGE_REGISTRIES = (
    "nvcr.io",
    "registry.k8s.io",
    "quay.io",
    "ghcr.io",
    "docker.io",
    "public.ecr.aws",
    "reg.kyverno.io",
)


def kind_of(literal: str) -> str | None:
    """What an upstream-looking literal is, or None when it does not look like one:
    `DCGM field`, `image repository`, `API group/version` or `domain-qualified key`."""
    if _DCGM.match(literal):
        return "DCGM field"
    head, slash, rest = literal.partition("/")
    if not slash or not _DNS.match(head):
        return None
    if head in _IMAGE_REGISTRIES and rest:
        return "image repository"
    if _API_VERSION.match(rest):
        return "API group/version"
    return "domain-qualified key"


def _docstring_nodes(tree: ast.AST) -> set[int]:
    """ids of string constants that are whole expression statements (docstrings of
    modules, classes, functions and attributes): prose, not facts we render."""
    return {
        id(node.value)
        for node in ast.walk(tree)
        if isinstance(node, ast.Expr)
        and isinstance(node.value, ast.Constant)
        and isinstance(node.value.value, str)
    }


def string_constants(source: str) -> Iterator[tuple[str, int]]:
    """`(text, line)` of every string constant that is not a docstring, f-string
    constant parts included."""
    tree = ast.parse(source)
    docstrings = _docstring_nodes(tree)
    for node in ast.walk(tree):
        if (
            isinstance(node, ast.Constant)
            and isinstance(node.value, str)
            and id(node) not in docstrings
        ):
            yield node.value, node.lineno


def scan_source(source: str) -> list[tuple[str, int]]:
    """`(literal, line)` of every upstream-looking literal in a Python source. A token
    right after `/` (inside a URL or a path) is skipped; a trailing `.` is dropped."""
    found = []
    for text, line in string_constants(source):
        for match in _TOKEN.finditer(text):
            if match.start() > 0 and text[match.start() - 1] == "/":
                continue
            literal = match.group(0).rstrip(".")
            if kind_of(literal):
                found.append((literal, line))
    return found


def is_ignored(literal: str, ignored: Iterable[tuple[str, str]] = OWN_OR_EXAMPLE) -> bool:
    """True for our own keys and example values (`OWN_OR_EXAMPLE`)."""
    for prefix, _reason in ignored:
        if literal.startswith(prefix) or (prefix.startswith(".") and prefix in "." + literal):
            return True
    return False


def _product_files() -> list[Path]:
    files = []
    for directory in SCANNED:
        for path in sorted((ROOT / directory).rglob("*.py")):
            if path.relative_to(ROOT).as_posix() not in NOT_SCANNED:
                files.append(path)
    return files


@functools.cache
def _scan() -> Mapping[str, tuple[tuple[str, int], ...]]:
    """literal -> ((module, line), ...) over the whole product source."""
    found: dict[str, list[tuple[str, int]]] = defaultdict(list)
    for path in _product_files():
        module = path.relative_to(ROOT).as_posix()
        for literal, line in scan_source(path.read_text(encoding="utf-8")):
            found[literal].append((module, line))
    return {literal: tuple(places) for literal, places in found.items()}


def unregistered(
    found: Mapping[str, Iterable[tuple[str, int]]],
    facts: Iterable[Fact],
    ignored: Iterable[tuple[str, str]] = OWN_OR_EXAMPLE,
) -> list[str]:
    """One message per place an unregistered upstream-looking literal occurs."""
    registered = {fact.value for fact in facts}
    ignored = tuple(ignored)
    problems = []
    for literal, places in sorted(found.items()):
        if literal in registered or is_ignored(literal, ignored):
            continue
        for module, line in places:
            problems.append(
                f"{module}:{line}: {literal!r} looks like an upstream {kind_of(literal)} and is "
                "not registered: add Fact(value=..., component=..., what=..., used_in=(...), "
                "and one of checked_by='tests/...py::test' (with upstream='<file under "
                "../shared/crds>'), citation='https://...' or 'owner/repo@ref:path', or "
                "unverified='<why>') to components/upstream_facts.py, or its prefix to "
                "OWN_OR_EXAMPLE if it is ours; then `python -m components.upstream_facts`"
            )
    return problems


# --------------------------------------------------------------------------- #
# The scanner
# --------------------------------------------------------------------------- #


@pytest.mark.parametrize(
    ("literal", "kind"),
    [
        ("nvidia.com/gpu.product", "domain-qualified key"),
        ("node-role.kubernetes.io/control-plane", "domain-qualified key"),
        ("kyverno.io/v1", "API group/version"),
        ("kai.scheduler/v1alpha1", "API group/version"),
        ("kubeadm.k8s.io/v1beta4", "API group/version"),
        ("nvcr.io/nvidia/k8s", "image repository"),
        ("registry.k8s.io/sig-storage/csi-provisioner", "image repository"),
        ("DCGM_FI_DEV_GPU_TEMP", "DCGM field"),
        ("nvidia.com/mig-", "domain-qualified key"),
        ("components/naming.py", None),
        ("certs.d/nvcr.io", None),
        ("nvcr.io", None),
        ("DCGM_FI_", None),
        ("v1.2.3/x", None),
    ],
)
def test_kind_of(literal, kind):
    assert kind_of(literal) == kind


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        ('"""Module: nvidia.com/gpu.product."""\n', []),
        ('X = "a"\n"""Attribute doc: nvidia.com/gpu.product."""\n', []),
        ('X = {"nvidia.com/gpu.product": "H100"}\n', [("nvidia.com/gpu.product", 1)]),
        ('X = f"nvidia.com/mig-{p}"\n', [("nvidia.com/mig-", 1)]),
        ('X = f"{c}.deviceclass.resource.k8s.io/devices"\n',
         [("deviceclass.resource.k8s.io/devices", 1)]),
        ('X = "kubernetes:helm.sh/v3:Release"\n', [("helm.sh/v3", 1)]),
        ('X = "image: nvcr.io/nvidia/k8s/dcgm:4.0"\n', [("nvcr.io/nvidia/k8s/dcgm", 1)]),
        ('X = "see https://kubernetes.io/docs/x and oci://ghcr.io/nvidia/kai"\n', []),
        ('X = "rate(DCGM_FI_DEV_POWER_VIOLATION[5m])"\n', [("DCGM_FI_DEV_POWER_VIOLATION", 1)]),
        ('X = "label kubernetes.io/hostname."\n', [("kubernetes.io/hostname", 1)]),
        ('X = "/etc/containerd/certs.d/nvcr.io/hosts.toml"\n', []),
        ('def f():\n    """nvidia.com/x"""\n    return "karpenter.sh/v1"\n',
         [("karpenter.sh/v1", 3)]),
    ],
)  # fmt: skip
def test_scan_source(source, expected):
    assert scan_source(source) == expected


@pytest.mark.parametrize(
    ("literal", "ignored"),
    [
        ("gpu-caas.io/node-group", True),
        ("rail.gpu-caas.io/", True),
        ("example.com/x", True),
        ("nvidia.com/gpu", False),
        ("notgpu-caas.io/x", False),
    ],
)
def test_is_ignored(literal, ignored):
    assert is_ignored(literal) is ignored


def test_an_unregistered_literal_is_reported_with_its_place_and_the_fix():
    found = {"nvidia.com/gpu.made-up": (("components/x.py", 7),), "gpu-caas.io/rack": ()}
    (message,) = unregistered(found, FACTS)
    assert message.startswith("components/x.py:7: 'nvidia.com/gpu.made-up'")
    assert "components/upstream_facts.py" in message and "citation=" in message


def test_every_ignored_prefix_has_a_reason():
    for prefix, reason in OWN_OR_EXAMPLE:
        assert prefix.endswith("/") and len(reason.split()) >= 3, (prefix, reason)


# --------------------------------------------------------------------------- #
# The register against the product source
# --------------------------------------------------------------------------- #


def test_the_scan_finds_upstream_facts():
    found = _scan()
    assert {"nvidia.com/gpu.product", "kyverno.io/v1", "DCGM_FI_DEV_XID_ERRORS"} <= set(found)


def test_every_upstream_literal_in_the_product_is_registered():
    problems = unregistered(_scan(), FACTS)
    assert not problems, "\n".join(problems)


def test_values_are_unique():
    values = [fact.value for fact in FACTS]
    assert len(values) == len(set(values)), sorted(v for v in values if values.count(v) > 1)


@functools.cache
def _constants_of(module: str) -> tuple[str, ...]:
    path = ROOT / module
    return tuple(text for text, _ in string_constants(path.read_text(encoding="utf-8")))


@pytest.mark.parametrize("fact", FACTS, ids=lambda f: f.value)
def test_fact_is_used_exactly_where_it_says(fact):
    """No stale entry: the value occurs in a string constant of each `used_in` module;
    and where the scan can see it, `used_in` lists every module it is in."""
    assert fact.used_in, f"{fact.value}: used_in is empty"
    for module in fact.used_in:
        assert (ROOT / module).is_file(), f"{fact.value}: used_in names missing {module}"
        assert any(fact.value in text for text in _constants_of(module)), (
            f"{fact.value!r} no longer occurs in {module}: drop it from used_in (or the "
            "whole entry) in components/upstream_facts.py"
        )
    if kind_of(fact.value):
        scanned = {module for module, _ in _scan().get(fact.value, ())}
        assert scanned == set(fact.used_in), (
            f"{fact.value!r}: used_in {sorted(fact.used_in)} but found in {sorted(scanned)}"
        )


# --------------------------------------------------------------------------- #
# How each fact is checked
# --------------------------------------------------------------------------- #

_CITATION = re.compile(r"^(https://\S+|[\w.-]+/[\w.-]+@[\w.-]+:\S+)$")


@pytest.mark.parametrize("fact", FACTS, ids=lambda f: f.value)
def test_exactly_one_way_of_checking(fact):
    ways = [w for w in (fact.checked_by, fact.citation, fact.unverified) if w]
    assert len(ways) == 1, f"{fact.value}: give exactly one of checked_by, citation, unverified"
    if fact.checked_by:
        assert fact.upstream, f"{fact.value}: checked_by needs upstream=<file under ../shared>"
        assert (CRDS_ROOT / fact.upstream).is_file(), f"{fact.value}: no {fact.upstream}"
    else:
        assert fact.upstream is None, f"{fact.value}: upstream only goes with checked_by"
    if fact.citation:
        assert _CITATION.match(fact.citation), (
            f"{fact.value}: citation {fact.citation!r} is neither a https URL nor "
            "owner/repo@ref:path"
        )
    if fact.unverified:
        assert len(fact.unverified.split()) >= 5, f"{fact.value}: say why it is unverified"
    assert fact.component and fact.what, fact.value


@pytest.mark.parametrize(
    "citation",
    [
        "https://kubernetes.io/docs/reference/labels-annotations-taints/",
        "NVIDIA/gpu-operator@v26.7.0:assets/state-device-plugin/0500_daemonset.yaml",
        "kubernetes/kubernetes@3a53ab6e:staging/src/k8s.io/x.go",
    ],
)
def test_citation_forms(citation):
    assert _CITATION.match(citation)


@pytest.mark.parametrize(
    "citation",
    ["see the GPU Operator docs", "http://example.org/x", "NVIDIA/gpu-operator:README.md"],
)
def test_citation_forms_rejected(citation):
    assert not _CITATION.match(citation)


def _defined_tests(path: Path) -> set[str]:
    """`name` and `Class.method` of every function and method in a test file."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    names = set()
    for node in tree.body:
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            names.add(node.name)
        elif isinstance(node, ast.ClassDef):
            names |= {
                f"{node.name}.{item.name}"
                for item in node.body
                if isinstance(item, ast.FunctionDef | ast.AsyncFunctionDef)
            }
    return names


def test_defined_tests_parses_functions_and_methods(tmp_path):
    path = tmp_path / "test_x.py"
    path.write_text("def test_a():\n    pass\nclass TestB:\n    def test_c(self):\n        pass\n")
    assert _defined_tests(path) == {"test_a", "TestB.test_c"}


def _all_checks() -> list[str]:
    checks = [fact.checked_by for fact in FACTS if fact.checked_by]
    checks += [test for family in FAMILIES for test in family.checked_by]
    return sorted(set(checks))


@pytest.mark.parametrize("check", _all_checks())
def test_checked_by_names_an_existing_test(check):
    file_name, sep, name = check.partition("::")
    assert sep and name, f"{check}: write tests/<path>.py::<test> or ::<Class>.<test>"
    path = ROOT / file_name
    assert file_name.startswith("tests/") and path.is_file(), f"{check}: no such test file"
    assert name in _defined_tests(path), f"{check}: {file_name} defines no {name}"
    assert name.rsplit(".", 1)[-1].startswith("test"), f"{check}: not a test function"


def test_unverified_facts_are_listed_in_the_docs():
    text = upstream_facts.render_markdown()
    section = text.split("## Unverified", 1)[1]
    for fact in FACTS:
        if fact.unverified:
            assert f"`{fact.value}` ({fact.component}): {fact.unverified}" in section


# --------------------------------------------------------------------------- #
# docs/upstream-facts.md
# --------------------------------------------------------------------------- #


def test_doc_is_current():
    current = (ROOT / upstream_facts.DOC_PATH).read_text(encoding="utf-8")
    assert current == upstream_facts.render_markdown(), (
        "docs/upstream-facts.md is stale: run `python -m components.upstream_facts`"
    )


def test_main_writes_then_checks(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "docs").mkdir()
    assert upstream_facts.main(["--check"]) == 1
    assert upstream_facts.main([]) == 0
    assert upstream_facts.main(["--check"]) == 0
    (tmp_path / upstream_facts.DOC_PATH).write_text("old\n", encoding="utf-8")
    assert upstream_facts.main(["--check"]) == 1
    assert "python -m components.upstream_facts" in capsys.readouterr().out
    assert upstream_facts.main(["--bogus"]) == 2
