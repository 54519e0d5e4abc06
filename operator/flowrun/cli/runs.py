"""Starting and reading runs: `flowrun run`, `ls`, `get`, `logs`, `version` and `ui`."""
from __future__ import annotations

import re
import time
from typing import Any

from .. import __version__
from ..contract import approvals
from ..contract.constants import API_VERSION, KIND, LABEL_INSTANCE
from ..contract.phases import Phase, State
from ..contract.status import current_pod
from ..kube.actions import action_verbs_on
from ..kube.client import Conflict, Kube, KubeError
from . import output
from .errors import FAILED, INVALID_INPUT, NOT_FOUND, OK, CliError, api_message
from .inputs import parse_parameters
from .session import MAX_NAME, Session, generate_name, get_or_fail, now, parse_labels, phase_of, show, strip_kind
from .waiting import pause_notifier, report_wait, watch_until

_FLOW_REF = re.compile(r"^[A-Za-z_][\w.]*:[A-Za-z_]\w*$")


def cmd_version(args: Any, s: Session) -> int:
    s.print(f"flowrun {__version__}")
    return OK


def cmd_run(args: Any, s: Session) -> int:
    flow = args.flow
    if not _FLOW_REF.match(flow):
        raise CliError(f"FLOW_REF must be module:function (e.g. examples.hello:hello), "
                       f"got {flow!r}", INVALID_INPUT)
    spec: dict[str, Any] = {"flow": flow, "parameters": parse_parameters(args.param or [])}
    if args.image:
        spec["image"] = args.image
    if args.suspended:
        spec["state"] = State.SUSPENDED.value
    if args.ttl is not None:  # the parser refuses negative durations
        spec["ttlSecondsAfterFinished"] = int(args.ttl)
    labels = parse_labels(args.label or [])
    if getattr(args, "instance", ""):
        labels[LABEL_INSTANCE] = args.instance
    if args.name and len(args.name) > MAX_NAME:
        raise CliError(f"--name: at most {MAX_NAME} characters", INVALID_INPUT)

    created = None
    for attempt in range(5):
        name = strip_kind(args.name) if args.name else generate_name(flow)
        body = {"apiVersion": API_VERSION, "kind": KIND,
                "metadata": {"name": name, **({"labels": labels} if labels else {})},
                "spec": spec}
        try:
            created = s.kube.create_flowrun(s.namespace, body)
            break
        except Conflict:
            if args.name:
                raise CliError(f"FlowRun {name!r} already exists in namespace "
                               f"{s.namespace!r}", FAILED) from None
    if created is None:
        raise CliError("could not find a free name for the run; use --name", FAILED)
    name = created["metadata"]["name"]

    if not args.wait:
        show(s, created, args.output) if args.output else s.print(name)
        return OK
    if not args.output:
        s.print(name)
    want = {Phase.COMPLETED.value}
    outcome, obj = watch_until(s.kube, s.namespace, name, want, args.timeout,
                               pause_notifier(s, name, want))
    if args.output and obj is not None:
        show(s, obj, args.output)
    if outcome == "reached" and not args.output:
        assert obj is not None
        status = obj.get("status") or {}
        s.print(f"{name} {output.phase(Phase.COMPLETED.value, s.colour)}")
        if "result" in status:
            s.print("result: " + output.compact_json(status["result"]))
        elif status.get("message"):
            s.print(status["message"])
    return report_wait(s, name, want, outcome, obj, args.timeout)


