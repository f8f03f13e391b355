"""A local chart mirror: stand-in charts over HTTPS on 127.0.0.1, as Helm v3 pulls them.

    with ChartMirror(build_standin_charts(all_charts(), tmp / "charts"), tmp) as mirror:
        config = mirror.mirrors_config()                   # stack config `mirrors:` block
        env = mirror.trust_env(os.environ)                 # for the pulumi/provider process
        ...                                                # pulumi up
        assert ("GET", "/charts/index.yaml", 200) in mirror.requests

One server (stdlib `http.server` + `ssl`, a background thread, a throwaway CA) serves
the same packages two ways, so both of Helm's pull paths are exercised:

* a Helm chart repository at `https://127.0.0.1:<port>/charts`: `GET index.yaml` and
  `GET <name>-<version>.tgz` (what `repo.FindChartInAuthAndTLSAndPassRepoURL` and the
  HTTP getter fetch, https://github.com/helm/helm/blob/v3.18.6/pkg/repo/chartrepo.go);
* a read-only OCI registry (distribution spec,
  https://github.com/opencontainers/distribution-spec/blob/main/spec.md#pull):
  `GET /v2/`, `GET|HEAD /v2/<prefix>/<chart>/manifests/<tag|digest>`,
  `GET|HEAD /v2/<prefix>/<chart>/blobs/<digest>` and `GET .../tags/list`: what
  Helm's `registry.Client.Pull` asks for through oras-go
  (`manifestStore.FetchReference`, `blobStore.Fetch` in
  https://github.com/oras-project/oras-go/blob/v2.6.0/registry/remote/repository.go).

Trust: Helm's HTTP getter and registry client build their TLS config from the
system pool unless a CA file is configured for the repository
(pkg/getter/httpgetter.go, pkg/getter/ocigetter.go, pkg/registry/transport.go in
v3.18.6: no `caFile` -> `TLSClientConfig` nil -> Go's system roots), and on Linux Go
reads the system roots from `$SSL_CERT_FILE` when set. `trust_env` sets it to a
bundle of the system CAs plus ours. (With a `caFile`, Helm's `tlsutil.NewClientTLS`
trusts that file only.)

Requests are logged to `<workdir>/chart-mirror.log`, never to stdout or stderr.
"""

from __future__ import annotations

import json
import os
import re
import ssl
import threading
import traceback
from collections.abc import Callable, Iterable, Mapping
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import TracebackType
from typing import Any, TextIO
from urllib.parse import urlsplit

from components.versions import HelmChart
from sandbox.chart_repository import OciChart, index_yaml, oci_chart, oci_tag
from sandbox.standin_charts import StandinChart, load_standin_chart
from sandbox.throwaway_ca import ServerCertificate, make_server_certificate, trust_bundle

HOST = "127.0.0.1"
"""The address the mirror listens on (and its certificate names)."""
CHARTS_PATH = "/charts"
"""Path of the Helm chart repository."""
OCI_PREFIX = "charts"
"""Registry path every OCI chart is served under: `oci://127.0.0.1:<port>/charts/<chart>`."""
REQUEST_TIMEOUT_SECONDS = 30.0
"""Socket timeout per connection (TLS handshake and request)."""

_MANIFEST = re.compile(r"^/v2/(?P<name>.+)/(?P<kind>manifests|blobs)/(?P<reference>[^/]+)$")
_TAGS = re.compile(r"^/v2/(?P<name>.+)/tags/list$")

Response = tuple[int, dict[str, str], bytes]


