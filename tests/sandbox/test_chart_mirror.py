"""The local chart mirror: a Helm https repository and an OCI registry over TLS."""

from __future__ import annotations

import hashlib
import json
import socket
import ssl
import threading
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urljoin, urlsplit

import pytest
import yaml

from components.helm import chart_reference
from components.mirrors import Mirrors
from components.versions import HelmChart
from sandbox.chart_mirror import ChartMirror
from sandbox.chart_repository import (
    HELM_CHART_MEDIA_TYPE,
    HELM_CONFIG_MEDIA_TYPE,
    OCI_MANIFEST_MEDIA_TYPE,
)
from sandbox.standin_charts import (
    StandinChart,
    all_charts,
    build_standin_charts,
    load_standin_chart,
    package,
)
from sandbox.throwaway_ca import SYSTEM_CA_BUNDLE
from stacks.config.mirrors import MirrorsConfig


@dataclass(frozen=True)
class Reply:
    status: int
    headers: dict[str, str]
    body: bytes


def _plus_chart(directory: Path) -> StandinChart:
    """A chart whose version has build metadata (`+`), which OCI tags spell `_`."""
    metadata = {
        "apiVersion": "v2",
        "name": "plus",
        "version": "1.0.0+build.7",
        "type": "application",
    }
    path = directory / "plus-1.0.0+build.7.tgz"
    path.write_bytes(package("plus", {"Chart.yaml": yaml.safe_dump(metadata).encode()}))
    return load_standin_chart(
        path, HelmChart("oci://example.invalid/charts", "plus", "1.0.0+build.7")
    )


@pytest.fixture(scope="module")
def mirror(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ChartMirror]:
    workdir = tmp_path_factory.mktemp("mirror")
    charts = build_standin_charts(all_charts(), workdir / "charts")
    with ChartMirror([*charts, _plus_chart(workdir / "charts")], workdir) as running:
        yield running


@pytest.fixture(scope="module")
def tls(mirror: ChartMirror) -> ssl.SSLContext:
    return ssl.create_default_context(cafile=str(mirror.ca_file))


def _request(
    url: str, context: ssl.SSLContext, method: str = "GET", accept: str | None = None
) -> Reply:
    request = urllib.request.Request(url, method=method)
    if accept:
        request.add_header("Accept", accept)
    try:
        with urllib.request.urlopen(request, context=context, timeout=30) as response:
            return Reply(response.status, dict(response.headers), response.read())
    except urllib.error.HTTPError as error:
        return Reply(error.code, dict(error.headers), error.read())


