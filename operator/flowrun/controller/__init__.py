"""The controller: kopf registrations (handlers.py) over the work queue (workqueue.py), the
webhook endpoints (webhooks.py), plain reconcile logic (reconcile.py, reading the world
through views.py) and manifest builders (resources.py). Never imports the CLI."""
