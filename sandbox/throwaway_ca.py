"""A short-lived CA and a server certificate for 127.0.0.1, made with the `openssl` CLI.

The chart mirror must speak HTTPS: Helm's registry client only uses plain HTTP when
told to, and the kubernetes provider gives no way to tell it. The CA lives for one
test session; `trust_bundle` writes the file a Go child process is pointed at with
`SSL_CERT_FILE` (Go's crypto/x509 reads it instead of the system bundle on Linux,
https://pkg.go.dev/crypto/x509#SystemCertPool).

Certificates follow what Go and Python's strict verification expect
(https://pkg.go.dev/crypto/x509#Certificate.Verify): subjectAltName for the names
(the common name is ignored), critical basicConstraints and keyUsage, key IDs.
"""

from __future__ import annotations

import secrets
import shutil
import subprocess
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

SYSTEM_CA_BUNDLE = Path("/etc/ssl/certs/ca-certificates.crt")
"""Debian/Ubuntu's system CA bundle (Go's first candidate on Linux)."""

_CA_CONFIG = """\
[req]
distinguished_name = dn
x509_extensions = v3_ca
prompt = no

[dn]
CN = gpu-caas sandbox chart mirror CA

[v3_ca]
basicConstraints = critical, CA:TRUE, pathlen:0
keyUsage = critical, keyCertSign, cRLSign
subjectKeyIdentifier = hash
"""

_CSR_CONFIG = """\
[req]
distinguished_name = dn
prompt = no

[dn]
CN = 127.0.0.1
"""

_SERVER_EXTENSIONS = """\
basicConstraints = critical, CA:FALSE
keyUsage = critical, digitalSignature
extendedKeyUsage = serverAuth
subjectAltName = IP:127.0.0.1, DNS:localhost
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid, issuer
"""


@dataclass(frozen=True)
class ServerCertificate:
    """Files of a throwaway CA and the server certificate it signed."""

    ca_file: Path
    """The CA certificate (PEM): what a client trusts."""
    cert_file: Path
    """The server certificate (PEM), for IP 127.0.0.1 and DNS localhost."""
    key_file: Path
    """The server's private key (PEM, unencrypted, mode 0600)."""


def _openssl(args: Sequence[str], cwd: Path) -> None:
    openssl = shutil.which("openssl")
    if openssl is None:
        raise RuntimeError("the openssl CLI is needed to make the chart mirror's certificate")
    result = subprocess.run([openssl, *args], cwd=cwd, capture_output=True, text=True, check=False)
    if result.returncode != 0:
        raise RuntimeError(f"openssl {' '.join(args)} failed:\n{result.stderr}")


def make_server_certificate(directory: Path, *, days: int = 2) -> ServerCertificate:
    """Create a CA and a server certificate for 127.0.0.1/localhost in `directory`.

    Keys are EC P-256. Files: `ca.crt`, `server.crt`, `server.key` (and the CA key,
    `ca.key`, which nothing else needs).

    Raises:
        RuntimeError: when the `openssl` CLI is missing or fails.
    """
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "ca.cnf").write_text(_CA_CONFIG)
    (directory / "csr.cnf").write_text(_CSR_CONFIG)
    (directory / "server.ext").write_text(_SERVER_EXTENSIONS)
    ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes"]
    _openssl(
        [
            "req",
            "-x509",
            *ec,
            *["-config", "ca.cnf", "-keyout", "ca.key", "-out", "ca.crt", "-days"],
            str(days),
        ],
        directory,
    )
    _openssl(
        ["req", "-new", *ec, "-config", "csr.cnf", "-keyout", "server.key", "-out", "server.csr"],
        directory,
    )
    serial = "0x" + secrets.token_hex(16)
    _openssl(
        [
            *["x509", "-req", "-in", "server.csr", "-CA", "ca.crt", "-CAkey", "ca.key", "-sha256"],
            *["-set_serial", serial, "-days", str(days), "-extfile", "server.ext"],
            *["-out", "server.crt"],
        ],
        directory,
    )
    for key in ("ca.key", "server.key"):
        (directory / key).chmod(0o600)
    return ServerCertificate(
        directory / "ca.crt", directory / "server.crt", directory / "server.key"
    )


def trust_bundle(ca_file: Path, destination: Path, system_bundle: Path = SYSTEM_CA_BUNDLE) -> Path:
    """Write the system CA bundle (when present) followed by `ca_file` to `destination`.

    Pointing `SSL_CERT_FILE` at the result makes a Go process trust our CA without
    losing the public ones.
    """
    parts = []
    if system_bundle.is_file():
        parts.append(system_bundle.read_bytes().rstrip(b"\n") + b"\n")
    parts.append(ca_file.read_bytes())
    destination.write_bytes(b"".join(parts))
    return destination