class ChartMirror:
    """Serve stand-in charts as a Helm https repository and an OCI registry.

    Args:
        charts: a directory of `*.tgz` stand-in packages, or `StandinChart`s, or
            package paths.
        workdir: where the certificates, the trust bundle and the log go (created).
        oci_prefix: registry path of the OCI charts (lowercase).

    A context manager: `__enter__` generates the CA and starts the server on a free
    port; `__exit__` stops it and waits for its threads.
    """

    def __init__(
        self,
        charts: Path | Iterable[StandinChart | Path],
        workdir: Path,
        *,
        oci_prefix: str = OCI_PREFIX,
    ) -> None:
        self.workdir = workdir
        self.oci_prefix = oci_prefix
        self._charts = _load(charts)
        self._requests: list[tuple[str, str, int]] = []
        self._lock = threading.Lock()
        self._server: _TlsServer | None = None
        self._thread: threading.Thread | None = None
        self._certificate: ServerCertificate | None = None
        self._bundle: Path | None = None
        self._routes = _Routes(self._charts, oci_prefix)

    # ------------------------------------------------------------------ lifecycle

    def __enter__(self) -> ChartMirror:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()

    def start(self) -> None:
        """Make the certificates and start serving in a background thread.

        Raises:
            RuntimeError: when already started, or `openssl` fails.
        """
        if self._server is not None:
            raise RuntimeError("chart mirror already started")
        self.workdir.mkdir(parents=True, exist_ok=True)
        certificate = make_server_certificate(self.workdir / "tls")
        self._bundle = trust_bundle(certificate.ca_file, self.workdir / "tls" / "trust-bundle.pem")
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.minimum_version = ssl.TLSVersion.TLSv1_2
        context.load_cert_chain(certificate.cert_file, certificate.key_file)
        log = (self.workdir / "chart-mirror.log").open("a", encoding="utf-8")
        server = _TlsServer((HOST, 0), _Handler, context, self._routes, self._record, log)
        self._certificate = certificate
        self._server = server
        self._thread = threading.Thread(
            target=server.serve_forever, kwargs={"poll_interval": 0.1}, name="chart-mirror"
        )
        self._thread.start()

    def stop(self) -> None:
        """Stop serving, wait for every request thread, close the port. Idempotent."""
        server, thread = self._server, self._thread
        if server is None:
            return
        server.shutdown()
        server.server_close()  # joins the request threads (block_on_close)
        if thread is not None:
            thread.join()
        server.log.close()
        self._server = None
        self._thread = None

    # ------------------------------------------------------------------ addresses

    @property
    def port(self) -> int:
        """The TCP port (raises `RuntimeError` before `start`)."""
        return int(self._running().server_address[1])

    @property
    def base_url(self) -> str:
        """`https://127.0.0.1:<port>`."""
        return f"https://{HOST}:{self.port}"

    @property
    def chart_repository_url(self) -> str:
        """The Helm https repository: `https://127.0.0.1:<port>/charts`."""
        return self.base_url + CHARTS_PATH

    @property
    def oci_repository(self) -> str:
        """The OCI repository charts are under: `oci://127.0.0.1:<port>/<prefix>`."""
        return f"oci://{HOST}:{self.port}/{self.oci_prefix}"

    @property
    def charts(self) -> tuple[StandinChart, ...]:
        """The served charts."""
        return self._charts

    def mirrors_config(self, charts: Iterable[HelmChart] | None = None) -> dict[str, Any]:
        """The stack config `mirrors:` block that pulls `charts` from this mirror.

        `charts` are upstream charts (components/versions.py); default: the upstream
        charts of every served stand-in.

        camelCase as `stacks.config.mirrors.MirrorsConfig`: `defaultChartRepository`
        (the https repository: every https chart) and `chartRepositories` mapping each
        OCI upstream (`oci://ghcr.io/nvidia/kai-scheduler`) to `oci_repository`, so
        `Mirrors.chart` + `components.helm.chart_reference` give
        `oci://127.0.0.1:<port>/<prefix>/<chart>`.

        Raises:
            ValueError: naming every chart (name and version) the mirror does not serve.
        """
        wanted = [chart.chart for chart in self._charts] if charts is None else list(charts)
        served = {(chart.name, chart.version) for chart in self._charts}
        missing = sorted(
            f"{c.chart} {c.version}" for c in wanted if (c.chart, c.version) not in served
        )
        if missing:
            raise ValueError(f"the chart mirror does not serve: {', '.join(missing)}")
        oci = {c.repository.rstrip("/"): self.oci_repository for c in wanted if c.is_oci}
        return {
            "defaultChartRepository": self.chart_repository_url,
            "chartRepositories": dict(sorted(oci.items())),
        }

    # ------------------------------------------------------------------ trust

    @property
    def ca_file(self) -> Path:
        """The throwaway CA certificate (PEM)."""
        if self._certificate is None:
            raise RuntimeError("chart mirror not started")
        return self._certificate.ca_file

    def trust_env(self, base_env: Mapping[str, str] | None = None) -> dict[str, str]:
        """Environment for a child process (the Go provider) that trusts the mirror.

        Args:
            base_env: the environment to extend; default `os.environ`.

        Returns:
            A copy with `SSL_CERT_FILE` = system CAs + our CA, and 127.0.0.1 and
            localhost added to `NO_PROXY`/`no_proxy` (Go never proxies loopback
            addresses, other clients might).
        """
        if self._bundle is None:
            raise RuntimeError("chart mirror not started")
        env = dict(os.environ if base_env is None else base_env)
        env["SSL_CERT_FILE"] = str(self._bundle)
        for key in ("NO_PROXY", "no_proxy"):
            present = [item for item in env.get(key, "").split(",") if item]
            extra = [item for item in (HOST, "localhost") if item not in present]
            env[key] = ",".join(present + extra)
        return env

    # ------------------------------------------------------------------ request log

    @property
    def requests(self) -> list[tuple[str, str, int]]:
        """Every request so far as `(method, path, status)`, in order (a copy)."""
        with self._lock:
            return list(self._requests)

    def _record(self, method: str, path: str, status: int) -> None:
        with self._lock:
            self._requests.append((method, path, status))

    def _running(self) -> _TlsServer:
        if self._server is None:
            raise RuntimeError("chart mirror not started")
        return self._server


