"""The controller: kopf handlers (handlers.py) over plain reconcile logic (reconcile.py)
and manifest builders (resources.py). Never imports the CLI."""
