"""send_input / receive_input: Prefect's runtime inputs, on the Kubernetes API.

Sending creates a FlowRunInput (the API server stores it before the call returns: the
input is acknowledged only once stored). The operator copies it into the receiving run's
inbox; receiving yields the inbox's entries in the order sent, filtered by key prefix
and excluded keys (contract/run_inputs.py has the rules). `poll_interval` is accepted
and ignored: a watch wakes the flow.

A flow_run_id is a FlowRun's name or its uid (a UUID too). The sender recorded with an
input is the API server's user name of whoever created it (the chart's admission policy
refuses any other); an input sent by a run's pod also names that run, which is what
`respond()` answers to, never a name the client claims.
"""
from __future__ import annotations

import asyncio
import os
import threading
import uuid
import weakref
from collections.abc import Iterable
from typing import Any, Generic, TypeVar, overload

import pydantic

from ..contract import run_inputs as ri
from ..kube import Kube, KubeError
from .context import current_run
from .inbox import read_entries, reader
from .inputs import RunInput, RunInputMetadata, as_run_input, description_of, key_prefix_for, upgrade
from .watching import dual

R = TypeVar("R", bound=RunInput)
T = TypeVar("T")


# ---- where: the API, the namespace, the run -----------------------------------------

_outside: list[Kube] = []
_outside_lock = threading.Lock()


def _kube() -> Kube:
    """The run's own client inside a flow; elsewhere one client per process (made once:
    reading a kubeconfig and asking who we are is not paid per input)."""
    ctx = current_run()
    if ctx is not None and ctx.live is not None:
        return ctx.live.kube
    with _outside_lock:
        if not _outside:
            _outside.append(Kube())
        return _outside[0]


def _namespace(namespace: str | None) -> str:
    if namespace:
        return namespace
    ctx = current_run()
    if ctx is not None and ctx.live is not None:
        return ctx.live.namespace
    if os.environ.get("FLOWRUN_NAMESPACE"):
        return os.environ["FLOWRUN_NAMESPACE"]
    from ..kube.client import context_namespace
    return context_namespace()


def ensure_flow_run_id(flow_run_id: Any = None) -> str:
    """The id given (a name or uid, as text), else the current run's name."""
    if flow_run_id:
        return str(flow_run_id)
    ctx = current_run()
    if ctx is None or ctx.live is None:
        raise RuntimeError("Must either provide a flow run ID or be within a flow run.")
    return ctx.live.name


class _Run:
    """A run as a reader or sender names it: its name when known, its uid when known, and
    the object when the caller may read it."""

    def __init__(self, namespace: str, name: str | None, uid: str | None,
                 obj: dict[str, Any] | None = None) -> None:
        self.namespace, self.name, self.uid, self.obj = namespace, name, uid, obj


def _resolve(kube: Kube, flow_run_id: str, namespace: str | None) -> _Run:
    """The run `flow_run_id` names (a name in `namespace`, else the current one; or a uid,
    looked for in every namespace the caller may list when no namespace is given)."""
    ctx = current_run()
    ns = _namespace(namespace)
    if ctx is not None and ctx.live is not None and ctx.live.namespace == ns \
            and flow_run_id in (ctx.live.name, ctx.uid):
        return _Run(ns, ctx.live.name, ctx.uid or None)
    uid = flow_run_id.lower() if ri.UID.match(flow_run_id.lower()) else None
    try:
        obj = kube.get_flowrun(ns, flow_run_id) if uid is None else None
        if uid is not None:
            try:
                items = kube.list_flowruns(namespace if namespace or ctx is not None else None)
            except KubeError as exc:
                if exc.status != 403 or namespace:
                    raise
                items = kube.list_flowruns(ns)
            obj = next((i for i in items if i["metadata"].get("uid") == uid), None)
    except KubeError as exc:
        if exc.status == 403:  # a run's pod: it may not read other runs; the operator resolves
            return _Run(ns, flow_run_id if uid is None else None, uid)
        raise
    if obj is None:
        raise ValueError(f"FlowRun {flow_run_id} not found in namespace {ns}"
                         + (" (nor by uid where you may list runs)" if uid else ""))
    return _Run(obj["metadata"]["namespace"], obj["metadata"]["name"], obj["metadata"].get("uid"), obj)


