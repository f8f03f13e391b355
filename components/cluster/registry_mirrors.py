"""containerd registry mirrors on the hosts gpu-caas bootstraps (air-gapped providers).

Chart values can point a chart's own images at a mirror, but not every image a
cluster pulls is reachable that way (sidecars, images an operator picks at run
time such as the driver or DOCA containers, NVSentinel's many images). containerd
can redirect every pull of a registry to a mirror with one file per registry,
`/etc/containerd/certs.d/<registry>/hosts.toml`, so each host gpu-caas joins gets
those files from `mirrors.imageRegistries` before kubeadm runs.

Docs: https://github.com/containerd/containerd/blob/main/docs/hosts.md
"""

from __future__ import annotations

from collections.abc import Mapping

CERTS_DIR = "/etc/containerd/certs.d"
"""containerd's registry host directory; the CRI plugin must read it (`config_path`)."""


def _mirror_url(mirror: str) -> tuple[str, bool]:
    """(host URL, override_path) for a mirror given as `host[/path]` or a URL.

    A mirror with a path (a Harbor project, `harbor.example/nvcr`) is addressed by
    its full API path with `override_path`, because containerd would otherwise
    append `/v2` after the host only and lose the project.
    """
    url = mirror if "://" in mirror else f"https://{mirror}"
    scheme, rest = url.split("://", 1)
    host, _, path = rest.partition("/")
    path = path.strip("/")
    if not path:
        return f"{scheme}://{host}", False
    return f"{scheme}://{host}/v2/{path}", True


def hosts_toml(registry: str, mirror: str) -> str:
    """The hosts.toml that sends pulls of `registry` to `mirror`.

    `server` stays the upstream registry: pulls go to the mirror, and only if it
    cannot serve them to upstream (which an air-gapped host cannot reach anyway).
    """
    url, override_path = _mirror_url(mirror)
    lines = [
        f'server = "https://{registry}"',
        "",
        f'[host."{url}"]',
        '  capabilities = ["pull", "resolve"]',
    ]
    if override_path:
        lines.append("  override_path = true")
    return "\n".join(lines) + "\n"


def mirror_files(mirrors: Mapping[str, str]) -> dict[str, str]:
    """Path -> content of every hosts.toml for `mirrors` (registry -> mirror)."""
    return {
        f"{CERTS_DIR}/{registry}/hosts.toml": hosts_toml(registry, mirror)
        for registry, mirror in sorted(mirrors.items())
    }


_CONFIG_PATH_HINT = (
    f"containerd on this host does not read {CERTS_DIR}: set "
    f'config_path = \\"{CERTS_DIR}\\" in the CRI registry section of '
    "/etc/containerd/config.toml (containerd 2.x reads it by default), then restart containerd"
)
_CHECK_CONFIG_PATH = (
    "if ! $SUDO containerd config dump 2>/dev/null "
    f"| grep -q 'config_path = \".*{CERTS_DIR}'; then\n"
    f'  echo "{_CONFIG_PATH_HINT}" >&2\n'
    "  exit 1\n"
    "fi\n"
)


def apply_script(mirrors: Mapping[str, str]) -> str:
    """Shell that writes the hosts.toml files (mirrors are not secret) and checks
    that containerd reads them; containerd picks up new files without a restart."""
    script = ["set -eu", 'SUDO=""', '[ "$(id -u)" = 0 ] || SUDO="sudo -n"', _CHECK_CONFIG_PATH]
    for path, content in mirror_files(mirrors).items():
        directory = path.rsplit("/", 1)[0]
        script.append(f"$SUDO mkdir -p '{directory}'")
        script.append(f"$SUDO tee '{path}' >/dev/null <<'GPU_CAAS_EOF'\n{content}GPU_CAAS_EOF")
    script.append("echo registry mirrors configured")
    return "\n".join(script) + "\n"


def remove_script(mirrors: Mapping[str, str]) -> str:
    """Shell that removes exactly the files `apply_script` wrote."""
    script = ["set -eu", 'SUDO=""', '[ "$(id -u)" = 0 ] || SUDO="sudo -n"']
    for path in mirror_files(mirrors):
        script.append(f"$SUDO rm -f '{path}'")
    return "\n".join(script) + "\n"
