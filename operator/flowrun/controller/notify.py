"""Delivering notifications: the operator's shell around `contract.notifications`.

- `Notifications.notifier_changed` keeps the notifiers of each namespace (fed by kopf's
  watch, handlers.py), checks a notifier's sink (the webhook's stamp, its Secrets, the
  URL) into its Ready condition, and looks at every run of the namespace again.
- `Notifications.look_at` (after each reconcile of a run) queues what the contract says
  is due (reminders too), and says when the next DeadlineNear or reminder will be.
- Worker threads send (settings.notify_workers, 8 by default), at most
  settings.notify_per_namespace deliveries in flight per namespace, each attempt with a
  total deadline (settings.notify_deadline_seconds): a receiver that trickles bytes holds
  at most its own namespace's share, never another namespace's deliveries. Before
  every send the run and the notifier are read again (the delivery must still be due);
  after a 2xx the delivery is recorded in the run's status (compare-and-swap), so a
  restart does not send it again and a crash before the send does not lose it.
  Failed deliveries, whatever failed, are retried with backoff for up to an hour (the
  notifier's Ready=False and lastError "delivery failed" from the first failure on);
  retries that ran out, and a sink that cannot be used as configured, become a
  `NotificationFailed` Warning Event on the run.
- Secret values (URLs, signing keys) never reach a log line, an Event or a status:
  errors are described in our own words.
- Egress (contract/egress.py): the host is resolved here, every address vetted (no
  loopback, link-local, the API server...), and the connection made to the vetted
  address itself (TLS still checks the host name), so DNS cannot answer differently
  between the check and the connect. What the notifier's owner sees of a failed delivery
  is "delivery failed", whatever happened (refused by policy, no answer, a refused
  connection, an HTTP error): nothing that maps the network. The details go to the
  operator's log only.

What this module must never do: decide what is due, what an answer means, or what a
payload says (contract/notifications.py does).
"""
from __future__ import annotations

import base64
import errno
import heapq
import http.client
import logging
import socket
import ssl
import threading
import time
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from urllib.parse import urlsplit

from ..contract import egress, instances
from ..contract import notification_payloads as payloads
from ..contract import notifications as n
from ..contract.constants import API_VERSION, GROUP, KIND, VERSION
from ..contract.lifecycle.vocabulary import now
from ..contract.status import timestamp
from ..kube import Kube, KubeError
from . import template_gate
from .failpoints import failpoint
from .settings import Settings

log = logging.getLogger("flowrun.controller.notify")
FAILED = "delivery failed"  # all a notifier's owner learns of a failed delivery


class SinkError(Exception):
    """A delivery that cannot be sent as configured (said without the secret values)."""

    def __init__(self, message: str, reason: str):
        super().__init__(message)
        self.reason = reason


@dataclass
class Pending:
    namespace: str
    run: str
    delivery: n.Delivery
    failures: int = 0
    first_failure: datetime | None = None


