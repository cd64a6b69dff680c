"""Shopmesh on Kubernetes: the manifests that follow from the code (generate), the
gateway's cluster configuration, and what a development cluster needs made locally
(secrets: passwords, token keys, Linkerd's trust anchor). See k8s/README.md."""
