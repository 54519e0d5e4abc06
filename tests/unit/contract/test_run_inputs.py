"""The pure rules of runtime inputs (contract/run_inputs.py): keys, ordering, delivery
into pages, prefixes, exclude_keys, metadata."""
from __future__ import annotations

from typing import Any

import pytest

from flowrun.contract import run_inputs as ri


def req(name: str, rv: int, key: str = "strautomaticruninput-auto-1", value: Any = None,
        sender: str = "alice", namespace: str = "ns") -> dict[str, Any]:
    return {"metadata": {"name": name, "namespace": namespace, "resourceVersion": str(rv),
                         "creationTimestamp": "2026-01-01T00:00:00Z"},
            "spec": {"flowRun": "r", "key": key, "value": {"value": name} if value is None else value,
                     "sender": sender}}


def test_prefixes_are_prefects():
    assert ri.automatic_prefix("str") == "strautomaticruninput-auto"
    assert ri.model_prefix("GreeterInput") == "greeterinput-auto"
    assert ri.new_key("greeterinput-auto", "u") == "greeterinput-auto-u"


def test_pending_is_in_revision_order_and_skips_what_was_delivered():
    reqs = [req("c", 30), req("a", 10), req("b", 20), req("old", 5)]
    assert [r["metadata"]["name"] for r in ri.pending(reqs, 5)] == ["a", "b", "c"]
    assert [r["metadata"]["name"] for r in ri.pending(reqs, 20)] == ["c"]
    # revisions compare as numbers, not text
    assert [r["metadata"]["name"] for r in ri.pending([req("x", 100), req("y", 99)], 0)] == ["y", "x"]


def test_entry_records_the_sender_and_the_sending_run_from_the_user_name_only():
    entry = ri.entry_of(req("a", 7, sender="system:serviceaccount:ns:asker-runner"))
    assert entry["sender"] == "system:serviceaccount:ns:asker-runner"
    assert entry["senderRun"] == "asker" and entry["revision"] == "7"
    person = ri.entry_of(req("b", 8, sender="alice"))
    assert "senderRun" not in person
    # another namespace's account, or an account that is not a runner's, names no run
    assert ri.sender_run("system:serviceaccount:other:asker-runner", "ns") is None
    assert ri.sender_run("system:serviceaccount:ns:default", "ns") is None
    assert ri.sender_run("system:serviceaccount:ns:-runner", "ns") is None
    claimed = req("c", 9)
    claimed["spec"]["claimedSender"] = "prefect.flow-run.123"
    assert ri.entry_of(claimed)["claimedSender"] == "prefect.flow-run.123"
    assert "senderRun" not in ri.entry_of(claimed), "a claim never names a sending run"


def test_request_problems():
    assert ri.request_problems(req("a", 1)) == []
    assert ri.request_problems(req("a", 1, key="")) == ["key: must not be empty"]
    assert "key:" in ri.request_problems(req("a", 1, key="bad key"))[0]
    big = {"value": "x" * (ri.MAX_VALUE_BYTES + 1)}
    assert "more than" in ri.request_problems(req("a", 1, value=big))[0]


def entries(n: int, size: int = 10, start: int = 1) -> list[dict[str, Any]]:
    return [{"name": f"e{i}", "key": f"k-{i}", "value": "x" * size, "revision": str(i)}
            for i in range(start, start + n)]


def test_plan_creates_the_first_page_then_appends():
    writes, after = ri.plan(ri.PageState(), entries(3))
    assert [(w.index, w.create, w.seal, len(w.entries)) for w in writes] == [(0, True, False, 3)]
    assert after.exists and after.entries == 3 and after.last_revision == 3
    writes, again = ri.plan(after, entries(2, start=4))
    assert [(w.index, w.create, w.seal) for w in writes] == [(0, False, False)]
    assert again.entries == 5 and again.last_revision == 5


def test_a_full_page_is_sealed_before_the_next_is_created():
    state = ri.PageState(index=0, entries=ri.PAGE_MAX_ENTRIES - 1, bytes=100, last_revision=10, exists=True)
    writes, after = ri.plan(state, entries(3, start=11))
    assert [(w.index, w.create, w.seal, len(w.entries)) for w in writes] == [
        (0, False, False, 1), (0, False, True, 0), (1, True, False, 2)]
    assert writes[1].last_revision == 11, "the seal is guarded by the mark the append left"
    assert after.index == 1 and after.entries == 2 and after.last_revision == 13