def waiting_for(kube: Kube, items: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The runs among `items` the caller may answer now (approvers and RBAC considered)."""
    me = kube.whoami()
    user, groups = me.get("username", ""), list(me.get("groups") or [])
    verbs = ["patch", "resume"] if action_verbs_on(kube) else ["patch"]
    out = []
    for obj in items:
        meta = obj["metadata"]
        if approvals.may_answer_now(obj, user, groups) and all(
                kube.i_may(meta["namespace"], verb, "flowruns", "flowrun.io", meta["name"]) for verb in verbs):
            out.append(obj)
    return out


def cmd_ls(args: Any, s: Session) -> int:
    namespace = None if args.all_namespaces else s.namespace
    items = sorted(s.kube.list_flowruns(namespace, args.selector), key=output.sort_key)
    if getattr(args, "waiting_for_me", False):
        items = waiting_for(s.kube, items)
    if args.output:
        if items or args.output != "name":
            show(s, items, args.output)
        return OK
    if not items:
        where = "any namespace" if args.all_namespaces else f"namespace {s.namespace!r}"
        match = f" matching {args.selector!r}" if args.selector else ""
        s.note(f"No FlowRuns{match} found in {where}.")
        return OK
    colour = s.colour
    headers, rows = output.list_rows(items, now(), all_namespaces=args.all_namespaces,
                                     colour=colour)
    s.print(output.table(headers, rows, colour=colour, max_last=80))
    return OK


def cmd_get(args: Any, s: Session) -> int:
    obj = get_or_fail(s, strip_kind(args.name))
    if args.output:
        show(s, obj, args.output)
    else:
        s.print(output.describe(obj, now(), colour=s.colour, namespace_hint=s.namespace_arg))
    return OK


def cmd_logs(args: Any, s: Session) -> int:
    name = strip_kind(args.name)
    obj = get_or_fail(s, name)
    pod = current_pod(obj, s.kube.flowrun_pods(s.namespace, name), args.attempt)
    if pod is None:
        ph = phase_of(obj)
        why = {Phase.SUSPENDED.value: "its Job is deleted while it is suspended",
               Phase.PENDING.value: "its pod has not been created yet",
               Phase.COMPLETED.value: "its Job and pod are gone",
               Phase.FAILED.value: "its Job and pod are gone"}.get(ph, "none found")
        attempt = f" for attempt {args.attempt}" if args.attempt is not None else ""
        raise CliError(f"FlowRun {name!r} has no pod{attempt} ({ph}: {why})", NOT_FOUND)
    pod_name = pod["metadata"]["name"]
    if not args.follow:
        try:
            text = s.kube.pod_log(s.namespace, pod_name, tail_lines=args.tail)
        except KubeError as exc:
            raise CliError(f"cannot read the log of pod {pod_name}: {api_message(exc)}",
                           FAILED) from None
        s.out.write(text)
        s.out.flush()
        return OK
    deadline = time.monotonic() + 300
    while True:
        try:
            lines = s.kube.pod_log(s.namespace, pod_name, follow=True, tail_lines=args.tail)
            break
        except KubeError as exc:
            # The container has not started yet (ContainerCreating): wait for it.
            if exc.status == 400 and time.monotonic() < deadline and \
                    ("waiting to start" in exc.message or "ContainerCreating" in exc.message):
                time.sleep(0.5)
                continue
            raise CliError(f"cannot follow the log of pod {pod_name}: {api_message(exc)}",
                           FAILED) from None
    for line in lines:
        s.out.write(line + "\n")
        s.out.flush()
    return OK


def cmd_ui(args: Any, s: Session) -> int:
    try:
        from ..ui.app import Settings, local_hosts, serve  # the one import of the UI: its command
    except ImportError as exc:
        raise CliError(f"the web UI needs the ui extra (pip install 'flowrun-operator[ui]'): {exc}",
                       FAILED) from None
    namespaces = None if args.all_namespaces else [s.namespace]
    host = f"[{args.address}]" if ":" in args.address else args.address

    def ready(port: int) -> None:
        where = "all namespaces" if namespaces is None else f"namespace {namespaces[0]}"
        s.print(f"flowrun UI for {where}: http://{host}:{port}/")
        s.note("Ctrl-C stops it.")

    serve(Settings(auth="kubeconfig", namespaces=namespaces, kubeconfig=s.kubeconfig,
                   allowed_hosts=local_hosts(args.address)),
          args.address, args.port, base=s.kube, on_ready=ready)
    return OK