def _load(charts: Path | Iterable[StandinChart | Path]) -> tuple[StandinChart, ...]:
    if isinstance(charts, Path):
        if not charts.is_dir():
            raise ValueError(f"{charts} is not a directory of chart packages")
        items: list[StandinChart | Path] = list(sorted(charts.glob("*.tgz")))
    else:
        items = list(charts)
    loaded = [
        item if isinstance(item, StandinChart) else load_standin_chart(item) for item in items
    ]
    names = [item.path.name for item in loaded]
    duplicates = sorted({name for name in names if names.count(name) > 1})
    if duplicates:
        raise ValueError(f"chart packages given twice: {duplicates}")
    return tuple(loaded)


class _Routes:
    """Everything the mirror serves, precomputed; `respond` maps a request to a response."""

    def __init__(self, charts: Iterable[StandinChart], oci_prefix: str) -> None:
        charts = tuple(charts)
        self.files: dict[str, bytes] = {
            f"{CHARTS_PATH}/index.yaml": index_yaml(charts),
            **{f"{CHARTS_PATH}/{chart.path.name}": chart.path.read_bytes() for chart in charts},
        }
        self.oci: dict[str, dict[str, OciChart]] = {}
        for chart in charts:
            artifact = oci_chart(chart, oci_prefix)
            self.oci.setdefault(artifact.repository, {})[artifact.tag] = artifact

    def respond(self, path: str) -> Response:
        if path in self.files:
            content_type = "application/yaml" if path.endswith(".yaml") else "application/gzip"
            return _ok(self.files[path], content_type)
        if path in ("/v2", "/v2/"):
            return _ok(b"{}", "application/json")
        tags = _TAGS.match(path)
        if tags:
            repository = self.oci.get(tags["name"])
            if repository is None:
                return _oci_error(HTTPStatus.NOT_FOUND, "NAME_UNKNOWN", tags["name"])
            body = {"name": tags["name"], "tags": sorted(repository)}
            return _ok(json.dumps(body).encode(), "application/json")
        match = _MANIFEST.match(path)
        if match is None:
            return _oci_error(HTTPStatus.NOT_FOUND, "NOT_FOUND", path)
        repository = self.oci.get(match["name"])
        if repository is None:
            return _oci_error(HTTPStatus.NOT_FOUND, "NAME_UNKNOWN", match["name"])
        reference = match["reference"]
        if match["kind"] == "manifests":
            for artifact in repository.values():
                if reference in (artifact.tag, artifact.manifest.digest) or (
                    oci_tag(reference) == artifact.tag
                ):
                    blob = artifact.manifest
                    return _ok(blob.data, blob.media_type, digest=blob.digest)
            return _oci_error(HTTPStatus.NOT_FOUND, "MANIFEST_UNKNOWN", reference)
        for artifact in repository.values():
            found = artifact.blobs().get(reference)
            if found is not None:
                return _ok(found.data, "application/octet-stream", digest=found.digest)
        return _oci_error(HTTPStatus.NOT_FOUND, "BLOB_UNKNOWN", reference)


