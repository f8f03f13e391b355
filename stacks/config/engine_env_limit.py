"""The size of the environment variable that carries the stack config to the program,
computed offline from `Pulumi.<stack>.yaml` (no passphrase, nothing decrypted).

The engine starts the program with the whole stack config, secrets decrypted, in ONE
environment variable. Linux refuses an `execve` any of whose environment strings
(`NAME=value` plus its NUL) is longer than MAX_ARG_STRLEN = 32 pages = 131072 bytes
(include/uapi/linux/binfmts.h; fs/exec.c `copy_strings` returns E2BIG), and the
preview stops with `fork/exec .../python: argument list too long` (pulumi/pulumi#8680,
#20402). `python -m stacks validate` reports it before a preview does
(`engine_env_problems`).

How the variable is built (read from the sources, pulumi v3.259.0, the release
this project's toolchain is built from, and checked with a real `pulumi preview` in
tests/stacks/test_config_engine_env_limit.py):

1. The engine decrypts the stack config: `evalSource.Iterate`
   (pkg/resource/deploy/source_eval.go) calls `config.Map.Decrypt`
   (sdk/go/common/resource/config/map.go), which gives one string per top-level key:
   `Plaintext.marshalText` (sdk/go/common/resource/config/plaintext.go) keeps a string
   (or a top-level secret's plaintext) as it is and renders everything else with Go's
   `json.Marshal` of `Plaintext.GoValue`: compact, map keys sorted, each nested
   `{secure: ...}` replaced by its decrypted string. So `gpu-caas:tenant` travels as
   one JSON text with every SSH key in it in clear.
2. `langhost.Run` (pkg/resource/plugin/langruntime_plugin.go) sends that map, keyed by
   `config.Key.String()` (`<namespace>:<name>`), in `RunRequest.Config`, with the
   top-level keys holding a secret in `RunRequest.ConfigSecretKeys`.
3. This project's language host, `languageHost.Run`
   (scripts/toolchain/pulumi/cmd/pulumi-language-python/main.go), execs the Python
   interpreter with `PULUMI_CONFIG=` + `json.Marshal(req.GetConfig())` (a JSON object
   of strings: the tenant's JSON text is escaped a second time) and
   `PULUMI_CONFIG_SECRET_KEYS=` + the JSON list of those keys (a few bytes:
   `["gpu-caas:tenant"]`). Go's `json.Marshal` escapes `"` and `\\`, writes `\\n`,
   `\\r`, `\\t`, `\\b`, `\\f`, other control characters and `<`, `>`, `&`, U+2028,
   U+2029 as `\\u....`, and everything else as its UTF-8 bytes (`go_json_string`).
4. Policy packs: with a language plugin for the pack's runtime (this toolchain ships
   `pulumi-language-python`), `NewPolicyAnalyzer` (pkg/resource/plugin/
   analyzer_plugin.go) starts the pack through `newPlugin`/`ExecPlugin`
   (pkg/resource/plugin/plugin.go) and the host's `RunPlugin`
   (`languageHost.RunPlugin` in main.go) with the engine's own environment and NO
   `PULUMI_CONFIG`; the config goes in the `ConfigureStack` RPC (gRPC, no such limit;
   policies/gpu_caas_policies/stack_config.py). Only the legacy
   `pulumi-analyzer-policy-<runtime>` path puts it in `PULUMI_CONFIG`
   (`constructEnv`/`constructConfig` there): the same `json.Marshal` of the same map,
   so the same size. Either way the program's variable is the one that breaks.

Secrets, without the passphrase: the passphrase provider and the cloud ones (awskms,
gcpkms, azurekeyvault, hashivault: pkg/secrets/cloud/manager.go uses the same
`config.NewSymmetricCrypter`) write `v1:<base64 12-byte nonce>:<base64 ciphertext>`,
AES-256-GCM with no associated data (`symmetricCrypter.EncryptValue`,
sdk/go/common/resource/config/crypt.go), whose ciphertext is the plaintext's bytes plus
a 16-byte tag: the plaintext's length is exact (`plaintext_bytes`). The Pulumi Cloud
provider (`service`, pkg/secrets/service/manager.go) writes base64 of a ciphertext
the service makes, of a format not documented: its decoded length is used, on the
assumption (not checked here) that a ciphertext is no shorter than its plaintext.

The secret's TEXT is unknown, and JSON escaping makes it longer: each line break is 2
bytes (`\\n`) at the top level and 3 bytes (`\\\\n`) inside `gpu-caas:tenant`, which is
escaped twice. The estimate assumes a secret is a PEM/OpenSSH key or a token: at most
one line break per 64 bytes plus 3 (`secret_line_breaks`: the armour lines; PEM bodies
have 64-character lines, OpenSSH ones 70) and no other character JSON escapes. For an
RSA-4096 PEM key that is 2 line breaks more than it has: 4 bytes over inside the
tenant. A secret with shorter lines (a kubeconfig) or holding `"`, `\\`, `<`, `>`, `&`
or control characters is under-counted, per such character beyond the assumption
(inside the tenant; less at the top level), by 2 bytes for a line break, 3 for `"` or
`\\`, 6 for the others; the warning from 75% of the limit leaves room for that.
Everything else is counted exactly: strings, numbers (floats as Go writes them:
`100`, `1e-7`), booleans, keys, and a key with no value, which the engine passes as
`""`. So the size is exact for a stack without secrets and an upper estimate for one
whose secrets are keys and tokens.

Not counted: config an ESC environment adds (`environment:` in the stack file) and
project-level defaults (`config:` in `Pulumi.yaml`; gpu-caas has none). The inventory
file (`inventory.file`) is read by the program, not passed by the engine: that is why
moving hosts there keeps the variable small.
"""