def test_pages_are_bounded_by_bytes_too():
    big = entries(3, size=ri.PAGE_MAX_BYTES // 2)
    writes, after = ri.plan(ri.PageState(), big)
    assert [w.index for w in writes if w.entries] == [0, 1, 2]
    assert all(w.bytes <= ri.PAGE_MAX_BYTES for w in writes)


def test_the_inbox_is_bounded():
    full = ri.PageState(index=ri.MAX_PAGES - 1, entries=ri.PAGE_MAX_ENTRIES, exists=True)
    with pytest.raises(ri.InboxFull) as caught:
        ri.plan(full, entries(1))
    assert caught.value.taken == 0 and caught.value.writes == []
    assert "full" in str(caught.value) and str(ri.MAX_PAGES) in str(caught.value)
    assert len(ri.page_names("r")) == ri.MAX_PAGES


def test_at_the_bound_those_that_fit_go_in_and_only_the_rest_are_refused():
    last = ri.PageState(index=ri.MAX_PAGES - 1, entries=ri.PAGE_MAX_ENTRIES - 2, bytes=10, last_revision=7,
                        exists=True)
    with pytest.raises(ri.InboxFull) as caught:
        ri.plan(last, entries(5, start=8))
    full = caught.value
    assert full.taken == 2, "the two that fit are delivered, not refused with the rest"
    assert [(w.index, len(w.entries), w.last_revision) for w in full.writes] == [(ri.MAX_PAGES - 1, 2, 9)]
    assert full.after.entries == ri.PAGE_MAX_ENTRIES and full.after.last_revision == 9


def test_a_full_inbox_is_refused_at_the_door():
    status = {"inbox": ri.inbox_full("2026-01-01T00:00:00Z")}
    (why,) = ri.door_problems(status, "strautomaticruninput-auto-1", {"value": "x"})
    assert why.startswith("inbox: full") and str(ri.MAX_PAGES) in why
    assert ri.door_problems({"inbox": {"full": False}}, "strautomaticruninput-auto-1", {"value": "x"}) == []


def test_a_full_inbox_is_written_whole_and_refused_at_the_door_word_for_word():
    assert ri.inbox_full("2026-01-01T00:00:00Z") == {"full": True, "pages": 32, "entries": 32_000,
                                                     "since": "2026-01-01T00:00:00Z"}
    status = {"inbox": ri.inbox_full("2026-01-01T00:00:00Z")}
    assert ri.door_problems(status, "strautomaticruninput-auto-1", {"value": "x"}) == [
        "inbox: full (32 pages of at most 1000 inputs or 512 KiB each); no more inputs are taken"]


def test_an_input_to_a_missing_run_is_dropped_at_exactly_its_grace():
    from datetime import datetime, timezone
    at = req("at", 1)  # created 2026-01-01T00:00:00Z
    assert ri.orphans([at], datetime(2026, 1, 1, 0, 5, tzinfo=timezone.utc), 300) == [at]
    assert ri.orphans([at], datetime(2026, 1, 1, 0, 4, 59, 999999, tzinfo=timezone.utc), 300) == []
    assert ri.orphan_message(at, "ns", 300) == (
        "input at (key strautomaticruninput-auto-1) from alice dropped: FlowRun r does not exist in namespace ns "
        "(an input waits 300 s for its run to be created)")


def test_inputs_to_a_missing_run_wait_out_the_grace_then_are_dropped():
    from datetime import datetime, timezone
    young, old, undated = req("young", 3), req("old", 2), req("undated", 1)
    young["metadata"]["creationTimestamp"] = "2026-01-01T00:09:00Z"
    old["metadata"]["creationTimestamp"] = "2026-01-01T00:00:00Z"
    del undated["metadata"]["creationTimestamp"]
    now = datetime(2026, 1, 1, 0, 10, tzinfo=timezone.utc)
    assert [r["metadata"]["name"] for r in ri.orphans([young, old, undated], now, 300)] == ["old", "undated"]
    assert ri.orphans([young, old], now, 3600) == []
    message = ri.orphan_message(old, "ns", 300)
    assert "FlowRun r does not exist in namespace ns" in message and "alice" in message and "300 s" in message


def test_page_patch_is_guarded_by_the_mark():
    write = ri.PageWrite(0, entries=entries(2), last_revision=2, bytes=40)
    ops = ri.page_patch(0, write)
    assert ops[0] == {"op": "test", "path": "/spec/lastRevision", "value": "0"}
    assert [o["op"] for o in ops[1:3]] == ["add", "add"] and ops[1]["path"] == "/spec/entries/-"
    assert {"op": "replace", "path": "/spec/lastRevision", "value": "2"} in ops
    seal = ri.page_patch(2, ri.PageWrite(0, seal=True, last_revision=2))
    assert seal == [{"op": "test", "path": "/spec/lastRevision", "value": "2"},
                    {"op": "replace", "path": "/spec/sealed", "value": True}]


def test_page_object_is_owned_by_the_run():
    owner = {"apiVersion": "flowrun.io/v1alpha1", "kind": "FlowRun", "name": "r", "uid": "u"}
    page = ri.page_object("ns", "r", owner, ri.PageWrite(0, entries=entries(1), create=True, last_revision=1, bytes=5))
    assert page["metadata"]["name"] == "r-inbox-0" and page["metadata"]["ownerReferences"] == [owner]
    assert page["spec"]["lastRevision"] == "1" and page["spec"]["sealed"] is False
    assert ri.state_of(page, 0) == ri.PageState(index=0, entries=1, bytes=5, last_revision=1, exists=True)


def test_matching_by_prefix_and_excluded_keys():
    got = [{"key": "strautomaticruninput-auto-1"}, {"key": "greeterinput-auto-2"},
           {"key": "strautomaticruninput-auto-3"}, {"key": "chat-strautomaticruninput-auto-4"}]
    assert ri.next_match(got, 0, "strautomaticruninput-auto") == 0
    assert ri.next_match(got, 1, "strautomaticruninput-auto") == 2
    assert ri.next_match(got, 0, "strautomaticruninput-auto", {"strautomaticruninput-auto-1"}) == 2
    assert ri.next_match(got, 3, "strautomaticruninput-auto") is None
    assert ri.next_match(got, 0, "chat") == 3, "key_prefix separates channels"
    assert [e["key"] for e in ri.filter_entries(got, "strautomaticruninput-auto", limit=5)] == [
        "strautomaticruninput-auto-1", "strautomaticruninput-auto-3"]
    assert ri.filter_entries(got, "greeter", limit=0) == []
    assert ri.find_key(got, "greeterinput-auto-2") == {"key": "greeterinput-auto-2"}
    assert ri.find_key(got, "nope") is None


def test_metadata_names_key_sender_receiver_and_sending_run():
    entry = ri.entry_of(req("a", 3, key="k-1", sender="system:serviceaccount:ns:s-runner"))
    assert ri.metadata(entry, "uid-1") == {"key": "k-1", "sender": "system:serviceaccount:ns:s-runner",
                                           "receiver": "uid-1", "sender_run": "s"}


def test_request_object_carries_the_target_label():
    body = ri.request("ns", "greeter", "k-1", {"value": "a"}, "alice", claimed_sender="me")
    assert body["metadata"]["labels"] == {"flowrun.io/run": "greeter"}
    assert body["spec"] == {"flowRun": "greeter", "key": "k-1", "value": {"value": "a"},
                            "sender": "alice", "claimedSender": "me"}
    assert ri.target_of("3f1d2c4e-0000-4000-8000-000000000000") == ("3f1d2c4e-0000-4000-8000-000000000000", True)


SCHEMA = {"type": "object", "properties": {"value": {"type": "string"}}, "required": ["value"],
          "additionalProperties": False}


def test_receiving_is_written_once_per_kind_of_wait():
    first = ri.receiving({}, "strautomaticruninput-auto", "str", SCHEMA, None, "t0")
    assert first == {"keyPrefix": "strautomaticruninput-auto", "type": "str", "inputSchema": SCHEMA,
                     "since": "t0", "description": None}
    assert ri.receiving({"receiving": first}, "strautomaticruninput-auto", "str", SCHEMA, None, "t1") is None
    other = ri.receiving({"receiving": first}, "order-auto", "Order", {"type": "object"}, "**Order**", "t2")
    assert other and other["keyPrefix"] == "order-auto" and other["description"] == "**Order**"
    huge = {"type": "object", "description": "x" * (ri.MAX_RECEIVING_SCHEMA_BYTES + 1)}
    assert ri.receiving({}, "p", "T", huge, None, "t")["inputSchema"] is None


def test_the_door_judges_only_inputs_of_the_awaited_prefix():
    status = {"receiving": {"keyPrefix": "strautomaticruninput-auto", "inputSchema": SCHEMA}}
    assert ri.door_problems(status, "strautomaticruninput-auto-1", {"value": "ok"}) == []
    assert ri.door_problems(status, "strautomaticruninput-auto-1", {"value": 3}) == ["value: 3 is not of type 'string'"]
    assert ri.door_problems(status, "order-auto-1", {"value": 3}) == [], "another channel waits for its own receive"
    assert ri.door_problems({}, "strautomaticruninput-auto-1", {"value": 3}) == [], "nothing known, nothing judged"


def test_an_appending_page_patch_is_exactly_the_entries_then_the_new_mark_and_size():
    """The whole JSON patch of an append, op by op: a guard on the old mark, one `add` per
    entry carrying the entry itself, then the new mark and the page's byte count (the
    operator's next plan reads both back from the page)."""
    got = entries(2)
    ops = ri.page_patch(5, ri.PageWrite(1, entries=got, last_revision=7, bytes=123))
    assert ops == [{"op": "test", "path": "/spec/lastRevision", "value": "5"},
                   {"op": "add", "path": "/spec/entries/-", "value": got[0]},
                   {"op": "add", "path": "/spec/entries/-", "value": got[1]},
                   {"op": "replace", "path": "/spec/lastRevision", "value": "7"},
                   {"op": "replace", "path": "/spec/bytes", "value": 123}]


def test_metadata_of_an_entry_without_key_or_sender_is_empty_key_and_no_sender():
    """Prefect's RunInputMetadata: `key` is always a string (empty when the entry has
    none), an unknown sender and sending run are None, never an empty string."""
    assert ri.metadata({}, "uid-1") == {"key": "", "sender": None, "receiver": "uid-1", "sender_run": None}
    assert ri.metadata({"key": "k", "sender": "", "senderRun": ""}, "r") == {
        "key": "k", "sender": None, "receiver": "r", "sender_run": None}


@pytest.mark.parametrize("extra, kept", [(0, True), (1, False)])
def test_the_receiving_schema_bound_is_inclusive(extra, kept):
    """A schema of exactly MAX_RECEIVING_SCHEMA_BYTES serialised bytes is published; one
    byte more is left out (the door then does not check the sender)."""
    base = {"type": "object", "description": ""}
    pad = ri.MAX_RECEIVING_SCHEMA_BYTES - ri.value_bytes(base) + extra
    schema = {"type": "object", "description": "x" * pad}
    assert ri.value_bytes(schema) == ri.MAX_RECEIVING_SCHEMA_BYTES + extra
    out = ri.receiving({}, "p", "T", schema, None, "t")
    assert out is not None and (out["inputSchema"] == schema) is kept


@pytest.mark.parametrize("changed", ["keyPrefix", "inputSchema", "type"])
def test_receiving_is_written_again_when_any_one_of_prefix_schema_or_type_changes(changed):
    """The wait is the same only when key prefix, schema AND type are all the same: one of
    them changing alone is a new kind of wait, published again."""
    current = {"keyPrefix": "p", "type": "T", "inputSchema": SCHEMA, "since": "t0", "description": None}
    args = {"keyPrefix": "p", "type": "T", "inputSchema": SCHEMA}
    args[changed] = {"keyPrefix": "q", "type": "U", "inputSchema": {"type": "object"}}[changed]
    out = ri.receiving({"receiving": current}, args["keyPrefix"], args["type"], args["inputSchema"], None, "t1")
    assert out == {"keyPrefix": args["keyPrefix"], "type": args["type"], "inputSchema": args["inputSchema"],
                   "since": "t1", "description": None}


def test_the_receiving_description_is_cut_at_8192_characters():
    out = ri.receiving({}, "p", "T", None, "d" * 9000, "t")
    assert out is not None and out["description"] == "d" * 8192


def test_an_entry_is_exactly_what_the_receiving_flow_sees():
    """The whole inbox entry of a person's send request, field by field: the request's
    name, key, value, sender, when it was sent and its revision; nothing else."""
    assert ri.entry_of(req("a", 7, key="k-1", value={"v": 1})) == {
        "name": "a", "key": "k-1", "value": {"v": 1}, "sender": "alice",
        "sentAt": "2026-01-01T00:00:00Z", "revision": "7"}


def test_an_entry_of_a_bare_request_has_empty_texts_and_no_value():
    """A request with no metadata or spec (the admission policy should refuse it) still
    makes an entry of empty strings, revision 0 and value None, naming no sender run."""
    assert ri.entry_of({}) == {"name": "", "key": "", "value": None, "sender": "", "sentAt": "",
                               "revision": "0"}


def test_a_new_inbox_page_is_exactly_owned_labelled_and_unsealed():
    """The whole FlowRunInbox a delivery creates: named `<run>-inbox-<index>`, labelled
    with its run (the runner's watch), owned by the run, holding the write's entries,
    its mark as a string and its size, not sealed."""
    owner = {"apiVersion": "flowrun.io/v1alpha1", "kind": "FlowRun", "name": "r", "uid": "u"}
    got = entries(2)
    page = ri.page_object("ns", "r", owner, ri.PageWrite(3, entries=got, create=True, last_revision=9, bytes=77))
    assert page == {"apiVersion": "flowrun.io/v1alpha1", "kind": "FlowRunInbox",
                    "metadata": {"name": "r-inbox-3", "namespace": "ns", "labels": {"flowrun.io/run": "r"},
                                 "ownerReferences": [owner]},
                    "spec": {"flowRun": "r", "page": 3, "entries": got, "lastRevision": "9", "bytes": 77,
                             "sealed": False}}


def test_the_state_of_a_page_is_read_back_with_its_index_and_zeros_for_what_it_lacks():
    """No page yet: an empty state at that index, not existing. A page that lacks its
    counters (written by hand) counts as empty, mark 0, but exists."""
    assert ri.state_of(None, 4) == ri.PageState(index=4, entries=0, bytes=0, last_revision=0, exists=False)
    assert ri.state_of({"spec": {}}, 2) == ri.PageState(index=2, entries=0, bytes=0, last_revision=0, exists=True)
    assert ri.state_of({"spec": {"entries": [{}, {}], "bytes": 12, "lastRevision": "5"}}, 1) == ri.PageState(
        index=1, entries=2, bytes=12, last_revision=5, exists=True)


def test_an_entry_without_a_key_matches_no_prefix_and_filter_takes_one_by_default():
    """An entry without a key is not one of any key prefix; Prefect's filter returns one
    entry unless asked for more, and never an excluded key."""
    assert not ri.matches({}, "X") and ri.matches({}, None)
    got = [{"key": "p-1"}, {"key": "p-2"}, {"key": "p-3"}]
    assert ri.filter_entries(got, "p") == [{"key": "p-1"}]
    assert ri.filter_entries(got, "p", limit=5, exclude_keys={"p-1", "p-3"}) == [{"key": "p-2"}]


def test_a_revision_that_is_not_a_number_counts_as_zero():
    """etcd's resourceVersion orders requests; one missing or not a decimal number (never
    written by the API server) sorts first, as revision 0, rather than failing."""
    assert ri.revision({}) == 0 and ri.revision({"metadata": {"resourceVersion": "abc"}}) == 0
    assert ri.revision({"metadata": {"resourceVersion": "-3"}}) == 0
    assert ri.revision({"metadata": {"resourceVersion": "12"}}) == 12


@pytest.mark.parametrize("room, pages", [(0, 1), (1, 2)])
def test_a_page_takes_an_entry_up_to_exactly_its_byte_bound(room, pages):
    """A page filled to exactly PAGE_MAX_BYTES still takes the entry that fits to the
    byte; one byte more and the page is sealed (its mark and size with it) and the entry
    starts the next page."""
    entry = entries(1, start=2)[0]
    size = ri.entry_bytes(entry)
    state = ri.PageState(index=0, entries=1, bytes=ri.PAGE_MAX_BYTES - size + room, last_revision=1, exists=True)
    writes, after = ri.plan(state, [entry])
    assert len({w.index for w in writes}) == pages
    if pages == 1:
        assert [(w.seal, w.entries, w.bytes, w.last_revision) for w in writes] == [
            (False, [entry], ri.PAGE_MAX_BYTES, 2)]
    else:
        assert [(w.index, w.seal, w.create, w.entries, w.bytes, w.last_revision) for w in writes] == [
            (0, True, False, [], state.bytes, 1), (1, False, True, [entry], size, 2)]
        assert after == ri.PageState(index=1, entries=1, bytes=size, last_revision=2, exists=True)


def test_the_last_page_but_one_may_still_be_sealed_and_the_last_one_created():
    """MAX_PAGES pages in all: a full page at index MAX_PAGES - 2 is sealed and the last
    page created; only a full last page refuses, saying how full the inbox is."""
    state = ri.PageState(index=ri.MAX_PAGES - 2, entries=ri.PAGE_MAX_ENTRIES, exists=True)
    writes, after = ri.plan(state, entries(1))
    assert [(w.index, w.seal) for w in writes] == [(ri.MAX_PAGES - 2, True), (ri.MAX_PAGES - 1, False)]
    full = ri.PageState(index=ri.MAX_PAGES - 1, entries=ri.PAGE_MAX_ENTRIES, exists=True)
    with pytest.raises(ri.InboxFull) as info:
        ri.plan(full, entries(1))
    assert str(info.value) == (f"inbox: full ({ri.MAX_PAGES} pages of at most {ri.PAGE_MAX_ENTRIES} inputs or "
                               "512 KiB each); no more inputs are taken")


def test_a_plan_counts_every_entrys_bytes_and_keeps_the_highest_revision():
    """An append's write carries the entries themselves, the page's running byte count
    (the sum of all entries) and the highest revision seen; an entry without a revision
    does not lower the mark and counts as revision 0."""
    got = entries(2, start=5) + [{"name": "n", "key": "k-x", "value": 1}]
    writes, after = ri.plan(ri.PageState(), got)
    (write,) = writes
    total = sum(ri.entry_bytes(e) for e in got)
    assert (write.entries, write.bytes, write.last_revision) == (got, total, 6)
    assert after == ri.PageState(index=0, entries=3, bytes=total, last_revision=6, exists=True)
    _, alone = ri.plan(ri.PageState(), [{"name": "n", "key": "k"}])
    assert alone.last_revision == 0


@pytest.mark.parametrize("length, ok", [(ri.MAX_KEY_CHARS, True), (ri.MAX_KEY_CHARS + 1, False)])
def test_a_key_may_have_up_to_253_characters(length, ok):
    assert ri.key_problems("k" * length) == ([] if ok else [f"key: longer than {ri.MAX_KEY_CHARS} characters"])


def test_a_key_with_other_characters_is_refused_saying_which_are_allowed():
    assert ri.key_problems("-a") == [
        "key: only letters, digits, '-', '_' and '.', starting and ending with a letter or digit"]


@pytest.mark.parametrize("extra, ok", [(0, True), (1, False)])
def test_a_value_may_have_exactly_max_value_bytes(extra, ok):
    value = "v" * (ri.MAX_VALUE_BYTES - 2 + extra)  # the JSON text has two quotes
    assert ri.value_bytes(value) == ri.MAX_VALUE_BYTES + extra
    assert ri.value_problems(value) == ([] if ok else [
        f"value: {ri.MAX_VALUE_BYTES + 1} bytes, more than the {ri.MAX_VALUE_BYTES} an input may have"])


def test_a_send_request_in_full_with_its_claim_cut_at_253():
    """The FlowRunInput a sender creates, whole: a generated name, the run's label (the
    operator lists by it), the target, key, value and sender; a claimed sender is kept
    to 253 characters."""
    assert ri.request("ns", "greeter", "k-1", {"v": 1}, "alice", claimed_sender="c" * 300) == {
        "apiVersion": "flowrun.io/v1alpha1", "kind": "FlowRunInput",
        "metadata": {"generateName": "input-", "namespace": "ns", "labels": {"flowrun.io/run": "greeter"}},
        "spec": {"flowRun": "greeter", "key": "k-1", "value": {"v": 1}, "sender": "alice", "claimedSender": "c" * 253}}
    assert "claimedSender" not in ri.request("ns", "g", "k", 1, "alice")["spec"]
