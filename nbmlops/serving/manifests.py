"""Kubernetes and KServe manifests for a packaged model (pure: data in, YAML text out).

A deployment that outgrows one host runs on an existing platform: the packaged image is
a plain container speaking MLflow's ``/invocations`` and KServe's V2 protocol, so a
``Deployment`` + ``Service`` or a KServe ``InferenceService`` (custom container) serves it.
Probes use ``/health``; Prometheus scrapes ``/metrics``; the bearer token comes from a
``Secret`` the operator creates (never written into a manifest).
"""

from __future__ import annotations

import re
from typing import Any

PORT = 8080


def k8s_name(name: str, version: int) -> str:
    """Return a DNS-1123 name for a model version (lowercase, ``-``, at most 63 chars)."""
    base = re.sub(r"[^a-z0-9-]+", "-", name.lower()).strip("-") or "model"
    return f"{base[:55].rstrip('-')}-v{version}"


def _container(image: str, secret: str) -> dict[str, Any]:
    probe = {"httpGet": {"path": "/health", "port": PORT}, "periodSeconds": 10}
    return {
        "name": "model",
        "image": image,
        "ports": [{"containerPort": PORT, "name": "http", "protocol": "TCP"}],
        "env": [{"name": "NBMLOPS_SERVE_TOKEN",
                 "valueFrom": {"secretKeyRef": {"name": secret, "key": "token"}}}],
        "readinessProbe": {**probe, "initialDelaySeconds": 2},
        "livenessProbe": {**probe, "initialDelaySeconds": 10, "failureThreshold": 3},
        "resources": {"requests": {"cpu": "500m", "memory": "512Mi"},
                      "limits": {"memory": "2Gi"}},
    }


def _annotations() -> dict[str, str]:
    return {"prometheus.io/scrape": "true", "prometheus.io/port": str(PORT),
            "prometheus.io/path": "/metrics"}


def deployment(name: str, version: int, image: str, *, replicas: int = 2) -> dict[str, Any]:
    """Return a ``apps/v1 Deployment`` serving the image with probes and scrape annotations."""
    app = k8s_name(name, version)
    labels = {"app.kubernetes.io/name": app, "nbmlops.model": re.sub(r"[^A-Za-z0-9._-]", "-",
                                                                    name)[:63],
              "nbmlops.version": str(version)}
    return {
        "apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {"name": app, "labels": labels},
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": {"app.kubernetes.io/name": app}},
            "template": {"metadata": {"labels": labels, "annotations": _annotations()},
                         "spec": {"containers": [_container(image, f"{app}-token")]}},
        },
    }


def service(name: str, version: int) -> dict[str, Any]:
    """Return a ``v1 Service`` in front of the Deployment's pods."""
    app = k8s_name(name, version)
    return {
        "apiVersion": "v1", "kind": "Service",
        "metadata": {"name": app, "labels": {"app.kubernetes.io/name": app},
                     "annotations": _annotations()},
        "spec": {"selector": {"app.kubernetes.io/name": app},
                 "ports": [{"name": "http", "port": 80, "targetPort": PORT,
                            "protocol": "TCP"}]},
    }


def inference_service(name: str, version: int, image: str) -> dict[str, Any]:
    """Return a KServe ``serving.kserve.io/v1beta1 InferenceService`` (custom container)."""
    app = k8s_name(name, version)
    container = _container(image, f"{app}-token")
    container["name"] = "kserve-container"  # the name KServe expects for a custom predictor
    return {
        "apiVersion": "serving.kserve.io/v1beta1", "kind": "InferenceService",
        "metadata": {"name": app, "annotations": {**_annotations(),
                                                  "serving.kserve.io/enable-prometheus-scraping":
                                                  "true"}},
        "spec": {"predictor": {"minReplicas": 1, "containers": [container]}},
    }


def render(docs: list[dict[str, Any]]) -> str:
    """Return the documents as one multi-document YAML text."""
    import yaml

    return "---\n".join(yaml.safe_dump(d, sort_keys=False) for d in docs)


def manifests(name: str, version: int, image: str) -> dict[str, str]:
    """Return {file name: YAML} of the Kubernetes and KServe manifests for a version."""
    app = k8s_name(name, version)
    head = (f"# {name} version {version}: create the token first:\n"
            f"#   kubectl create secret generic {app}-token --from-literal=token=$(openssl "
            "rand -hex 16)\n")
    return {
        "k8s/deployment.yaml": head + render([deployment(name, version, image),
                                              service(name, version)]),
        "k8s/inferenceservice.yaml": head + render([inference_service(name, version, image)]),
    }