def _sha256(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def _by_name(mirror: ChartMirror, name: str) -> StandinChart:
    return next(chart for chart in mirror.charts if chart.name == name)


# --------------------------------------------------------------------------- #
# Helm https repository
# --------------------------------------------------------------------------- #


def test_index_lists_every_chart_with_its_digest(mirror: ChartMirror, tls: ssl.SSLContext) -> None:
    reply = _request(f"{mirror.chart_repository_url}/index.yaml", tls)
    assert reply.status == 200
    index = yaml.safe_load(reply.body)
    assert index["apiVersion"] == "v1"
    assert set(index["entries"]) == {chart.name for chart in mirror.charts}
    for chart in mirror.charts:
        (entry,) = index["entries"][chart.name]
        assert (entry["name"], entry["version"], entry["apiVersion"]) == (
            chart.name,
            chart.version,
            "v2",
        )
        assert entry["created"]
        (url,) = entry["urls"]
        # Helm resolves relative URLs against the repository URL (repo.ResolveReferenceURL).
        package_reply = _request(urljoin(mirror.chart_repository_url + "/", url), tls)
        assert package_reply.status == 200
        assert _sha256(package_reply.body) == "sha256:" + entry["digest"]
        assert package_reply.body == chart.path.read_bytes()


def test_tls_needs_our_ca_and_names_localhost(mirror: ChartMirror, tls: ssl.SSLContext) -> None:
    url = f"{mirror.chart_repository_url}/index.yaml"
    with pytest.raises(urllib.error.URLError, match="CERTIFICATE_VERIFY_FAILED"):
        urllib.request.urlopen(url, context=ssl.create_default_context(), timeout=30)
    assert _request(f"https://localhost:{mirror.port}/v2/", tls).status == 200


# --------------------------------------------------------------------------- #
# OCI registry
# --------------------------------------------------------------------------- #


def test_registry_api_version_check(mirror: ChartMirror, tls: ssl.SSLContext) -> None:
    reply = _request(f"{mirror.base_url}/v2/", tls)
    assert reply.status == 200
    assert reply.headers["Docker-Distribution-API-Version"] == "registry/2.0"


def _manifest(mirror: ChartMirror, tls: ssl.SSLContext, name: str, reference: str) -> Reply:
    url = f"{mirror.base_url}/v2/charts/{name}/manifests/{reference}"
    return _request(url, tls, accept=OCI_MANIFEST_MEDIA_TYPE)


def test_oci_pull_of_every_chart(mirror: ChartMirror, tls: ssl.SSLContext) -> None:
    for chart in mirror.charts:
        tag = chart.version.replace("+", "_")
        reply = _manifest(mirror, tls, chart.name, tag)
        assert reply.status == 200, chart.name
        assert reply.headers["Content-Type"] == OCI_MANIFEST_MEDIA_TYPE
        assert reply.headers["Docker-Content-Digest"] == _sha256(reply.body)
        assert int(reply.headers["Content-Length"]) == len(reply.body)
        manifest = json.loads(reply.body)
        assert (manifest["schemaVersion"], manifest["mediaType"]) == (2, OCI_MANIFEST_MEDIA_TYPE)
        assert manifest["config"]["mediaType"] == HELM_CONFIG_MEDIA_TYPE
        (layer,) = manifest["layers"]
        assert layer["mediaType"] == HELM_CHART_MEDIA_TYPE
        blobs = {}
        for descriptor in (manifest["config"], layer):
            blob = _request(
                f"{mirror.base_url}/v2/charts/{chart.name}/blobs/{descriptor['digest']}", tls
            )
            assert blob.status == 200
            assert (
                _sha256(blob.body) == descriptor["digest"] == blob.headers["Docker-Content-Digest"]
            )
            assert len(blob.body) == descriptor["size"]
            blobs[descriptor["mediaType"]] = blob.body
        # Helm reads Chart.yaml metadata from the config and the chart from the layer.
        assert json.loads(blobs[HELM_CONFIG_MEDIA_TYPE]) == dict(chart.metadata)
        assert blobs[HELM_CHART_MEDIA_TYPE] == chart.path.read_bytes()
        # The same manifest by digest.
        by_digest = _manifest(mirror, tls, chart.name, reply.headers["Docker-Content-Digest"])
        assert by_digest.body == reply.body


def test_plus_in_versions_becomes_underscore_in_tags(
    mirror: ChartMirror, tls: ssl.SSLContext
) -> None:
    assert _manifest(mirror, tls, "plus", "1.0.0_build.7").status == 200
    tags = json.loads(_request(f"{mirror.base_url}/v2/charts/plus/tags/list", tls).body)
    assert tags == {"name": "charts/plus", "tags": ["1.0.0_build.7"]}


def test_head_requests(mirror: ChartMirror, tls: ssl.SSLContext) -> None:
    get = _manifest(mirror, tls, "kai-scheduler", "v0.13.0")
    url = f"{mirror.base_url}/v2/charts/kai-scheduler/manifests/v0.13.0"
    head = _request(url, tls, method="HEAD")
    assert (head.status, head.body) == (200, b"")
    for header in ("Content-Type", "Content-Length", "Docker-Content-Digest"):
        assert head.headers[header] == get.headers[header]
    layer = json.loads(get.body)["layers"][0]
    blob = _request(
        f"{mirror.base_url}/v2/charts/kai-scheduler/blobs/{layer['digest']}", tls, "HEAD"
    )
    assert (blob.status, blob.body) == (200, b"")
    assert int(blob.headers["Content-Length"]) == layer["size"]


@pytest.mark.parametrize(
    ("path", "code"),
    [
        ("/v2/charts/kai-scheduler/manifests/v9.9.9", "MANIFEST_UNKNOWN"),
        ("/v2/charts/nope/manifests/v0.13.0", "NAME_UNKNOWN"),
        ("/v2/charts/kai-scheduler/blobs/sha256:" + "0" * 64, "BLOB_UNKNOWN"),
        ("/v2/charts/kai-scheduler/manifests/sha256:" + "0" * 64, "MANIFEST_UNKNOWN"),
        ("/v2/other/kai-scheduler/manifests/v0.13.0", "NAME_UNKNOWN"),
        ("/charts/nope-1.0.0.tgz", "NOT_FOUND"),
        ("/", "NOT_FOUND"),
    ],
)
def test_unknown_is_404(mirror: ChartMirror, tls: ssl.SSLContext, path: str, code: str) -> None:
    reply = _request(mirror.base_url + path, tls)
    assert reply.status == 404
    assert json.loads(reply.body)["errors"][0]["code"] == code
    assert _request(mirror.base_url + path, tls, method="HEAD").status == 404


def test_read_only(mirror: ChartMirror, tls: ssl.SSLContext) -> None:
    assert (
        _request(f"{mirror.base_url}/v2/charts/kai-scheduler/blobs/uploads/", tls, "POST").status
        == 405
    )


# --------------------------------------------------------------------------- #
# Stack config -> Mirrors.chart -> chart_reference -> this server
# --------------------------------------------------------------------------- #


def test_stack_config_pulls_every_pinned_chart_from_the_mirror(
    mirror: ChartMirror, tls: ssl.SSLContext
) -> None:
    config = MirrorsConfig.model_validate(mirror.mirrors_config(all_charts()))
    mirrors = Mirrors(
        chart_repositories=dict(config.chart_repositories),
        default_chart_repository=config.default_chart_repository,
    )
    kinds = set()
    for upstream in all_charts():
        chart, repository = chart_reference(mirrors.chart(upstream))
        if repository is None:  # OCI: Helm pulls <host>/<path>:<version, + as _>
            kinds.add("oci")
            parsed = urlsplit(chart)
            assert (parsed.scheme, parsed.hostname, parsed.port) == (
                "oci",
                "127.0.0.1",
                mirror.port,
            )
            tag = upstream.version.replace("+", "_")
            reply = _request(f"https://{parsed.netloc}/v2{parsed.path}/manifests/{tag}", tls)
            layer = json.loads(reply.body)["layers"][0]
            url = f"https://{parsed.netloc}/v2{parsed.path}/blobs/{layer['digest']}"
        else:  # https: index.yaml of the repository, then the entry's URL
            kinds.add("https")
            assert repository == mirror.chart_repository_url
            index = yaml.safe_load(_request(f"{repository}/index.yaml", tls).body)
            (entry,) = [e for e in index["entries"][chart] if e["version"] == upstream.version]
            url = urljoin(repository + "/", entry["urls"][0])
        data = _request(url, tls).body
        assert data == _by_name(mirror, upstream.chart).path.read_bytes(), upstream
    assert kinds == {"oci", "https"}
    assert mirror.mirrors_config() == mirror.mirrors_config(
        [chart.chart for chart in mirror.charts]
    )


def test_mirrors_config_shape(mirror: ChartMirror) -> None:
    config = mirror.mirrors_config(all_charts())
    assert config["defaultChartRepository"] == f"https://127.0.0.1:{mirror.port}/charts"
    oci_upstreams = {c.repository for c in all_charts() if c.is_oci}
    assert set(config["chartRepositories"]) == oci_upstreams
    assert set(config["chartRepositories"].values()) == {f"oci://127.0.0.1:{mirror.port}/charts"}


def test_mirrors_config_refuses_charts_it_does_not_serve(mirror: ChartMirror) -> None:
    with pytest.raises(ValueError, match="does not serve: gpu-operator v0.0.1"):
        mirror.mirrors_config(
            [HelmChart("https://helm.ngc.nvidia.com/nvidia", "gpu-operator", "v0.0.1")]
        )


# --------------------------------------------------------------------------- #
# Trust, request log, logging, shutdown
# --------------------------------------------------------------------------- #


def test_trust_env(mirror: ChartMirror) -> None:
    env = mirror.trust_env({"PATH": "/usr/bin", "NO_PROXY": "corp.example"})
    assert env["PATH"] == "/usr/bin"
    assert env["NO_PROXY"] == "corp.example,127.0.0.1,localhost"
    assert env["no_proxy"] == "127.0.0.1,localhost"
    bundle = Path(env["SSL_CERT_FILE"]).read_bytes()
    assert bundle.endswith(mirror.ca_file.read_bytes())
    if SYSTEM_CA_BUNDLE.is_file():
        assert bundle.startswith(SYSTEM_CA_BUNDLE.read_bytes().rstrip(b"\n"))
    # The bundle alone verifies the mirror (what Go does with SSL_CERT_FILE).
    context = ssl.create_default_context(cafile=env["SSL_CERT_FILE"])
    assert _request(f"{mirror.base_url}/v2/", context).status == 200


def test_requests_are_recorded(mirror: ChartMirror, tls: ssl.SSLContext) -> None:
    _request(f"{mirror.base_url}/v2/charts/kai-scheduler/manifests/v0.13.0?x=1", tls, "HEAD")
    assert mirror.requests[-1] == ("HEAD", "/v2/charts/kai-scheduler/manifests/v0.13.0", 200)
    assert ("GET", "/charts/index.yaml", 200) in mirror.requests


def test_stops_on_exit_and_logs_to_its_workdir(
    tmp_path: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    charts = build_standin_charts([all_charts()[0]], tmp_path / "charts")
    before = set(threading.enumerate())
    with ChartMirror(tmp_path / "charts", tmp_path) as running:
        port = running.port
        context = ssl.create_default_context(cafile=str(running.ca_file))
        assert (
            _request(f"{running.chart_repository_url}/{charts[0].path.name}", context).status == 200
        )
        # A client that never finishes its TLS handshake does not block the server.
        with socket.create_connection(("127.0.0.1", port)):
            assert _request(f"{running.base_url}/v2/", context).status == 200
    with socket.socket() as probe:
        assert probe.connect_ex(("127.0.0.1", port)) != 0
    assert set(threading.enumerate()) <= before
    log = (tmp_path / "chart-mirror.log").read_text()
    assert f"GET /charts/{charts[0].path.name}" in log
    out, err = capfd.readouterr()
    assert (out, err) == ("", "")


def test_not_started(tmp_path: Path) -> None:
    idle = ChartMirror([], tmp_path)
    for attribute in ("port", "ca_file"):
        with pytest.raises(RuntimeError, match="not started"):
            getattr(idle, attribute)
    idle.stop()  # idempotent
