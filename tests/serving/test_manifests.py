"""Kubernetes and KServe manifests written by ``nbmlops package``, checked against schemas.

Deployment, Service and the predictor's container are validated (strictly: unknown
fields are errors) against the official Kubernetes OpenAPI schemas that the
``kubernetes-validate`` package ships. The KServe SDK cannot be installed beside
pandas 3 (it pins pandas < 3), so the InferenceService envelope is checked against the
fields of KServe's v1beta1 API, and its container against the Kubernetes Container schema.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from nbmlops.serving.manifests import deployment, inference_service, k8s_name, manifests, service
from tests.conftest import require


@pytest.fixture
def validate():  # type: ignore[no-untyped-def]
    try:
        import kubernetes_validate
        from kubernetes_validate.utils import latest_version
    except ImportError:
        require(False, "kubernetes-validate is not installed (pip install -e '.[dev]')")
    version = latest_version()
    return lambda doc: kubernetes_validate.validate(doc, version, strict=True)


def test_deployment_and_service_match_the_kubernetes_schemas(validate) -> None:  # type: ignore[no-untyped-def]
    dep = deployment("Churn_Model", 3, "churn-model:3")
    validate(dep)
    validate(service("Churn_Model", 3))
    (container,) = dep["spec"]["template"]["spec"]["containers"]
    assert container["readinessProbe"]["httpGet"] == {"path": "/health", "port": 8080}
    assert container["livenessProbe"]["httpGet"]["path"] == "/health"
    token = container["env"][0]
    assert token["name"] == "NBMLOPS_SERVE_TOKEN" and "secretKeyRef" in token["valueFrom"]
    assert dep["spec"]["template"]["metadata"]["annotations"]["prometheus.io/scrape"] == "true"
    assert service("Churn_Model", 3)["spec"]["selector"] == dep["spec"]["selector"]["matchLabels"]


def test_inference_service_predictor_is_a_valid_container(validate) -> None:  # type: ignore[no-untyped-def]
    isvc = inference_service("churn", 1, "churn:1")
    assert (isvc["apiVersion"], isvc["kind"]) == ("serving.kserve.io/v1beta1",
                                                  "InferenceService")
    assert set(isvc["spec"]) == {"predictor"}
    (container,) = isvc["spec"]["predictor"]["containers"]
    assert container["name"] == "kserve-container"
    pod = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "x"},
           "spec": {"containers": [container]}}
    validate(pod)


def test_the_secret_never_holds_a_token_and_names_are_dns_safe(validate) -> None:  # type: ignore[no-untyped-def]
    texts = manifests("My Model!", 12, "my-model:12")
    assert set(texts) == {"k8s/deployment.yaml", "k8s/inferenceservice.yaml"}
    docs = [d for text in texts.values() for d in yaml.safe_load_all(text)]
    assert [d["kind"] for d in docs] == ["Deployment", "Service", "InferenceService"]
    for doc in docs[:2]:
        validate(doc)
    assert k8s_name("My Model!", 12) == "my-model-v12"
    assert len(k8s_name("x" * 300, 1)) <= 63
    assert "kubectl create secret generic my-model-v12-token" in texts["k8s/deployment.yaml"]


def test_package_writes_the_manifests(churn: str, tmp_path: Path, validate) -> None:  # type: ignore[no-untyped-def]
    from nbmlops.serving.package import package_model

    result = package_model("churn/1", tmp_path / "pkg")
    assert {"k8s/deployment.yaml", "k8s/inferenceservice.yaml"} <= set(result.files)
    docs = list(yaml.safe_load_all((result.path / "k8s/deployment.yaml").read_text()))
    for doc in docs:
        validate(doc)