from __future__ import annotations

import base64
import binascii
import math
import re
from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, Final

from stacks.config.errors import ROOT, Problem, plural

PAGE_BYTES: Final = 4096
"""The smallest page size Linux runs with (x86_64, most arm64 kernels): the limit is
then the smallest, whichever machine runs the preview."""
MAX_ARG_STRLEN: Final = 32 * PAGE_BYTES
"""Linux's cap on one argument or environment string, its NUL included (131072 bytes,
`MAX_ARG_STRLEN` in include/uapi/linux/binfmts.h)."""
CONFIG_ENV: Final = "PULUMI_CONFIG"
"""The variable that carries the stack config to the program."""
WARNING_FRACTION: Final = 0.75
"""From this share of `MAX_ARG_STRLEN` on, `validate` warns."""
GCM_TAG_BYTES: Final = 16
"""AES-GCM appends a 16-byte tag to the ciphertext (Go's `cipher.NewGCM`)."""
PEM_LINE_BYTES: Final = 64
"""Assumed bytes per line break of a secret: a PEM body's line length."""
ARMOUR_LINE_BREAKS: Final = 3
"""Line breaks a PEM/OpenSSH key has besides its body's: after its BEGIN line, after
the last (short) body line and after its END line."""
FIX: Final = (
    "move the hosts to an inventory file (`gpu-caas:tenant.inventory.file`) and declare "
    "each SSH key once under `gpu-caas:tenant.sshKeys`: the stack config then stays a few "
    "KiB at any number of hosts (docs/inventory.md)"
)
"""The way out, after what the in-config hosts weigh (`engine_env_problems`)."""
FIX_WITHOUT_HOSTS: Final = (
    "No host is listed in the stack file: keep them in the inventory file "
    "(`gpu-caas:tenant.inventory.file`) and each SSH key once under "
    "`gpu-caas:tenant.sshKeys` (docs/inventory.md), and look for other large values"
)
"""The way out when the hosts are in an inventory file already."""

_GO_ESCAPES: Final = {
    '"': '\\"',
    "\\": "\\\\",
    "\b": "\\b",
    "\f": "\\f",
    "\n": "\\n",
    "\r": "\\r",
    "\t": "\\t",
}
_GO_ESCAPED: Final = re.compile('[\x00-\x1f"\\\\<>&\u2028\u2029]')


def go_json_string(text: str) -> str:
    """`text` as Go's `json.Marshal` writes a string (HTML escaping on, as there).

    Quotes included; `len(go_json_string(t).encode())` is its size in bytes.
    """

    def escape(match: re.Match[str]) -> str:
        char = match.group()
        return _GO_ESCAPES.get(char) or f"\\u{ord(char):04x}"

    return '"' + _GO_ESCAPED.sub(escape, text) + '"'


