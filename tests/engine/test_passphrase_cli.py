"""Our passphrase crypto against the real CLI, both ways, on a throwaway local backend;
and the commands our messages print really do what they say when run as printed: set a
secret from a file on stdin, re-key a stack off the empty passphrase, set the tenant name
and acknowledge the passphrase provider; the CLI's passphrase precedence is ours."""

from __future__ import annotations

import os
import pty
import re
import select
import subprocess
import time
from pathlib import Path

import pytest
import yaml
from pydantic import TypeAdapter

from sandbox.workspace import engine_environment
from stacks.config import parse_tenant
from stacks.config.passphrase import PassphraseCrypter
from stacks.config.rules import stack_name
from stacks.config.secret import ApiKey
from stacks.config.secret_checks import check_stack_document, plaintext_problems
from stacks.config.secret_shapes import api_key_problem
from tests.docs.doc_blocks import ROOT, blocks
from tests.engine.harness import require_pulumi
from tests.stacks.samples import PRIVATE_KEY, sample
from tests.support.shell import bash

pytestmark = pytest.mark.engine

PASSPHRASE = "not the dev passphrase"  # noqa: S105 - test value
PATH = "gpu-caas:tenant.hosts[0].ssh.privateKey"


def _pulumi(project: Path, env: dict[str, str], *args: str) -> str:
    proc = subprocess.run(
        [require_pulumi(), "--non-interactive", *args],
        cwd=project,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert proc.returncode == 0, f"pulumi {args[:3]}: {proc.stderr.strip()[-2000:]}"
    return proc.stdout


def test_cli_and_python_read_each_others_secrets(tmp_path: Path) -> None:
    project = tmp_path / "project"
    project.mkdir()
    (project / "Pulumi.yaml").write_text("name: gpu-caas\nruntime: python\n")
    env = {**engine_environment(tmp_path / "backend"), "PULUMI_CONFIG_PASSPHRASE": PASSPHRASE}
    (tmp_path / "backend").mkdir()
    _pulumi(project, env, "stack", "init", "t", "--secrets-provider", "passphrase")
    stack_file = project / "Pulumi.t.yaml"
    # A tenant whose first private key was set without --secret, as the issue shows.
    document = yaml.safe_load(stack_file.read_text())
    document.setdefault("config", {})["gpu-caas:tenant"] = sample("tenant-managed")
    stack_file.write_text(yaml.safe_dump(document))
    assert [p.path for p in plaintext_problems(sample("tenant-managed"))][0] == PATH

    # The fix command our message prints (argv, not a shell: the value is the key text).
    _pulumi(project, env, "config", "set", "-s", "t", "--secret", "--path", PATH, "--", PRIVATE_KEY)
    document = yaml.safe_load(stack_file.read_text())
    tenant = document["config"]["gpu-caas:tenant"]
    assert set(tenant["hosts"][0]["ssh"]["privateKey"]) == {"secure"}
    assert PATH not in [p.path for p in plaintext_problems(tenant)]

    # CLI -> Python.
    crypter = PassphraseCrypter.open(PASSPHRASE, document["encryptionsalt"])
    ciphertext = tenant["hosts"][0]["ssh"]["privateKey"]["secure"]
    assert crypter.decrypt(ciphertext) == PRIVATE_KEY

    # Python -> CLI.
    tenant["hosts"][1]["ssh"]["privateKey"] = {"secure": crypter.encrypt("from python\nline 2")}
    stack_file.write_text(yaml.safe_dump(document))
    value = _pulumi(
        project, env, "config", "get", "--path", "gpu-caas:tenant.hosts[1].ssh.privateKey"
    )
    assert value.rstrip("\n") == "from python\nline 2"


# --------------------------------------------------------------------------- #
# The commands our messages print, run as printed (placeholders filled in)
# --------------------------------------------------------------------------- #


def _bash(project: Path, env: dict[str, str], command: str) -> subprocess.CompletedProcess[str]:
    """`command` as a user pastes it into bash, without a terminal (stdin /dev/null)."""
    return bash(command, env=env, cwd=project)


def _printed(message: str, start: str, fill: dict[str, str]) -> str:
    """The backticked command of `message` starting with `start`, placeholders filled."""
    commands: list[str] = re.findall(r"`([^`]+)`", message)
    [command] = [c for c in commands if c.startswith(start)]
    for placeholder, value in fill.items():
        command = command.replace(placeholder, value)
    assert "<" not in command.replace(" < ", " "), f"unfilled placeholder: {command}"
    return command


def _new_project(tmp_path: Path, passphrase: str) -> tuple[Path, dict[str, str]]:
    project = tmp_path / "project"
    project.mkdir()
    (project / "Pulumi.yaml").write_text("name: gpu-caas\nruntime: python\n")
    (tmp_path / "backend").mkdir()
    env = {**engine_environment(tmp_path / "backend"), "PULUMI_CONFIG_PASSPHRASE": passphrase}
    env.pop("PULUMI_CONFIG_PASSPHRASE_FILE", None)
    _pulumi(project, env, "stack", "init", "t", "--secrets-provider", "passphrase")
    return project, env


def test_printed_fix_commands_read_the_secrets_from_stdin(tmp_path: Path) -> None:
    """`pulumi config set --stack t --secret --path <key>` with no value argument reads the
    value from stdin when stdin is not a terminal: the fix commands our messages print
    (`... < <private key file>`, `... < <file holding the key>`) work as printed, and
    nothing secret is on a command line."""
    project, env = _new_project(tmp_path, PASSPHRASE)
    stack_file = project / "Pulumi.t.yaml"
    tenant = sample("tenant-managed")  # every private key in plain text
    tenant.setdefault("gpu", {})["nim"] = {"enabled": True, "ngcApiKey": "nvapi-PLAIN"}
    document = yaml.safe_load(stack_file.read_text())
    document.setdefault("config", {})["gpu-caas:tenant"] = tenant
    stack_file.write_text(yaml.safe_dump(document))
    key_file, ngc_file = tmp_path / "id_ed25519", tmp_path / "ngc-key"
    key_file.write_text(PRIVATE_KEY + "\n")
    ngc_file.write_text("nvapi-FROM-A-FILE\r\n")  # a key file saved on Windows
    problems = plaintext_problems(tenant, "t")
    assert len(problems) == 4
    fill = {"<private key file>": str(key_file), "<file holding the key>": str(ngc_file)}
    for problem in problems:
        command = _printed(problem.message, "pulumi config set --stack t --secret", fill)
        assert "PLAIN" not in command and PRIVATE_KEY.splitlines()[1] not in command
        done = _bash(project, env, command)
        assert done.returncode == 0, f"{command}: {done.stderr}"

    document = yaml.safe_load(stack_file.read_text())
    stored = document["config"]["gpu-caas:tenant"]
    assert plaintext_problems(stored) == []
    crypter = PassphraseCrypter.open(PASSPHRASE, document["encryptionsalt"])
    key = crypter.decrypt(stored["hosts"][2]["ssh"]["privateKey"]["secure"])
    assert key == PRIVATE_KEY  # all of stdin but one final newline
    ngc = crypter.decrypt(stored["gpu"]["nim"]["ngcApiKey"]["secure"])
    assert ngc == "nvapi-FROM-A-FILE\r"
    # The `\r` the CLI keeps is fine: dropped when the key is used.
    assert api_key_problem(ngc) is None
    assert TypeAdapter(ApiKey).validate_python(ngc).plaintext == "nvapi-FROM-A-FILE"
    report = check_stack_document(document, "t", {"PULUMI_CONFIG_PASSPHRASE": PASSPHRASE})
    assert report.errors == []


def test_change_secrets_provider_without_a_terminal_and_the_printed_rekey(
    tmp_path: Path,
) -> None:
    """`pulumi stack change-secrets-provider --stack t passphrase` run without a terminal
    re-keys the stack to the EMPTY passphrase (the CLI reads the new one at a prompt,
    from stdin: nothing). Validate refuses that; the re-key command it prints (the new
    passphrase from a file on stdin) makes the stack a private passphrase's again."""
    project, env = _new_project(tmp_path, PASSPHRASE)
    key_file = tmp_path / "id_ed25519"
    key_file.write_text(PRIVATE_KEY + "\n")
    set_key = f"pulumi config set --stack t --secret --path '{PATH}' < {key_file}"
    assert _bash(project, env, set_key).returncode == 0
    # The trap: no terminal, so the new passphrase is "" (even with the old one exported).
    emptied = _bash(project, env, "pulumi stack change-secrets-provider --stack t passphrase")
    assert emptied.returncode == 0, emptied.stderr
    stack_file = project / "Pulumi.t.yaml"
    document = yaml.safe_load(stack_file.read_text())
    PassphraseCrypter.open("", document["encryptionsalt"])  # anyone can open it

    report = check_stack_document(document, "t", {"PULUMI_CONFIG_PASSPHRASE": PASSPHRASE})
    [empty] = [p for p in report.errors if "empty passphrase" in p.message]
    new_file = tmp_path / "t.passphrase"
    new_file.write_text("a brand new passphrase\n")
    new_file.chmod(0o600)
    rekey = _printed(
        empty.message,
        "PULUMI_CONFIG_PASSPHRASE='' pulumi stack change-secrets-provider --stack t passphrase",
        {"<new passphrase file>": str(new_file)},
    )
    done = _bash(project, env, rekey)  # the old passphrase is still exported: overridden
    assert done.returncode == 0, f"{rekey}: {done.stderr}"

    document = yaml.safe_load(stack_file.read_text())
    crypter = PassphraseCrypter.open("a brand new passphrase", document["encryptionsalt"])
    stored = document["config"]["gpu-caas:tenant"]["hosts"][0]["ssh"]["privateKey"]["secure"]
    assert crypter.decrypt(stored) == PRIVATE_KEY
    file_env = {"PULUMI_CONFIG_PASSPHRASE_FILE": str(new_file)}
    assert check_stack_document(document, "t", file_env).errors == []
    # As the message says next: unset the variable, use the file.
    cli_env = {k: v for k, v in env.items() if k != "PULUMI_CONFIG_PASSPHRASE"} | file_env
    assert _pulumi(project, cli_env, "config", "get", "--path", PATH) == PRIVATE_KEY + "\n"


@pytest.mark.parametrize("variable", ["wrong", ""])
def test_the_passphrase_variable_overrides_the_file(tmp_path: Path, variable: str) -> None:
    """Both set: the CLI uses PULUMI_CONFIG_PASSPHRASE (even empty), as
    `passphrase_from_env` does; validate's message says so."""
    project, env = _new_project(tmp_path, PASSPHRASE)
    _pulumi(project, env, "config", "set", "--stack", "t", "--secret", "--path", PATH, "x")
    right = tmp_path / "right"
    right.write_text(PASSPHRASE + "\n")
    both = {
        **env,
        "PULUMI_CONFIG_PASSPHRASE": variable,
        "PULUMI_CONFIG_PASSPHRASE_FILE": str(right),
    }
    refused = _bash(project, both, f"pulumi config get --stack t --path '{PATH}'")
    assert refused.returncode != 0 and "incorrect passphrase" in refused.stderr
    only_file = {k: v for k, v in both.items() if k != "PULUMI_CONFIG_PASSPHRASE"}
    assert _bash(project, only_file, f"pulumi config get --stack t --path '{PATH}'").stdout == "x\n"
    document = yaml.safe_load((project / "Pulumi.t.yaml").read_text())
    env_of_validate = {
        k: both[k] for k in ("PULUMI_CONFIG_PASSPHRASE", "PULUMI_CONFIG_PASSPHRASE_FILE")
    }
    errors = [str(p) for p in check_stack_document(document, "t", env_of_validate).errors]
    assert any(
        "PULUMI_CONFIG_PASSPHRASE is set and overrides PULUMI_CONFIG_PASSPHRASE_FILE" in e
        and "`unset PULUMI_CONFIG_PASSPHRASE`" in e
        for e in errors
    ), errors


def test_printed_tenant_name_and_acknowledgement_commands(tmp_path: Path) -> None:
    """The tenant-name warning's and the passphrase-provider warning's commands write
    what they mean into this stack's file; after them both warnings are gone."""
    project, env = _new_project(tmp_path, PASSPHRASE)
    stack_file = project / "Pulumi.t.yaml"
    tenant = sample("tenant-managed")
    for host in tenant["hosts"]:
        del host["ssh"]["privateKey"]  # not needed here
    document = yaml.safe_load(stack_file.read_text())
    document.setdefault("config", {})["gpu-caas:tenant"] = tenant
    stack_file.write_text(yaml.safe_dump(document))
    config = parse_tenant(sample("tenant-managed"))  # name: acme
    [name_warning] = stack_name(config, "t")
    provider_warning = check_stack_document(document, "t", {}).warnings[0]
    assert provider_warning.path == "secretsprovider"
    for message in (name_warning.message, provider_warning.message):
        command = _printed(message, "pulumi config set --stack t", {})
        done = _bash(project, env, command)
        assert done.returncode == 0, f"{command}: {done.stderr}"
    document = yaml.safe_load(stack_file.read_text())
    assert document["config"]["gpu-caas:tenant"]["name"] == "t"
    assert document["config"]["gpu-caas:secretsProviderAcknowledged"] == "passphrase"
    assert check_stack_document(document, "t", {}).warnings == []
    assert stack_name(config.model_copy(update={"name": "t"}), "t") == []


def _quickstart_block(containing: str) -> str:
    """The text of the quickstart's one bash block containing `containing`."""
    [block] = [b for b in blocks("docs/quickstart.md") if b.lang == "bash" and containing in b.text]
    return block.text


def test_the_quickstarts_rekey_block_runs_as_written(tmp_path: Path) -> None:
    """docs/quickstart.md's re-key of `acme` from one passphrase file to a new one, with
    a stale PULUMI_CONFIG_PASSPHRASE exported (the block unsets it)."""
    home = tmp_path / "home"
    (home / ".config/gpu-caas").mkdir(parents=True)
    old_file = home / ".config/gpu-caas/acme.passphrase"
    old_file.write_text("the old acme passphrase\n")
    project = tmp_path / "project"
    project.mkdir()
    (project / "Pulumi.yaml").write_text("name: gpu-caas\nruntime: python\n")
    (tmp_path / "backend").mkdir()
    env = {**engine_environment(tmp_path / "backend"), "HOME": str(home)}
    env["PULUMI_CONFIG_PASSPHRASE"] = "stale"  # noqa: S105 - test value
    env.pop("PULUMI_CONFIG_PASSPHRASE_FILE", None)
    file_env = {**env, "PULUMI_CONFIG_PASSPHRASE_FILE": str(old_file)}
    file_env.pop("PULUMI_CONFIG_PASSPHRASE")
    _pulumi(project, file_env, "stack", "init", "acme", "--secrets-provider", "passphrase")
    _pulumi(project, file_env, "config", "set", "--stack", "acme", "--secret", "--path", PATH, "k")

    done = _bash(
        project,
        env,
        "set -e\n" + _quickstart_block("change-secrets-provider --stack acme passphrase <"),
    )
    assert done.returncode == 0, done.stderr

    new = old_file.read_text().strip()  # the block moved the new file into place
    assert new and new != "the old acme passphrase"
    assert old_file.stat().st_mode & 0o077 == 0
    document = yaml.safe_load((project / "Pulumi.acme.yaml").read_text())
    crypter = PassphraseCrypter.open(new, document["encryptionsalt"])
    stored = document["config"]["gpu-caas:tenant"]["hosts"][0]["ssh"]["privateKey"]["secure"]
    assert crypter.decrypt(stored) == "k"


def test_a_copied_secret_fails_preview_as_the_quickstart_says_and_validate_names_it(
    tmp_path: Path,
) -> None:
    """The engine's message for a `secure:` value of another stack names no key (it
    stops before the program); the quickstart quotes it, and validate names the key."""
    project, env = _new_project(tmp_path, PASSPHRASE)
    (project / "__main__.py").write_text("")
    stack_file = project / "Pulumi.t.yaml"
    document = yaml.safe_load(stack_file.read_text())
    _, other = PassphraseCrypter.new(PASSPHRASE)  # another stack: another salt
    tenant = {"hosts": [{"ssh": {"privateKey": {"secure": other.encrypt(PRIVATE_KEY)}}}]}
    document.setdefault("config", {})["gpu-caas:tenant"] = tenant
    stack_file.write_text(yaml.safe_dump(document))
    failed = _bash(project, env, "pulumi preview --stack t --non-interactive")
    assert failed.returncode != 0
    message = "error: validating stack config: cipher: message authentication failed"
    assert message in failed.stdout + failed.stderr, failed.stdout + failed.stderr
    assert f"`{message}`" in (ROOT / "docs/quickstart.md").read_text(encoding="utf-8").replace(
        "\n  ", " "
    )
    report = check_stack_document(document, "t", {"PULUMI_CONFIG_PASSPHRASE": PASSPHRASE})
    assert [p.path for p in report.errors] == [PATH]
    assert "encrypted for another stack" in report.errors[0].message


def _in_a_terminal(project: Path, env: dict[str, str], argv: list[str], typed: str) -> bytes:
    """Run `argv` on a pseudo-terminal, answer the CLI's terminal queries (background
    colour, cursor position), type `typed` and Enter once it prompts; its screen output."""
    pid, fd = pty.fork()
    if pid == 0:  # the child: become the command (never return into pytest)
        try:
            os.chdir(project)
            os.execve(argv[0], argv, env)
        finally:
            os._exit(127)
    screen, deadline, sent = b"", time.monotonic() + 60, False
    try:
        while time.monotonic() < deadline:
            ready, _, _ = select.select([fd], [], [], 0.2)
            if not ready:
                continue
            try:
                chunk = os.read(fd, 4096)
            except OSError:
                break  # the command exited
            screen += chunk
            if b"\x1b]11;?" in chunk:
                os.write(fd, b"\x1b]11;rgb:0000/0000/0000\x1b\\")
            if b"\x1b[6n" in chunk:
                os.write(fd, b"\x1b[1;1R")
            if not sent and b"value:" in screen:
                os.write(fd, typed.encode() + b"\r")
                sent = True
    finally:
        _, status = os.waitpid(pid, 0)
        os.close(fd)
    assert os.waitstatus_to_exitcode(status) == 0, screen[-2000:]
    return screen


def test_in_a_terminal_the_fix_command_prompts_without_echo(tmp_path: Path) -> None:
    """The form the quickstart offers for a key copied from a web page: the fix command
    without `< <file>`, in a terminal, prompts for the value and does not echo it."""
    project, env = _new_project(tmp_path, PASSPHRASE)
    env.pop("PULUMI_SKIP_CONFIRMATIONS", None)
    path = "gpu-caas:tenant.gpu.nim.ngcApiKey"
    argv = [require_pulumi(), "config", "set", "--stack", "t", "--secret", "--path", path]
    screen = _in_a_terminal(project, env, argv, "nvapi-TYPED-AT-THE-PROMPT")
    assert b"value:" in screen
    assert b"TYPED-AT-THE-PROMPT" not in screen
    document = yaml.safe_load((project / "Pulumi.t.yaml").read_text())
    crypter = PassphraseCrypter.open(PASSPHRASE, document["encryptionsalt"])
    stored = document["config"]["gpu-caas:tenant"]["gpu"]["nim"]["ngcApiKey"]["secure"]
    assert crypter.decrypt(stored) == "nvapi-TYPED-AT-THE-PROMPT"
