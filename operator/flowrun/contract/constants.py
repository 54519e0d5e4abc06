"""Names shared by every room: the API coordinates of FlowRun, labels, environment
variables the operator gives the runner pod, and the operator's hard limits.

Nothing here imports anything from the project: it is the bottom layer.
"""
from __future__ import annotations

GROUP = "flowrun.io"
VERSION = "v1alpha1"
API_VERSION = f"{GROUP}/{VERSION}"
KIND = "FlowRun"
PLURAL = "flowruns"
SHORT_NAME = "fr"
NOTIFIER_KIND = "FlowRunNotifier"
NOTIFIER_PLURAL = "flowrunnotifiers"

# Labels put on every object the operator creates for a run.
LABEL_RUN = "flowrun.io/run"
LABEL_ATTEMPT = "flowrun.io/attempt"
LABEL_MANAGED_BY = "app.kubernetes.io/managed-by"
MANAGED_BY = "flowrun-operator"
# Set on a child FlowRun created by run_flow(..., as_subflow=True) (a linked child,
# also owned by the parent), or by run_flow(..., as_subflow=False) (independent).
LABEL_PARENT = "flowrun.io/parent"
LABEL_STARTED_BY = "flowrun.io/started-by"
# The operator instance a FlowRun belongs to (absent: the operator without an instance
# id). Carried from a run to its children and onto its Jobs and pods.
LABEL_INSTANCE = "flowrun.io/instance"
ENV_INSTANCE = "FLOWRUN_INSTANCE"

# Environment of the runner pod.
ENV_NAME = "FLOWRUN_NAME"
ENV_NAMESPACE = "FLOWRUN_NAMESPACE"
ENV_ATTEMPT = "FLOWRUN_ATTEMPT"
ENV_CACHE_DIR = "FLOWRUN_CACHE_DIR"

CACHE_MOUNT_PATH = "/cache"
RUNNER_UID = 1000

# status.result is kept small: the FlowRun lives in etcd next to everything else.
MAX_RESULT_BYTES = 64 * 1024
# spec.parameters / spec.input: at most this many top-level keys (enforced by the CRD
# schema) and this many bytes serialised (enforced by the admission webhook).
MAX_OBJECT_KEYS = 128
MAX_OBJECT_BYTES = 128 * 1024  # spec.parameters
MAX_INPUT_BYTES = 64 * 1024  # spec.input, and each pause's input
MAX_SCHEMA_BYTES = 32 * 1024  # status.pause.inputSchema
MAX_DESCRIPTION_BYTES = 8 * 1024  # status.pause.description
MAX_NOTIFY_MESSAGE_BYTES = 1024  # status.pause.notifyMessage (pause_flow_run(notify_message=))
MAX_KEY_LENGTH = 63  # pause keys
MAX_HISTORY = 50
MAX_MESSAGE_BYTES = 1024  # status.message and history messages
# Mirrored subflow results waiting in a parent's status for its runner to take them.
MAX_PENDING_SUBFLOW_BYTES = 128 * 1024
# Whatever a flow does, a FlowRun object stays under this (etcd's limit is 1.5 MiB).
MAX_FLOWRUN_BYTES = 512 * 1024
DEFAULT_MAX_POD_LOSSES = 3

DEFAULT_PAUSE_TIMEOUT = 3600

# An independent child (run_flow(..., as_subflow=False)) is not owned by the run that
# started it (so it outlives it), but carries that run's uid here: with the name (derived
# from the starting run's name and uid) it proves whose child it is.
LABEL_STARTED_BY_UID = "flowrun.io/started-by-uid"