def _go_float(value: float) -> str:
    """A float as Go's `encoding/json` writes it (shortest digits; exponent form only
    below 1e-6 and from 1e21, `e-7` not `e-07`)."""
    magnitude = abs(value)
    if magnitude != 0 and (magnitude < 1e-6 or magnitude >= 1e21):
        text = repr(value)
        return re.sub(r"e([-+])0(\d)$", r"e\g<1>\g<2>", text)
    text = format(Decimal(repr(value)), "f")
    return text.rstrip("0").rstrip(".") if "." in text else text


def _go_key(key: object) -> str:
    """A YAML mapping key as Go's config loader names it (`fmt.Sprintf("%v", k)`)."""
    if isinstance(key, bool):
        return "true" if key else "false"
    return str(key)


def _secure(value: object) -> str | None:
    """The ciphertext of a `{secure: <ciphertext>}` value (the engine's
    `isSecureValue`: a map whose only key is `secure`, holding a string), else None."""
    if isinstance(value, Mapping) and len(value) == 1:
        ciphertext = value.get("secure")
        if isinstance(ciphertext, str):
            return ciphertext
    return None


def plaintext_bytes(ciphertext: str) -> int:
    """The plaintext's length in UTF-8 bytes of one `secure:` value.

    `v1:<nonce>:<ciphertext>` (passphrase and cloud KMS providers): exact, the decoded
    ciphertext minus the 16-byte GCM tag. Anything else (the `service` provider):
    base64-decoded length, else the string's length, assumed to be upper bounds
    (module docstring).
    """
    parts = ciphertext.split(":")
    try:
        if len(parts) == 3 and parts[0] == "v1":
            return max(len(base64.b64decode(parts[2], validate=True)) - GCM_TAG_BYTES, 0)
        return len(base64.b64decode(ciphertext, validate=True))
    except (binascii.Error, ValueError):
        return len(ciphertext.encode("utf-8"))


