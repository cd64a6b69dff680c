"""The storefront and operations console (`python -m shopweb`, web/) in the cluster: the
gateway routes the pages to it (shoptools.k8s.gateway), and it calls the gateway's REST API
like any client, with the visitor's token.

The development sign-in (a page that signs tokens with the cluster's key) is not in the
base: the kind and minikube overlays add it (k8s/components/dev-identity); production
signs people in with its own identity provider.
"""

from __future__ import annotations

from shoptools.k8s import gateway as cluster_gateway
from shoptools.k8s.workloads import (
    PRE_STOP_S,
    Object,
    container_security,
    deployment,
    hpa,
    labels,
    pdb,
    pod,
    resources,
    service_account,
    tmp_volume,
)
from shoptools.mesh.gateway import WEB_CLUSTER
from shoptools.mesh.linkerd import NAME_LABEL

WEB = WEB_CLUSTER  # its Deployment, Service and ServiceAccount (its mesh identity)
IMAGE = "shopmesh-web"  # the Containerfile's `web` target; the overlays name registry and tag
WEB_PORT = 8080
COMPONENT = "web"


def web_objects(namespace: str) -> list[Object]:
    gateway = cluster_gateway.service_address("gateway", namespace)

    def probe(period: int, failures: int) -> Object:
        return {
            "httpGet": {"path": "/healthz", "port": "http"},
            "periodSeconds": period,
            "failureThreshold": failures,
        }

    web = {
        "name": WEB,
        "image": IMAGE,
        "imagePullPolicy": "IfNotPresent",
        "env": [{"name": "SHOP_SERVICE", "value": "shopweb"}],
        "args": [
            "serve",
            "--host",
            "0.0.0.0",  # the pod's address; Linkerd's policy and a NetworkPolicy guard it
            "--port",
            str(WEB_PORT),
            "--gateway-url",
            f"http://{gateway}:80",
        ],
        "ports": [{"name": "http", "containerPort": WEB_PORT}],
        "resources": resources("50m", "128Mi", "1", "256Mi"),
        "securityContext": container_security(),
        "startupProbe": probe(2, 30),
        "readinessProbe": probe(5, 2),
        "livenessProbe": probe(10, 6),
        "lifecycle": {"preStop": {"sleep": {"seconds": PRE_STOP_S}}},
        "volumeMounts": [{"name": "tmp", "mountPath": "/tmp"}],
    }
    service = {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": WEB, "labels": labels(WEB, COMPONENT)},
        "spec": {
            "selector": {NAME_LABEL: WEB},
            "ports": [
                {
                    "name": "http",
                    "port": cluster_gateway.WEB_SERVICE_PORT,
                    "targetPort": "http",
                    "appProtocol": "http",
                }
            ],
        },
    }
    return [
        service_account(WEB, COMPONENT),
        service,
        deployment(WEB, COMPONENT, pod(WEB, [web], [tmp_volume()])),
        pdb(WEB, COMPONENT),
        hpa(WEB, COMPONENT),
    ]