class Notifications:
    def __init__(self, kube: Kube, settings: Settings):
        self.kube = kube
        self.settings = settings
        self._lock = threading.Condition()
        self._notifiers: dict[str, dict[str, dict[str, Any]]] = {}
        self._pending: dict[tuple[str, str, str, str], Pending] = {}
        self._heap: list[tuple[float, int, tuple[str, str, str, str]]] = []
        self._seq = 0
        self._threads: list[threading.Thread] = []
        self._unseen: set[tuple[str, str]] = set()  # notifiers whose runs are yet to be looked at
        self._in_flight: dict[str, int] = {}  # namespace -> deliveries being sent
        self.policy = egress_policy(settings, kube)

    # ---- notifiers --------------------------------------------------------------------

    def notifiers(self, namespace: str) -> list[dict[str, Any]]:
        with self._lock:
            return list(self._notifiers.get(namespace, {}).values())

    def notifier_changed(self, body: dict[str, Any], deleted: bool = False, acting: bool = True) -> None:
        """Keep the notifier; when this replica acts (the leader), check it and look at
        its runs. A standby only keeps it, for the day it leads."""
        meta = body.get("metadata") or {}
        namespace, name = meta.get("namespace", ""), meta.get("name", "")
        with self._lock:
            if deleted:
                self._notifiers.get(namespace, {}).pop(name, None)
                return
            known = self._notifiers.setdefault(namespace, {}).get(name)
            self._notifiers[namespace][name] = body
            if known is not None and _same_spec(known, body) and (namespace, name) not in self._unseen:
                return  # only its status changed (our own write, most often)
            self._unseen.add((namespace, name))
            if not acting:
                return
        self.check_notifier(body)
        for run in self.kube.list_flowruns(namespace, instances.selector(self.settings.instance)):
            self.queue_due(run)
        with self._lock:  # (an error above: the next event of this notifier looks again)
            self._unseen.discard((namespace, name))

    def check_notifier(self, notifier: dict[str, Any]) -> None:
        """Ready=True when the sink can be used (stamped by the webhook, its Secrets and
        keys there, a usable URL); otherwise Ready=False saying why."""
        try:
            self.sink(notifier)
        except SinkError as exc:
            self.set_notifier_status(notifier, ready=False, reason=exc.reason, message=str(exc))
            return
        except KubeError as exc:
            log.warning("notifier %s: could not read its Secrets (%s)", _name(notifier), exc.reason)
            return
        ready: dict[str, Any] = next((c for c in (notifier.get("status") or {}).get("conditions") or []
                      if c.get("type") == "Ready"), {})
        if ready.get("reason") in (None, "NotApproved", "SecretMissing", "SecretForbidden", "InvalidURL",
                                   "InvalidSigningSecret"):
            self.set_notifier_status(notifier, ready=True, reason="Valid", message="the sink is configured")

    def sink(self, notifier: dict[str, Any]) -> tuple[str, str, str | None]:
        """(type, url, signing secret) of a notifier, read from its Secrets."""
        meta = notifier.get("metadata") or {}
        if not n.approved(template_gate.keys(self.settings), notifier, now()):
            raise SinkError("not admitted by the operator's webhook (who may read its Secrets is unknown): "
                            "it sends nothing; re-apply it while the webhook runs", "NotApproved")
        spec = notifier.get("spec") or {}
        sink = spec.get("sink") or {}
        url = self.secret_value(meta.get("namespace", ""), sink.get("urlSecretRef") or {})
        problem = n.check_url(url)
        if problem:
            raise SinkError(problem, "InvalidURL")
        signing = None
        if sink.get("signingSecretRef"):
            signing = self.secret_value(meta.get("namespace", ""), sink["signingSecretRef"])
        return sink.get("type", "webhook"), url.strip(), signing

    def secret_value(self, namespace: str, ref: dict[str, Any]) -> str:
        try:
            secret = self.kube.get("Secret", namespace, ref.get("name", ""))
        except KubeError as exc:
            if exc.status != 403:
                raise
            raise SinkError(f"the operator may not read Secret {ref.get('name')!r} (is the chart's "
                            "notifications.enabled on?)", "SecretForbidden") from None
        if secret is None:
            raise SinkError(f"Secret {ref.get('name')!r} not found", "SecretMissing")
        data = (secret.get("data") or {}).get(ref.get("key", ""))
        if data is None:
            raise SinkError(f"Secret {ref.get('name')!r} has no key {ref.get('key')!r}", "SecretMissing")
        try:
            return base64.b64decode(data).decode()
        except (ValueError, UnicodeDecodeError):
            raise SinkError(f"key {ref.get('key')!r} of Secret {ref.get('name')!r} is not text",
                            "SecretMissing") from None

    def set_notifier_status(self, notifier: dict[str, Any], **kwargs: Any) -> None:
        meta = notifier.get("metadata") or {}
        current = self.kube.get_notifier(meta.get("namespace", ""), meta.get("name", "")) or notifier
        patch = n.notifier_status(current.get("status"), now=now(),
                                  generation=(current.get("metadata") or {}).get("generation"), **kwargs)
        if patch is None:
            return
        try:
            self.kube.patch_notifier_status(meta.get("namespace", ""), meta.get("name", ""), patch)
        except KubeError as exc:
            if exc.status != 404:
                log.warning("notifier %s: could not write its status: %s", _name(notifier), exc.message)

    # ---- runs -------------------------------------------------------------------------

    def look_at(self, namespace: str, name: str) -> datetime | None:
        """After a reconcile: queue what is due for this run; when the next DeadlineNear or
        reminder will be."""
        if not self.notifiers(namespace):
            return None
        obj = self.kube.get_flowrun(namespace, name)
        return self.queue_due(obj) if obj is not None else None

    def queue_due(self, obj: dict[str, Any]) -> datetime | None:
        meta = obj.get("metadata") or {}
        namespace, run = meta.get("namespace", ""), meta.get("name", "")
        notifiers = self.notifiers(namespace)
        at = now()
        for notifier in notifiers:
            for delivery in n.due(obj, notifier, at):
                self._queue(namespace, run, delivery)
        return n.next_due(obj, notifiers, at)

    def _queue(self, namespace: str, run: str, delivery: n.Delivery) -> None:
        key = (namespace, run, delivery.notifier, delivery.id)
        with self._lock:
            if key in self._pending:
                return
            self._pending[key] = Pending(namespace, run, delivery)
            self._push(key, 0.0)
            self._start()

    def _push(self, key: tuple[str, str, str, str], when: float) -> None:
        self._seq += 1
        heapq.heappush(self._heap, (when, self._seq, key))
        self._lock.notify()

    def _start(self) -> None:
        if self._threads:
            return
        for i in range(self.settings.notify_workers):
            thread = threading.Thread(target=self._work, name=f"notify-{i}", daemon=True)
            thread.start()
            self._threads.append(thread)

    def _next(self) -> tuple[str, str, str, str] | None:
        """The earliest due delivery of a namespace below its limit (lock held), or None."""
        now_ = time.time()
        skipped = []
        found = None
        while self._heap and self._heap[0][0] <= now_:
            item = heapq.heappop(self._heap)
            if self._in_flight.get(item[2][0], 0) < self.settings.notify_per_namespace:
                found = item[2]
                break
            skipped.append(item)
        for item in skipped:
            heapq.heappush(self._heap, item)
        return found

    def _work(self) -> None:
        while True:
            with self._lock:
                while (key := self._next()) is None:
                    # woken by a push or a delivery ending (its namespace has room again)
                    self._lock.wait(timeout=None if not self._heap else max(self._heap[0][0] - time.time(), 0.01))
                pending = self._pending.get(key)
                if pending is None:
                    continue
                self._in_flight[key[0]] = self._in_flight.get(key[0], 0) + 1
            try:
                retry = self.attempt(pending)
            except Exception as exc:  # noqa: BLE001 - an API hiccup: try again shortly
                log.warning("notifier %s/%s, run %s: %s; trying again in 5 s", pending.namespace,
                            pending.delivery.notifier, pending.run, type(exc).__name__)
                retry = time.time() + 5
            with self._lock:
                self._in_flight[key[0]] -= 1
                if not self._in_flight[key[0]]:
                    del self._in_flight[key[0]]
                if retry is None:
                    self._pending.pop(key, None)
                else:
                    self._push(key, retry)
                self._lock.notify_all()

    # ---- one delivery ------------------------------------------------------------------

    def attempt(self, pending: Pending) -> float | None:
        """Send one delivery if it is still due. Returns when to try again, if ever."""
        ns, run, delivery = pending.namespace, pending.run, pending.delivery
        notifier = self.kube.get_notifier(ns, delivery.notifier)
        obj = self.kube.get_flowrun(ns, run)
        at = now()
        if obj is None or notifier is None or not n.still_due(obj, notifier, delivery, at):
            if pending.failures:  # it was being retried: say why it stops
                log.info("notifier %s/%s, run %s, %s (%s): no longer due (the pause was answered, the run or "
                         "the notifier changed); not retried", ns, delivery.notifier, run, delivery.event, delivery.id)
            return None
        try:
            sink_type, url, signing = self.sink(notifier)
            data = payloads.payload(obj, delivery, ui_base_url=self.settings.ui_base_url)
            try:
                headers, body = payloads.request(sink_type, data, msg_id=delivery.id, when=at, signing_secret=signing)
            except ValueError as exc:
                raise SinkError(str(exc), "InvalidSigningSecret") from None
        except SinkError as exc:
            self.set_notifier_status(notifier, ready=False, reason=exc.reason, message=str(exc))
            self.give_up(pending, obj, notifier, str(exc))
            return None
        failpoint("notify-before-send")
        status, error, detail = self.post(url, headers, body)
        outcome = n.classify(status, error)
        where = f"notifier {ns}/{delivery.notifier}, run {run}, {delivery.event} ({delivery.id})"
        said = FAILED  # the owner's record: nothing about the network
        if outcome != "delivered":
            log.warning("%s: %s", where, detail)  # the details: the operator's log only
        else:
            self.kube.update_flowrun(ns, run, lambda cur: (
                None if (p := n.record_patch(cur, delivery, "Delivered", now())) is None else (None, p)))
            log.info("%s: delivered (HTTP %s)", where, status)
            self.set_notifier_status(notifier, ready=True, reason="Delivered", message=f"delivered {delivery.event} "
                                     f"of {run}", delivered={"time": timestamp(at), "run": run,
                                                             "event": delivery.event, "id": delivery.id})
            return None
        error_info = {"time": timestamp(at), "run": run, "event": delivery.event, "id": delivery.id,
                      "message": said, "permanent": False}
        if outcome == "failed":
            pending.failures += 1
            pending.first_failure = pending.first_failure or at
            again = n.retry_at(pending.first_failure, pending.failures, at)
            if again is not None:
                log.warning("%s: %s; retry %d at %s", where, said, pending.failures, timestamp(again))
                self.set_notifier_status(notifier, ready=False, reason="DeliveryFailing",
                                         message=f"{said}; retrying", error=error_info)
                return again.timestamp()
            said = f"{said}; gave up after retrying for {n.RETRY_FOR_SECONDS // 60} min"
            error_info.update(message=said, permanent=True)
        self.set_notifier_status(notifier, ready=False, reason="DeliveryFailed", message=said, error=error_info)
        self.give_up(pending, obj, notifier, said)
        return None

    def give_up(self, pending: Pending, obj: dict[str, Any], notifier: dict[str, Any], why: str) -> None:
        """A Warning Event on the run, and the failure recorded so it is not retried."""
        delivery = pending.delivery
        log.warning("notifier %s/%s, run %s: could not deliver %s (%s): %s", pending.namespace,
                    delivery.notifier, pending.run, delivery.event, delivery.id, why)
        involved = {"apiVersion": API_VERSION, "kind": KIND, "metadata": obj["metadata"]}
        self.kube.emit_event(involved, "NotificationFailed",
                             f"FlowRunNotifier {delivery.notifier} could not deliver {delivery.event}: {why}",
                             type_="Warning")
        self.kube.update_flowrun(pending.namespace, pending.run, lambda cur: (
            None if (p := n.record_patch(cur, delivery, "Failed", now())) is None else (None, p)))
        return None

    def post(self, url: str, headers: dict[str, str], body: bytes) -> tuple[int | None, str | None, str]:
        """(HTTP status, error kind, what happened, for the operator's log only). The
        host is resolved and each address vetted by the egress policy; the connection goes
        to the vetted address (TLS checks the host name), within one total deadline. The
        standard library's http.client, which logs nothing (urllib3's debug log would
        print the URL's path, and a Slack URL's path is its token)."""
        parts = urlsplit(url)
        try:
            port = parts.port or (443 if parts.scheme == "https" else 80)
        except ValueError:
            return None, "invalid-url", "the URL in the Secret is not valid"
        host = parts.hostname or ""
        deadline = time.monotonic() + self.settings.notify_deadline_seconds
        try:
            infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
        except (socket.gaierror, UnicodeError):
            return None, "dns", "the receiver's host name does not resolve"
        address, refused = None, []
        for info in infos:
            ip = str(info[4][0])
            why = egress.refusal(self.policy, ip, port)
            if why is None:
                address = ip
                break
            refused.append(why)
        if address is None:
            return None, "egress", f"refused by the egress policy: {'; '.join(dict.fromkeys(refused))}"
        timeout = max(deadline - time.monotonic(), 0.1)
        conn: http.client.HTTPConnection
        if parts.scheme == "https":
            conn = _PinnedHTTPS(host, port, address, timeout=timeout, context=ssl.create_default_context())
        else:
            conn = _PinnedHTTP(host, port, address, timeout=timeout)
        target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
        # The total deadline: a receiver that trickles a byte a second never trips a
        # per-read timeout, so the socket is shut when the deadline passes.
        watchdog = threading.Timer(timeout, conn.abort)
        watchdog.daemon = True
        watchdog.start()
        try:
            conn.request("POST", target, body=body, headers=headers)
            resp = conn.getresponse()
            resp.read(64 * 1024)
            if conn.aborted:
                raise TimeoutError()
            return resp.status, None, f"the receiver answered HTTP {resp.status}"
        except TimeoutError:
            return None, "timeout", f"no complete answer within {self.settings.notify_deadline_seconds:g} s"
        except ConnectionRefusedError:
            return None, "refused", "the receiver refused the connection"
        except ssl.SSLError:
            return None, "tls", "the receiver's TLS certificate was not accepted"
        except (OSError, http.client.HTTPException) as exc:
            if conn.aborted:
                return None, "timeout", f"no complete answer within {self.settings.notify_deadline_seconds:g} s"
            if getattr(exc, "errno", None) in (errno.ENETUNREACH, errno.EHOSTUNREACH):
                return None, "unreachable", "the receiver could not be reached"
            return None, "reset", "the connection to the receiver broke"
        finally:
            watchdog.cancel()
            conn.close()


