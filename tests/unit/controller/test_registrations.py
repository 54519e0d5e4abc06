"""What the operator registers with kopf, and what that lets it skip."""
from __future__ import annotations

import kopf

import flowrun.controller.handlers as handlers


def test_no_handler_needs_kopfs_diff_base_or_a_finalizer():
    """handlers.NoDiffBase builds no essence, and the operator puts no finalizer on runs:
    both hold only while no on.create/update/delete/resume/field handler, timer or daemon
    is registered (kopf diffs the essence for the former, and adds a finalizer for both)."""
    registry = kopf.get_default_registry()
    assert handlers.FINALIZER  # the name kopf strips from runs an earlier version marked
    assert list(registry._changing.get_all_handlers()) == []
    assert list(registry._spawning.get_all_handlers()) == []
    watching = [h.fn.__name__ for h in registry._watching.get_all_handlers()]
    assert {"flowrun_changed", "job_changed", "pod_changed"} <= set(watching)
    assert [h.fn.__name__ for h in registry._indexing.get_all_handlers()] == ["run_jobs", "run_pods"]


def test_the_parts_are_made_at_startup_not_at_import():
    """Importing the registrations makes no client, cache, thread or election: the
    startup handler does (so a test, or `--help`, touches no cluster)."""
    assert handlers._parts is None
    try:
        handlers.parts()
    except RuntimeError:
        pass
    else:
        raise AssertionError("parts() before startup must say the operator has not started")
    startup = [h.fn.__name__ for h in kopf.get_default_registry()._activities.get_all_handlers()
               if h.activity.value == "startup"]
    assert startup == ["start", "elect"]  # the parts first, then the election that uses them


def test_the_diff_base_is_empty_and_stored_nowhere():
    storage = handlers.NoDiffBase()
    body = kopf.Body({"metadata": {"name": "r", "annotations": {}}, "spec": {"flow": "m:f"}})
    patch = kopf.Patch()
    assert storage.build(body=body) == {}
    assert storage.fetch(body=body) is None
    storage.store(body=body, patch=patch, essence={})
    assert not patch


# ---- the webhook's callers -----------------------------------------------------------

import dataclasses  # noqa: E402
import ssl  # noqa: E402

import pytest  # noqa: E402

from flowrun.controller.certs import write_self_signed  # noqa: E402
from flowrun.controller.webhooks import webhook_server  # noqa: E402


def _handshake(server_ctx: ssl.SSLContext, client_ctx: ssl.SSLContext) -> None:
    """A TLS handshake in memory between the two contexts (raises ssl.SSLError on refusal)."""
    s_in, s_out, c_in, c_out = ssl.MemoryBIO(), ssl.MemoryBIO(), ssl.MemoryBIO(), ssl.MemoryBIO()
    server = server_ctx.wrap_bio(s_in, s_out, server_side=True)
    client = client_ctx.wrap_bio(c_in, c_out, server_hostname="127.0.0.1")
    done = {"server": False, "client": False}
    for _ in range(20):
        for name, end, out, peer_in in (("client", client, c_out, s_in), ("server", server, s_out, c_in)):
            if not done[name]:
                try:
                    end.do_handshake()
                    done[name] = True
                except ssl.SSLWantReadError:
                    pass
            peer_in.write(out.read())
        if all(done.values()):
            client.write(b"x")  # TLS 1.3: the server checks the client's certificate here
            s_in.write(c_out.read())
            server.read(1)
            return
    raise AssertionError("handshake did not finish")


@pytest.mark.parametrize("client_ca", [False, True])
def test_with_a_client_ca_the_webhook_answers_only_callers_it_signed(tmp_path, client_ca):
    serving = write_self_signed(tmp_path / "serving", ["127.0.0.1"])
    apiserver = write_self_signed(tmp_path / "apiserver-client", ["kube-apiserver"])
    settings = dataclasses.replace(handlers.SETTINGS, webhook_port=9443, webhook_host="127.0.0.1",
                                   webhook_cert_dir=str(serving),
                                   webhook_client_ca=str(apiserver / "ca.crt") if client_ca else "")
    _, server_ctx = webhook_server(settings)._build_ssl()
    assert server_ctx is not None

    def caller(cert_dir=None) -> ssl.SSLContext:
        ctx = ssl.create_default_context(cafile=str(serving / "ca.crt"))
        if cert_dir is not None:
            ctx.load_cert_chain(str(cert_dir / "tls.crt"), str(cert_dir / "tls.key"))
        return ctx
    _handshake(server_ctx, caller(apiserver))  # the API server (its client certificate)
    if client_ca:  # any pod without one, or with one some other CA signed: no session
        with pytest.raises(ssl.SSLError):
            _handshake(server_ctx, caller())
        with pytest.raises(ssl.SSLError):
            _handshake(server_ctx, caller(write_self_signed(tmp_path / "other", ["eve"])))
    else:
        _handshake(server_ctx, caller())
