"""The runner: the pod's entrypoint (see main.py)."""
