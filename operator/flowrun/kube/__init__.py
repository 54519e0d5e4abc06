"""Kubernetes I/O: the thin layer every room goes through (see client.py)."""
from .client import Conflict, Gone, Kube, KubeError, load_api_client, webhook_unreachable

__all__ = ["Conflict", "Gone", "Kube", "KubeError", "load_api_client", "webhook_unreachable"]