def secret_line_breaks(plaintext: int) -> int:
    """Line breaks assumed in a secret of `plaintext` bytes (see the module docstring)."""
    return min(plaintext, plaintext // PEM_LINE_BYTES + ARMOUR_LINE_BREAKS)


def _render(value: Any, secrets: list[int]) -> str:
    """`value` as Go's `json.Marshal(Plaintext.GoValue())` writes it, each secret as
    `""` (its plaintext length appended to `secrets`)."""
    ciphertext = _secure(value)
    if ciphertext is not None:
        secrets.append(plaintext_bytes(ciphertext))
        return '""'
    if isinstance(value, Mapping):
        items = sorted(((_go_key(k), v) for k, v in value.items()), key=lambda kv: kv[0])
        return "{" + ",".join(f"{go_json_string(k)}:{_render(v, secrets)}" for k, v in items) + "}"
    if isinstance(value, list):
        return "[" + ",".join(_render(v, secrets) for v in value) + "]"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return _go_float(value)
    if value is None:
        return "null"
    if isinstance(value, str):
        return go_json_string(value)
    return go_json_string(str(value))  # dates and the like: close enough


def _utf8(text: str) -> int:
    return len(text.encode("utf-8", errors="replace"))


def config_key(key: object) -> str:
    """The key as the engine names it in the variable (`config.Key.String()`):
    `<namespace>:<name>`, the old `<namespace>:config:<name>` form shortened."""
    text = _go_key(key)
    parts = text.split(":")
    if len(parts) == 3 and parts[1] == "config":
        return f"{parts[0]}:{parts[2]}"
    return text


def value_bytes(value: Any) -> tuple[int, int]:
    """`(bytes, secrets)`: the size of one top-level value inside the variable, quotes
    included (an upper estimate when it holds secrets), and how many secrets it holds.

    A string is the string; a top-level secret is its plaintext; no value is `""`;
    anything else is its JSON text (`_render`), escaped a second time with its secrets
    in it.
    """
    ciphertext = _secure(value)
    if ciphertext is not None:
        plaintext = plaintext_bytes(ciphertext)
        return 2 + plaintext + secret_line_breaks(plaintext), 1
    if isinstance(value, str):
        return _utf8(go_json_string(value)), 0
    if value is None:
        # `key:` with no value: the engine passes "" (and warns that it will be null).
        return 2, 0
    secrets: list[int] = []
    text = _render(value, secrets)
    # Each `""` stands for a secret: escaped again it is `\"\"`, counted; the secret's
    # text adds its bytes and, per line break, `\\n` for the one byte counted.
    extra = sum(n + 2 * secret_line_breaks(n) for n in secrets)
    return _utf8(go_json_string(text)) + extra, len(secrets)


@dataclass(frozen=True)
class ConfigEnvSize:
    """The size of `PULUMI_CONFIG` for one stack file.

    Attributes:
        total: bytes of `PULUMI_CONFIG=<json>` plus the NUL, as the kernel counts it
            against `MAX_ARG_STRLEN`; exact without secrets, an upper estimate with them.
        secrets: `secure:` values in it (each decrypted by the engine).
        hosts: hosts listed in the stack file (`gpu-caas:tenant.hosts`), 0 when they
            are in an inventory file.
        hosts_bytes: bytes of `total` that are those hosts (and their keys).
    """

    total: int
    secrets: int
    hosts: int
    hosts_bytes: int

    @property
    def fraction(self) -> float:
        """`total` as a share of `MAX_ARG_STRLEN` (1.0 and above: the preview fails)."""
        return self.total / MAX_ARG_STRLEN


def config_env_size(config: Mapping[Any, Any]) -> ConfigEnvSize:
    """The size of `PULUMI_CONFIG` for a stack file's `config:` mapping (as YAML loads
    it: `{secure: ...}` values still encrypted)."""
    entries = 0
    secrets = 0
    sizes: dict[Any, int] = {}
    for key, value in config.items():
        sizes[key], count = value_bytes(value)
        entries += _utf8(go_json_string(config_key(key))) + 1 + sizes[key]
        secrets += count
    body = 2 + entries + max(len(config) - 1, 0)  # braces and commas
    tenant = config.get(ROOT)
    hosts = tenant.get("hosts") if isinstance(tenant, Mapping) else None
    hosts_bytes = 0
    if isinstance(hosts, list) and hosts:
        without = {k: v for k, v in tenant.items() if k != "hosts"}  # type: ignore[union-attr]
        hosts_bytes = sizes[ROOT] - value_bytes(without)[0]
    return ConfigEnvSize(
        total=len(CONFIG_ENV) + 1 + body + 1,  # `=` and the NUL
        secrets=secrets,
        hosts=len(hosts) if isinstance(hosts, list) else 0,
        hosts_bytes=hosts_bytes,
    )


def _describe(size: ConfigEnvSize) -> str:
    """What is measured and how big it is (`about`: secrets' sizes are estimates)."""
    secrets = f", its {plural(size.secrets, 'secret')} decrypted" if size.secrets else ""
    about = "about " if size.secrets else ""
    return (
        f"the stack config the engine hands the program in one environment variable "
        f"(`{CONFIG_ENV}`{secrets}) is {about}{size.total:,} bytes"
    )


def _fix(size: ConfigEnvSize) -> str:
    """The fix, as a sentence: what the in-config hosts weigh, when there are any."""
    if not size.hosts:
        return FIX_WITHOUT_HOSTS
    return (
        f"{size.hosts_bytes:,} bytes of it are the {plural(size.hosts, 'host')} listed in "
        f"the stack file: {FIX}"
    )


def engine_env_problems(document: Mapping[str, Any]) -> tuple[list[Problem], list[Problem]]:
    """`(errors, warnings)` about the size of `PULUMI_CONFIG` for one parsed stack file.

    An error when it is over `MAX_ARG_STRLEN` (the preview cannot start the program), a
    warning from `WARNING_FRACTION` of it. Problems of the whole file (empty key path):
    the caller names the file. They give sizes only, never a value.
    """
    config = document.get("config")
    if not isinstance(config, Mapping):
        return [], []
    size = config_env_size(config)
    if size.total > MAX_ARG_STRLEN:
        message = (
            f"{_describe(size)}, over Linux's limit of {MAX_ARG_STRLEN:,} bytes for one "
            "environment variable (MAX_ARG_STRLEN): `pulumi preview` and `pulumi up` would "
            f"stop with `fork/exec .../python: argument list too long`. {_fix(size)}"
        )
        return [Problem("", message)], []
    if size.fraction >= WARNING_FRACTION:
        message = (
            f"{_describe(size)}, {math.floor(size.fraction * 100)}% of Linux's limit of "
            f"{MAX_ARG_STRLEN:,} bytes for one environment variable (MAX_ARG_STRLEN), past "
            f"which `pulumi preview` stops with `argument list too long`. {_fix(size)}"
        )
        return [], [Problem("", message)]
    return [], []