_whoami: "weakref.WeakKeyDictionary[Kube, str]" = weakref.WeakKeyDictionary()
_whoami_lock = threading.Lock()


def _username(kube: Kube) -> str:
    """Who the API server says we are (a SelfSubjectReview, once per client)."""
    with _whoami_lock:
        if kube not in _whoami:
            _whoami[kube] = str(kube.whoami().get("username") or "")
        return _whoami[kube]


# ---- sending --------------------------------------------------------------------------

def _as_sendable(run_input: Any) -> tuple[RunInput, str]:
    """(the RunInput to store, the default key prefix) of what is sent."""
    if isinstance(run_input, RunInput):
        return run_input, key_prefix_for(type(run_input))
    if isinstance(run_input, pydantic.BaseModel):
        model = upgrade(type(run_input))
        return model.model_validate(run_input.model_dump()), key_prefix_for(type(run_input))
    model, _ = as_run_input(type(run_input))
    return model.model_validate({"value": run_input}), key_prefix_for(type(run_input))


def create_input(kube: Kube, namespace: str, target: str, key: str, value: Any,
                 sender: str | None = None, run: dict[str, Any] | None = None) -> dict[str, Any]:
    """Store one input for the run `target` (a name or uid); returns the stored object.
    Refuses (ValueError) a key or value the operator would not deliver, or (with `run`,
    the FlowRun as read) a value that does not fit what the run waits for with that key."""
    problems = ri.key_problems(key) + ri.value_problems(value)
    if run is not None and not problems:
        problems = ri.door_problems(run.get("status") or {}, key, value)
    if problems:
        raise ValueError(f"input for FlowRun {target} refused: {'; '.join(problems)}")
    body = ri.request(namespace, target, key, value, _username(kube), claimed_sender=sender)
    try:
        return kube.create_input(body)
    except KubeError as exc:
        if exc.status == 403:
            raise PermissionError(f"may not send inputs in namespace {namespace}: {exc.message}") from None
        if exc.status in (400, 422):
            raise ValueError(f"input for FlowRun {target} refused: {exc.message}") from None
        raise


def _send(run_input: Any, flow_run_id: Any, sender: str | None, key_prefix: str | None,
          namespace: str | None) -> None:
    instance, prefix = _as_sendable(run_input)
    kube = _kube()
    run = _resolve(kube, ensure_flow_run_id(flow_run_id), namespace)
    key = ri.new_key(key_prefix if key_prefix is not None else prefix, str(uuid.uuid4()))
    create_input(kube, run.namespace, run.name or run.uid or str(flow_run_id), key,
                 instance.model_dump(mode="json"), sender, run=run.obj)


def send_input(run_input: Any, flow_run_id: Any, sender: str | None = None,
               key_prefix: str | None = None, namespace: str | None = None) -> Any:
    """Send `run_input` (a RunInput, a BaseModel, or a plain value) to a FlowRun (its
    name or uid). Returns once the input is stored; awaitable in async code."""
    return dual(lambda: _send(run_input, flow_run_id, sender, key_prefix, namespace))


def respond(received: RunInput, run_input: Any, sender: str | None = None,
            key_prefix: str | None = None) -> Any:
    """Send `run_input` to the run that sent `received` (as the system recorded it)."""
    meta = received.metadata
    if meta is None or not meta.sender_run:
        raise RuntimeError("Cannot respond to an input that was not sent by a flow run.")
    namespace = meta.namespace or None
    return send_input(run_input, meta.sender_run, sender=sender, key_prefix=key_prefix, namespace=namespace)


# ---- receiving ---------------------------------------------------------------------------