class _Pinned:
    """A connection to a vetted address, whatever the host name resolves to now."""
    address: str
    aborted: bool = False
    sock: Any
    timeout: Any
    port: int

    def _open(self) -> socket.socket:
        return socket.create_connection((self.address, self.port), self.timeout)

    def abort(self) -> None:
        self.aborted = True
        sock = self.sock
        if sock is not None:
            try:
                sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass


class _PinnedHTTP(_Pinned, http.client.HTTPConnection):
    def __init__(self, host: str, port: int, address: str, **kwargs: Any) -> None:
        http.client.HTTPConnection.__init__(self, host, port, **kwargs)
        self.address = address

    def connect(self) -> None:
        self.sock = self._open()


class _PinnedHTTPS(_Pinned, http.client.HTTPSConnection):
    def __init__(self, host: str, port: int, address: str, *, context: ssl.SSLContext, **kwargs: Any) -> None:
        http.client.HTTPSConnection.__init__(self, host, port, context=context, **kwargs)
        self.address = address
        self._tls = context

    def connect(self) -> None:
        raw = self._open()
        self.sock = raw
        self.sock = self._tls.wrap_socket(raw, server_hostname=self.host)


def egress_policy(settings: Settings, kube: Any) -> egress.EgressPolicy:
    """The policy from the settings, plus the API server's own addresses: the
    `kubernetes` Service (KUBERNETES_SERVICE_HOST in a pod, any port), the server this
    process talks to, and FLOWRUN_NOTIFY_API_ADDRESSES (the chart: the endpoints)."""
    import os
    api: set[tuple[str, int | None]] = set()
    service = os.environ.get("KUBERNETES_SERVICE_HOST", "").strip()
    if service:
        api.add((service, None))
    server = getattr(getattr(getattr(kube, "rest", None), "endpoint", None), "host", "") or ""
    if server:
        parts = urlsplit(server)
        try:
            for info in socket.getaddrinfo(parts.hostname or "", parts.port or 443, type=socket.SOCK_STREAM):
                api.add((str(info[4][0]), parts.port or 443))
        except (OSError, UnicodeError, ValueError):
            pass
    for item in (i.strip() for i in settings.notify_api_addresses.split(",")):
        if not item:
            continue
        ip, _, port = item.rpartition(":") if item.count(":") == 1 else (item, "", "")
        api.add((ip.strip("[]"), int(port) if port.isdigit() else None))
    return egress.EgressPolicy(deny=egress.parse_networks(settings.notify_deny),
                               allow=egress.parse_networks(settings.notify_allow),
                               api_addresses=frozenset(api))


def _same_spec(a: dict[str, Any], b: dict[str, Any]) -> bool:
    def view(o: dict[str, Any]) -> tuple:
        meta = o.get("metadata") or {}
        return (meta.get("uid"), meta.get("generation"),
                (meta.get("annotations") or {}).get(n.ANNOTATION_NOTIFIER_APPROVAL))
    return view(a) == view(b)


def _name(notifier: dict[str, Any]) -> str:
    meta = notifier.get("metadata") or {}
    return f"{meta.get('namespace')}/{meta.get('name')}"


__all__ = ["Notifications", "GROUP", "VERSION"]
