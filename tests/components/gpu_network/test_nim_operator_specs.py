"""Pure tests of the NIM Operator specs and values, validated against the v3.1.2 CRDs."""

from __future__ import annotations

import base64
import json

import pytest

from components.gpu import nim_operator as nim
from components.gpu.nim_operator import NimModel
from components.mirrors import Mirrors
from tests.support.upstream import assert_values_keys_known, crd_path, validate_custom_resource

MIRRORS = Mirrors(
    image_registries={
        "nvcr.io": "registry.ncp.internal/nvcr",
        "ghcr.io": "registry.ncp.internal/ghcr",
    }
)
LLAMA = NimModel(
    name="llama-3-1-8b",
    image="nvcr.io/nim/meta/llama-3.1-8b-instruct",
    tag="1.3.3",
    gpus=2,
    replicas=2,
    storage_class="nfs-rwx",
    cache_size="80Gi",
    volume_access_mode="ReadWriteMany",
    engine="tensorrt_llm",
    tensor_parallelism=2,
    shared_memory_size="16Gi",
)
EMBED = NimModel(name="embedqa", image="nvcr.io/nim/nvidia/nv-embedqa-e5-v5", tag="1.1.0")
PROFILED = NimModel(
    name="pinned",
    image="nvcr.io/nim/meta/llama-3.1-8b-instruct",
    tag="1.3.3",
    profiles=("abc123",),
    engine="vllm",
)


def test_nimservice_crd_is_the_v3_1_2_release_copy():
    assert crd_path("apps.nvidia.com", "NIMService").parent.name == "v3.1.2"


@pytest.mark.parametrize("model", [LLAMA, EMBED, PROFILED], ids=lambda m: m.name)
def test_nim_cache_spec_is_valid(model):
    spec = nim.nim_cache_spec(
        model,
        MIRRORS,
        default_storage_class="default-sc",
        http_proxy="http://proxy:3128",
        no_proxy=".svc",
    )
    validate_custom_resource(nim.API_VERSION, "NIMCache", spec)
    # CEL rules the oracle does not evaluate: exactly one source; model xor modelEndpoint.
    assert list(spec["source"]) == ["ngc"]
    assert not ({"model", "modelEndpoint"} <= spec["source"]["ngc"].keys())
    ngc = spec["source"]["ngc"]
    assert (
        ngc["modelPuller"]
        == model.image.replace("nvcr.io", "registry.ncp.internal/nvcr") + f":{model.tag}"
    )
    assert (ngc["authSecret"], ngc["pullSecret"]) == ("ngc-api-secret", "ngc-secret")
    assert spec["storage"]["pvc"]["create"] is True
    assert spec["storage"]["pvc"]["size"] == model.cache_size
    assert spec["storage"]["pvc"]["storageClass"] == (model.storage_class or "default-sc")
    assert spec["tolerations"] == [nim.GPU_TOLERATION]
    assert spec["proxy"] == {
        "httpProxy": "http://proxy:3128",
        "httpsProxy": "http://proxy:3128",
        "noProxy": ".svc",
    }


def test_model_selection():
    assert nim.nim_cache_spec(LLAMA, MIRRORS)["source"]["ngc"]["model"] == {
        "engine": "tensorrt_llm",
        "tensorParallelism": "2",
    }
    # Explicit profiles win; filters are not emitted alongside them.
    assert nim.nim_cache_spec(PROFILED, MIRRORS)["source"]["ngc"]["model"] == {
        "profiles": ["abc123"]
    }
    assert "model" not in nim.nim_cache_spec(EMBED, MIRRORS)["source"]["ngc"]
    assert "storageClass" not in nim.nim_cache_spec(EMBED, MIRRORS)["storage"]["pvc"]
    assert "proxy" not in nim.nim_cache_spec(EMBED, MIRRORS)


@pytest.mark.parametrize("model", [LLAMA, EMBED], ids=lambda m: m.name)
def test_nim_service_spec_is_valid(model):
    spec = nim.nim_service_spec(model, MIRRORS)
    validate_custom_resource(nim.API_VERSION, "NIMService", spec)
    assert spec["image"]["repository"] == model.image.replace(
        "nvcr.io", "registry.ncp.internal/nvcr"
    )
    assert spec["image"]["tag"] == model.tag
    assert spec["image"]["pullSecrets"] == ["ngc-secret"]
    assert spec["authSecret"] == "ngc-api-secret"
    assert spec["storage"]["nimCache"] == {"name": model.name}
    assert spec["resources"] == {"limits": {"nvidia.com/gpu": model.gpus}}
    assert spec["replicas"] == model.replicas
    # CEL: replicas must not be combined with autoscaling.
    assert "scale" not in spec
    assert spec["expose"]["service"] == {"type": "ClusterIP", "port": 8000}


def test_gpu_toleration_matches_the_gpu_node_taint():
    assert nim.GPU_TOLERATION == {
        "key": "nvidia.com/gpu",
        "operator": "Equal",
        "value": "present",
        "effect": "NoSchedule",
    }
    spec = nim.nim_service_spec(LLAMA, MIRRORS)
    assert spec["tolerations"] == [nim.GPU_TOLERATION]
    assert spec["storage"]["sharedMemorySizeLimit"] == "16Gi"


def test_helm_values_keys_exist_in_the_v3_1_2_chart():
    values = nim.render_nim_operator_values(MIRRORS, "v3.1.2")
    assert_values_keys_known(values, "k8s-nim-operator/v3.1.2/values.yaml")
    assert values["operator"]["image"] == {
        "repository": "registry.ncp.internal/ghcr/nvidia/k8s-nim-operator",
        "tag": "v3.1.2",
        "pullPolicy": "IfNotPresent",
    }
    assert values["operator"]["admissionController"] == {"enabled": False}


def test_docker_config_json_logs_in_to_nvcr_with_oauthtoken():
    config = json.loads(nim.docker_config_json("nvcr.io", "nvapi-test"))
    entry = config["auths"]["nvcr.io"]
    assert entry["username"] == "$oauthtoken"
    assert entry["password"] == "nvapi-test"
    assert base64.b64decode(entry["auth"]).decode() == "$oauthtoken:nvapi-test"
    assert list(config["auths"]) == ["nvcr.io"]


def test_service_endpoints():
    assert nim.service_endpoints([LLAMA, EMBED], "nim") == {
        "llama-3-1-8b": "http://llama-3-1-8b.nim.svc.cluster.local:8000",
        "embedqa": "http://embedqa.nim.svc.cluster.local:8000",
    }