class GetInputHandler(Generic[R]):
    """What receive_input returns: an iterator (sync and async) over the inputs of a run
    with a key prefix, oldest first, and `.next()`."""

    def __init__(self, run_input_cls: type[Any], key_prefix: str, timeout: float | None = 3600,
                 poll_interval: float = 10, raise_timeout_error: bool = False,
                 exclude_keys: Iterable[str] | None = None, flow_run_id: Any = None,
                 with_metadata: bool = False, automatic: bool = False, namespace: str | None = None) -> None:
        self.run_input_cls = run_input_cls
        self.key_prefix = key_prefix
        self.timeout = timeout
        self.poll_interval = poll_interval  # accepted; a watch wakes the flow
        self.raise_timeout_error = raise_timeout_error
        self.exclude_keys: set[str] = set(exclude_keys or ())
        self.with_metadata = with_metadata
        self.automatic = automatic
        self._flow_run_id = ensure_flow_run_id(flow_run_id)
        self._namespace = namespace
        self._position = 0
        self._run: _Run | None = None
        self._schema: dict[str, Any] | None = None
        self._lock = threading.Lock()

    @property
    def flow_run_id(self) -> str:
        return self._flow_run_id

    def _reader_and_run(self) -> tuple[Any, _Run]:
        kube = _kube()
        if self._run is None:
            self._run = _resolve(kube, self._flow_run_id, self._namespace)
        run = self._run
        if run.name is None:
            raise PermissionError(f"may not read the inputs of FlowRun {self._flow_run_id}: "
                                  "a run reads only its own inputs")
        return reader(kube, run.namespace, run.name), run

    def to_instance(self, entry: dict[str, Any], run: _Run) -> Any:
        instance = self.run_input_cls.model_validate(entry.get("value") or {})
        meta = ri.metadata(entry, run.uid or run.name or "")
        instance._metadata = RunInputMetadata(**meta, namespace=run.namespace)
        if self.automatic and not self.with_metadata:
            return instance.value
        return instance

    def _publish(self, run: _Run) -> None:
        """In the run's own pod: say what it waits for (status.receiving)."""
        ctx = current_run()
        if ctx is None or ctx.live is None or ctx.live.name != run.name or ctx.live.namespace != run.namespace:
            return
        if self._schema is None:  # made once per handler, not each time the loop waits again
            self._schema = self.run_input_cls.model_json_schema()
        name = getattr(self.run_input_cls, "__type_name__", "") or self.run_input_cls.__name__
        ctx.live.receiving(self.key_prefix, name, self._schema, description_of(self.run_input_cls))

    def _next(self) -> Any:
        with self._lock:
            inbox, run = self._reader_and_run()
            found = inbox.wait_for(self._position, self.key_prefix, self.exclude_keys, 0)
            if found is None:
                self._publish(run)
                found = inbox.wait_for(self._position, self.key_prefix, self.exclude_keys, self.timeout)
            if found is None:
                raise TimeoutError("Timed out waiting for input")
            index, entry = found
            self._position = index + 1
            self.exclude_keys.add(str(entry.get("key")))
            return self.to_instance(entry, run)

    def next(self) -> Any:
        """The next input (awaitable in async code); TimeoutError after `timeout`."""
        return dual(self._next)

    def __iter__(self) -> "GetInputHandler[R]":
        return self

    def __next__(self) -> Any:
        try:
            return self._next()
        except TimeoutError:
            if self.raise_timeout_error:
                raise
            raise StopIteration from None

    def __aiter__(self) -> "GetInputHandler[R]":
        return self

    async def __anext__(self) -> Any:
        try:
            return await asyncio.to_thread(self._next)
        except TimeoutError:
            if self.raise_timeout_error:
                raise
            raise StopAsyncIteration from None


class GetAutomaticInputHandler(GetInputHandler[Any]):
    """receive_input of a plain type: yields the values (or, with_metadata, the RunInput)."""


@overload
def receive_input(input_type: type[R], timeout: float | None = 3600, poll_interval: float = 10,
                  raise_timeout_error: bool = False, exclude_keys: Iterable[str] | None = None,
                  key_prefix: str | None = None, flow_run_id: Any = None,
                  with_metadata: bool = False) -> GetInputHandler[R]: ...


@overload
def receive_input(input_type: Any, timeout: float | None = 3600, poll_interval: float = 10,
                  raise_timeout_error: bool = False, exclude_keys: Iterable[str] | None = None,
                  key_prefix: str | None = None, flow_run_id: Any = None,
                  with_metadata: bool = False) -> GetAutomaticInputHandler: ...