def _ok(body: bytes, content_type: str, *, digest: str | None = None) -> Response:
    headers = {"Content-Type": content_type}
    if digest is not None:
        headers["Docker-Content-Digest"] = digest
    return HTTPStatus.OK, headers, body


def _oci_error(status: HTTPStatus, code: str, detail: str) -> Response:
    body = {"errors": [{"code": code, "message": f"{code.lower()}: {detail}", "detail": detail}]}
    return status, {"Content-Type": "application/json"}, json.dumps(body).encode()


class _TlsServer(ThreadingHTTPServer):
    """Accepts in the serving thread; the TLS handshake runs in each request thread,
    so a client that never finishes its handshake cannot block the accept loop."""

    daemon_threads = False
    block_on_close = True

    def __init__(
        self,
        address: tuple[str, int],
        handler: type[BaseHTTPRequestHandler],
        context: ssl.SSLContext,
        routes: _Routes,
        record: Callable[[str, str, int], None],
        log: TextIO,
    ) -> None:
        super().__init__(address, handler)
        self.context = context
        self.routes = routes
        self.record = record
        self.log = log
        self.log_lock = threading.Lock()

    def write_log(self, line: str) -> None:
        with self.log_lock:
            self.log.write(line + "\n")
            self.log.flush()

    def handle_error(self, request: Any, client_address: Any) -> None:
        # socketserver prints these to stderr; keep them in the log.
        self.write_log(f"{client_address[0]} request failed:\n{traceback.format_exc()}")

    def finish_request(self, request: Any, client_address: Any) -> None:
        request.settimeout(REQUEST_TIMEOUT_SECONDS)
        try:
            connection = self.context.wrap_socket(request, server_side=True)
        except (ssl.SSLError, OSError) as error:
            self.write_log(f"{client_address[0]} TLS handshake failed: {error}")
            return
        try:
            super().finish_request(connection, client_address)
        finally:
            connection.close()


class _Handler(BaseHTTPRequestHandler):
    server: _TlsServer
    server_version = "gpu-caas-chart-mirror"

    def version_string(self) -> str:
        return self.server_version

    def do_GET(self) -> None:  # http.server's naming
        self._serve(body=True)

    def do_HEAD(self) -> None:
        self._serve(body=False)

    def _serve(self, *, body: bool) -> None:
        path = urlsplit(self.path).path
        status, headers, content = self.server.routes.respond(path)
        self.server.record(self.command, path, int(status))
        self.send_response(status)
        headers.setdefault("Content-Length", str(len(content)))
        if path.startswith("/v2"):
            headers["Docker-Distribution-API-Version"] = "registry/2.0"
        for name, value in headers.items():
            self.send_header(name, value)
        self.end_headers()
        if body:
            self.wfile.write(content)

    def _refuse(self) -> None:
        path = urlsplit(self.path).path
        self.server.record(self.command, path, HTTPStatus.METHOD_NOT_ALLOWED)
        self.send_response(HTTPStatus.METHOD_NOT_ALLOWED)
        self.send_header("Allow", "GET, HEAD")
        self.send_header("Content-Length", "0")
        self.end_headers()

    do_POST = do_PUT = do_PATCH = do_DELETE = _refuse  # a read-only mirror

    def log_message(self, format: str, *args: Any) -> None:
        self.server.write_log(f"{self.address_string()} {format % args}")
