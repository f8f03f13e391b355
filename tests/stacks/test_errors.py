"""stacks/config/errors.py: problems, key paths, plurals and "did you mean"."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from stacks.config.errors import (
    ROOT,
    ConfigError,
    Problem,
    closest_match,
    did_you_mean,
    in_reading_order,
    key_path,
    looks_like_private_key,
    parse_key_path,
    plural,
    redact_credentials,
)
from tests.stacks.samples import PRIVATE_KEY, rsa_private_key_pem


@pytest.mark.parametrize(
    ("count", "words", "expected"),
    [
        (0, ("host",), "0 hosts"),
        (1, ("host",), "1 host"),
        (2, ("host",), "2 hosts"),
        (1, ("node group",), "1 node group"),
        (3, ("node group",), "3 node groups"),
        (1, ("address", "addresses"), "1 address"),
        (2, ("address", "addresses"), "2 addresses"),
    ],
)
def test_plural(count: int, words: tuple[str, ...], expected: str) -> None:
    assert plural(count, *words) == expected


def test_plural_without_the_count() -> None:
    assert plural(1, "is", "are", counted=False) == "is"
    assert plural(2, "is", "are", counted=False) == "are"


@pytest.mark.parametrize(
    ("word", "candidates", "expected"),
    [
        ("nodeGroupz", ["name", "nodeGroups", "hosts"], "nodeGroups"),
        ("adress", ["name", "address"], "address"),
        ("NODEGROUPS", ["nodeGroups"], "nodeGroups"),  # case slips too
        ("replicas", ["ha", "size", "backend"], None),  # nothing close
        ("gpu-9", ["gpu-0", "gpu-1"], "gpu-0"),  # equally close: the first wins
        ("x", [], None),
    ],
)
def test_closest_match(word: str, candidates: list[str], expected: str | None) -> None:
    assert closest_match(word, candidates) == expected


def test_did_you_mean_quotes_the_match() -> None:
    assert did_you_mean("adress", ["address"]) == "did you mean 'address'?"
    assert did_you_mean("adress", ["address"], quote="`") == "did you mean `address`?"
    assert did_you_mean("zzz", ["address"]) == ""


@pytest.mark.parametrize(
    "parts",
    [
        (),
        ("name",),
        ("hosts", 3, "gpu", "count"),
        ("nodeGroups", 1, "labels", "example.com/x"),
        ("mirrors", "imageRegistries", "nvcr.io"),
    ],
)
def test_parse_key_path_inverts_key_path(parts: tuple[str | int, ...]) -> None:
    assert parse_key_path(key_path(*parts)) == parts


@pytest.mark.parametrize("path", ["gpu-cass:tenant.name", "gpu-caas:tenantx", f"{ROOT}.a..b"])
def test_parse_key_path_rejects_other_paths(path: str) -> None:
    assert parse_key_path(path) is None


def test_problem_text_and_location() -> None:
    problem = Problem(f"{ROOT}.name", "is required")
    assert str(problem) == f"{ROOT}.name: is required"
    assert problem.location is None
    located = problem.at("Pulumi.x.yaml", 4, 5)
    assert str(located) == f"Pulumi.x.yaml:4:5: {ROOT}.name: is required"
    assert located.text == str(problem)
    assert str(problem.at("Pulumi.x.yaml")) == f"Pulumi.x.yaml: {ROOT}.name: is required"
    # A problem of the whole file has no key path.
    assert str(Problem("", "not valid YAML: x", "f.yaml", 2, 1)) == "f.yaml:2:1: not valid YAML: x"


def test_in_reading_order_sorts_each_file_by_line_then_column() -> None:
    problems = [
        Problem("a", "x", "Pulumi.x.yaml", 40, 7),
        Problem("b", "x", "inventory.yaml", 3, 1),
        Problem("c", "x", "Pulumi.x.yaml", 12, 9),
        Problem("d", "x"),  # read from no file: last
        Problem("e", "x", "Pulumi.x.yaml", 12, 3),
        Problem("f", "x", "Pulumi.x.yaml"),  # the whole file: first of its file
        Problem("g", "x", "inventory.yaml", 1, 1),
        Problem("h", "x", "Pulumi.x.yaml", 40, 7),  # same place as `a`: stays after it
    ]
    assert [p.path for p in in_reading_order(problems)] == ["f", "e", "c", "a", "h", "g", "b", "d"]
    assert in_reading_order([]) == []


def test_for_stack_names_the_stack_in_fix_commands() -> None:
    problem = Problem(
        f"{ROOT}.name",
        "set it with `pulumi config set --stack <stack> --path 'k' v` (in `Pulumi.<stack>.yaml`)",
        "Pulumi.acme.yaml",
        3,
        5,
    )
    named = problem.for_stack("acme")
    assert named.message == (
        "set it with `pulumi config set --stack acme --path 'k' v` (in `Pulumi.<stack>.yaml`)"
    )
    assert (named.path, named.file, named.line, named.column) == (
        problem.path, problem.file, problem.line, problem.column
    )  # fmt: skip
    assert problem.for_stack(None) == problem
    error = ConfigError([problem, Problem("", "no command")]).for_stack("acme")
    assert [p.message for p in error.problems] == [named.message, "no command"]


_KEY_BODY = PRIVATE_KEY.splitlines()[1]
_JWT = "eyJhbGciOiJSUzI1NiIsImtpZCI6IjEifQ.eyJpc3MiOiJrdWJlcm5ldGVzIn0.c2lnbmF0dXJlLXh4eA"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (f"no key {PRIVATE_KEY!r} here", "no key '<a private key, not shown>' here"),
        (f"got {PRIVATE_KEY}; must be", "got <a private key, not shown>; must be"),  # multi-line
        (f"x {PRIVATE_KEY[:80]!r} y", "x '<a private key, not shown>' y"),  # cut short
        (f"x {_KEY_BODY} y", "x <a private key, not shown> y"),  # the body alone
        (f"token {_JWT} z", "token <a token, not shown> z"),
        ("key nvapi-" + "AbCd0123" * 8 + ", no", "key <an NGC API key, not shown>, no"),
        # a key cut short: its base64 goes, the rest of the message stays
        ("x -----BEGIN RSA PRIVATE KEY-----\nMIIEow; did you mean 'y'?",
         "x <a private key, not shown>; did you mean 'y'?"),
        # names that only look like the start of a credential stay
        ("group nvapi-docs-team", "group nvapi-docs-team"),
        ("host gpu-eyJabcdefghijk.abcdefghijk.lab", "host gpu-eyJabcdefghijk.abcdefghijk.lab"),
        ("data LS0tLS1CRUdJTiBDRVJUSUZJQ0FURS0tLS0t end",
         "data <base64 key or certificate, not shown> end"),
        # what problems legitimately quote stays
        ("image digest sha256:" + "ab" * 32, "image digest sha256:" + "ab" * 32),
        ("no key 'fleet' under sshKeys", "no key 'fleet' under sshKeys"),
    ],
)  # fmt: skip
def test_redact_credentials(text: str, expected: str) -> None:
    assert redact_credentials(text) == expected


_PKCS8 = rsa_private_key_pem(pkcs8=True)


@pytest.mark.parametrize("key", [PRIVATE_KEY, _PKCS8], ids=["openssh", "pkcs8"])
@pytest.mark.parametrize(
    "layout",
    [
        lambda k: k,  # as the file holds it
        lambda k: k.replace("\n", "\r\n"),  # Windows line endings
        lambda k: repr(k.replace("\n", "\r\n")[:300]),  # cut short, as `!r` shows it
        lambda k: "\n".join(k.strip().splitlines()[1:-1]),  # the body alone
        lambda k: "\n    ".join(k.strip().splitlines()[1:-1]),  # indented, as in YAML
        lambda k: " ".join(k.strip().splitlines()[1:-1]),  # folded into one line
    ],
    ids=["file", "crlf", "cut-repr", "body", "indented", "folded"],
)
def test_no_line_of_a_key_survives_redaction(key: str, layout: Callable[[str], str]) -> None:
    redacted = redact_credentials(f"no key {layout(key)} under sshKeys")
    shown = ("no key <a private key, not shown>", "no key '<a private key, not shown>")
    assert redacted.startswith(shown), redacted
    for line in key.strip().splitlines()[1:-1]:
        # a cut-short key may keep a few characters of its last, partial line
        assert line[:16] not in redacted, (line, redacted)


def test_problems_never_carry_a_credential() -> None:
    # The rules quote what the user wrote; a key pasted into the wrong field must not
    # reach a terminal through them (Problem redacts path and message).
    problem = Problem(f"hosts[0].ssh.{PRIVATE_KEY}", f"no key {PRIVATE_KEY!r} here")
    for text in (str(problem), problem.path, problem.message, *ConfigError([problem]).lines()):
        assert "PRIVATE KEY" not in text and _KEY_BODY not in text


@pytest.mark.parametrize(
    ("value", "expected"),
    [(PRIVATE_KEY, True), (_KEY_BODY, True), ("-----BEGIN RSA PRIVATE KEY-----", True),
     ("\n".join(_PKCS8.splitlines()[1:-1]), True),  # a PEM key's body alone
     ("fleet", False), ("ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAI", False)],
)  # fmt: skip
def test_looks_like_private_key(value: str, expected: bool) -> None:
    assert looks_like_private_key(value) is expected