def receive_input(input_type: Any, timeout: float | None = 3600, poll_interval: float = 10,
                  raise_timeout_error: bool = False, exclude_keys: Iterable[str] | None = None,
                  key_prefix: str | None = None, flow_run_id: Any = None,
                  with_metadata: bool = False) -> Any:
    """Prefect's receive_input: iterate over the inputs sent to this run (or to
    `flow_run_id`, where the caller may read them) of `input_type`, in the order sent."""
    model, automatic = as_run_input(input_type)
    prefix = key_prefix if key_prefix is not None else key_prefix_for(input_type)
    cls = GetAutomaticInputHandler if automatic else GetInputHandler
    return cls(model, prefix, timeout=timeout, poll_interval=poll_interval,
               raise_timeout_error=raise_timeout_error, exclude_keys=exclude_keys,
               flow_run_id=flow_run_id, with_metadata=with_metadata, automatic=automatic)


# ---- reading from outside (Prefect's input actions) ---------------------------------------------

class FlowRunInput(pydantic.BaseModel):
    """One input of a run, as Prefect's client returns it."""
    flow_run_id: str
    key: str
    value: str
    sender: str | None = None
    sender_run: str | None = None

    @property
    def decoded_value(self) -> Any:
        import json
        return json.loads(self.value)


def _entries(flow_run_id: Any, namespace: str | None) -> tuple[_Run, list[dict[str, Any]]]:
    kube = _kube()
    run = _resolve(kube, ensure_flow_run_id(flow_run_id), namespace)
    if run.name is None:
        raise PermissionError(f"may not read the inputs of FlowRun {flow_run_id}")
    return run, read_entries(kube, run.namespace, run.name)


def _filter(key_prefix: str, limit: int, exclude_keys: Iterable[str] | None, flow_run_id: Any,
            namespace: str | None) -> list[FlowRunInput]:
    import json
    run, entries = _entries(flow_run_id, namespace)
    return [FlowRunInput(flow_run_id=run.uid or run.name or "", key=e["key"],
                         value=json.dumps(e.get("value")), sender=e.get("sender"), sender_run=e.get("senderRun"))
            for e in ri.filter_entries(entries, key_prefix, limit, exclude_keys or ())]


def filter_flow_run_input(key_prefix: str, limit: int = 1, exclude_keys: Iterable[str] | None = None,
                          flow_run_id: Any = None, namespace: str | None = None) -> Any:
    """The first `limit` inputs of a run whose key starts with `key_prefix`, oldest first
    (a list of FlowRunInput). Awaitable in async code, as Prefect's sync_compatible."""
    return dual(lambda: _filter(key_prefix, limit, exclude_keys, flow_run_id, namespace))


def _read(key: str, flow_run_id: Any, namespace: str | None) -> Any:
    _, entries = _entries(flow_run_id, namespace)
    found = ri.find_key(entries, key)
    return None if found is None else found.get("value")


def read_flow_run_input(key: str, flow_run_id: Any = None, namespace: str | None = None) -> Any:
    """The value of a run's input with exactly `key` (None when there is none).
    Awaitable in async code, as Prefect's sync_compatible."""
    return dual(lambda: _read(key, flow_run_id, namespace))


def _create(key: str, value: Any, flow_run_id: Any, sender: str | None, namespace: str | None) -> None:
    kube = _kube()
    run = _resolve(kube, ensure_flow_run_id(flow_run_id), namespace)
    create_input(kube, run.namespace, run.name or run.uid or str(flow_run_id), key, value, sender, run=run.obj)


def create_flow_run_input(key: str, value: Any, flow_run_id: Any = None, sender: str | None = None,
                          namespace: str | None = None) -> Any:
    """Store `value` (JSON) as an input of a run under exactly `key`. Awaitable in async
    code, as Prefect's sync_compatible."""
    return dual(lambda: _create(key, value, flow_run_id, sender, namespace))


def create_flow_run_input_from_model(key: str, model_instance: pydantic.BaseModel, flow_run_id: Any = None,
                                     sender: str | None = None, namespace: str | None = None) -> Any:
    """create_flow_run_input of a model's JSON. Awaitable in async code."""
    return create_flow_run_input(key, model_instance.model_dump(mode="json"), flow_run_id, sender, namespace)
