"""Reading API objects: each view of an object, whole, for a full object and for one
whose parts are missing, null or of the wrong type (which read as empty, everywhere
alike)."""
from __future__ import annotations

import pytest

from flowrun.contract.objects import (
    Condition,
    InboxPageView,
    InputRequestView,
    LeaseView,
    Meta,
    NotifierView,
    Object,
    OwnerRef,
    PodTemplate,
    SecretRef,
    doc,
    revision_of,
)

OWNER = {"kind": "FlowRun", "name": "parent", "uid": "u-1", "controller": True}
FULL_META = {
    "name": "r", "namespace": "ns", "uid": "u-2", "generation": 3, "resourceVersion": "42",
    "labels": {"a": "1", 7: "seven"}, "annotations": {"flowrun.io/x": "y"},
    "ownerReferences": [OWNER, {"kind": "Job", "name": "j", "uid": "u-3"}],
    "creationTimestamp": "2026-12-03T04:00:00Z", "deletionTimestamp": "2026-12-03T05:00:00Z",
}
EMPTY_META = Meta(name="", namespace="", uid="", generation=None, resource_version="", labels={}, annotations={},
                  owners=(), created=None, deleting=False, doc={})


@pytest.mark.parametrize("value,expected", [
    ({"a": 1}, {"a": 1}), (None, {}), ("text", {}), ([("a", 1)], {}), ({}, {}),
], ids=["mapping", "null", "text", "list", "empty"])
def test_doc_is_a_new_dict_or_empty(value, expected):
    assert doc(value) == expected
    if isinstance(value, dict):
        assert doc(value) is not value


@pytest.mark.parametrize("value,expected", [
    (OWNER, OwnerRef(kind="FlowRun", name="parent", uid="u-1", controller=True)),
    ({"kind": "Job", "name": "j", "uid": "u-3"}, OwnerRef(kind="Job", name="j", uid="u-3", controller=False)),
    ({"kind": "Job", "controller": "true"}, OwnerRef(kind="Job", name="", uid="", controller=False)),
    ({"kind": None, "name": None, "uid": None, "controller": False},
     OwnerRef(kind="", name="", uid="", controller=False)),
    (None, OwnerRef(kind="", name="", uid="", controller=False)),
], ids=["controller", "not-controller", "controller-text-is-not-true", "nulls", "null"])
def test_an_owner_reference(value, expected):
    assert OwnerRef.of(value) == expected


@pytest.mark.parametrize("obj,expected", [
    ({"metadata": FULL_META}, Meta(
        name="r", namespace="ns", uid="u-2", generation=3, resource_version="42",
        labels={"a": "1", "7": "seven"}, annotations={"flowrun.io/x": "y"},
        owners=(OwnerRef("FlowRun", "parent", "u-1", True), OwnerRef("Job", "j", "u-3", False)),
        created="2026-12-03T04:00:00Z", deleting=True, doc=FULL_META)),
    ({"metadata": {"name": "r", "generation": "0", "deletionTimestamp": None}},
     Meta(name="r", namespace="", uid="", generation=0, resource_version="", labels={}, annotations={}, owners=(),
          created=None, deleting=False, doc={"name": "r", "generation": "0", "deletionTimestamp": None})),
    ({"metadata": {"generation": 0, "labels": None, "annotations": "x", "ownerReferences": None}},
     Meta(name="", namespace="", uid="", generation=0, resource_version="", labels={}, annotations={}, owners=(),
          created=None, deleting=False,
          doc={"generation": 0, "labels": None, "annotations": "x", "ownerReferences": None})),
    ({"metadata": {"name": None, "namespace": None, "uid": None, "resourceVersion": None}},
     Meta(name="", namespace="", uid="", generation=None, resource_version="", labels={}, annotations={}, owners=(),
          created=None, deleting=False,
          doc={"name": None, "namespace": None, "uid": None, "resourceVersion": None})),
    ({"metadata": None}, EMPTY_META),
    ({}, EMPTY_META),
    (None, EMPTY_META),
], ids=["full", "generation-zero-as-text", "nulls-and-wrong-types", "null-fields", "null-metadata", "no-metadata",
        "null"])
def test_metadata_whole(obj, expected):
    assert Meta.of(obj) == expected


def test_owners_by_kind_and_the_controller():
    meta = Meta.of({"metadata": {"ownerReferences": [
        OWNER, {"kind": "FlowRun", "name": "other", "uid": "u-9", "controller": False},
        {"kind": "Job", "name": "j", "uid": "u-3", "controller": True}, {"kind": "FlowRun", "uid": ""}]}})
    assert meta.owner_uids("FlowRun") == ["u-1", "u-9", ""]
    assert meta.owner_uids("Job") == ["u-3"]
    assert meta.owner_uids("Pod") == []
    assert [meta.controlled_by(uid) for uid in ("u-1", "u-9", "u-3", "u-4")] == [True, False, True, False]
    # no uid is nobody's: not even an ownerReference without one that says controller
    assert Meta.of({"metadata": {"ownerReferences": [{"uid": "", "controller": True}]}}).controlled_by("") is False


@pytest.mark.parametrize("obj,expected", [
    ({"kind": "Job", "metadata": {"name": "j"}, "spec": {"a": 1}, "status": {"b": 2}},
     Object(kind="Job", meta=Meta.of({"metadata": {"name": "j"}}), spec={"a": 1}, status={"b": 2})),
    ({"kind": None, "spec": None, "status": "x"}, Object(kind="", meta=EMPTY_META, spec={}, status={})),
    (None, Object(kind="", meta=EMPTY_META, spec={}, status={})),
], ids=["full", "nulls", "null"])
def test_an_object_in_parts(obj, expected):
    assert Object.of(obj) == expected


@pytest.mark.parametrize("template,expected", [
    ({"metadata": {"labels": {"a": "b"}}, "spec": {"containers": []}},
     PodTemplate(metadata={"labels": {"a": "b"}}, spec={"containers": []}, other={})),
    ({"metadata": None, "spec": None}, PodTemplate(metadata={}, spec={}, other={})),
    ({"metadata": "m", "spec": ["s"], "replicas": 2, "data": None},
     PodTemplate(metadata={}, spec={}, other={"metadata": "m", "spec": ["s"], "replicas": 2, "data": None})),
    ({}, PodTemplate(metadata={}, spec={}, other={})),
    (None, PodTemplate(metadata={}, spec={}, other={})),
], ids=["metadata-and-spec", "nulls", "wrong-types-and-other-keys", "empty", "null"])
def test_a_pod_template_keeps_what_it_should_not_carry_apart(template, expected):
    assert PodTemplate.of(template) == expected


@pytest.mark.parametrize("value,expected", [
    ({"type": "Ready", "status": "True", "lastTransitionTime": "t", "reason": "r"},
     Condition(type="Ready", status="True", last_transition="t",
               doc={"type": "Ready", "status": "True", "lastTransitionTime": "t", "reason": "r"})),
    (None, Condition(type=None, status=None, last_transition=None, doc={})),
], ids=["full", "null"])
def test_a_condition(value, expected):
    assert Condition.of(value) == expected


@pytest.mark.parametrize("value,expected", [
    ({"name": "s", "key": "k"}, SecretRef("s", "k")),
    ({"key": "k"}, SecretRef("", "k")),
    ({"name": "s"}, SecretRef("s", "")),
    ({}, None), (None, None), ("s", None),
], ids=["full", "no-name", "no-key", "empty", "null", "text"])
def test_a_secret_reference(value, expected):
    assert SecretRef.of(value) == expected


ANNOTATION = "flowrun.io/approval"


@pytest.mark.parametrize("notifier,expected", [
    ({"metadata": {"name": "n", "annotations": {ANNOTATION: "kid:abc"}},
      "spec": {"selector": {"matchLabels": {"a": "b"}}, "events": ["Paused", 3], "deadlineNearSeconds": 60,
               "remindEverySeconds": 600, "maxReminders": 4,
               "sink": {"urlSecretRef": {"name": "u", "key": "url"}, "signingSecretRef": {"name": "s", "key": "k"}}}},
     NotifierView(meta=Meta.of({"metadata": {"name": "n", "annotations": {ANNOTATION: "kid:abc"}}}),
                  selector={"matchLabels": {"a": "b"}}, events=frozenset({"Paused", "3"}), deadline_near_seconds=60,
                  remind_every_seconds=600, max_reminders=4, url_secret=SecretRef("u", "url"), signing_secret=SecretRef("s", "k"), approval="kid:abc")),
    ({"metadata": {"name": "n"}, "spec": {"selector": "all", "events": None, "deadlineNearSeconds": 0, "sink": None,
                                          "remindEverySeconds": 0, "maxReminders": None}},
     NotifierView(meta=Meta.of({"metadata": {"name": "n"}}), selector=None, events=frozenset(),
                  deadline_near_seconds=None, remind_every_seconds=None, max_reminders=None, url_secret=None, signing_secret=None, approval="")),
    ({"metadata": {"annotations": {ANNOTATION: ""}}, "spec": {"selector": {}}},
     NotifierView(meta=Meta.of({"metadata": {"annotations": {ANNOTATION: ""}}}), selector={}, events=frozenset(),
                  deadline_near_seconds=None, remind_every_seconds=None, max_reminders=None, url_secret=None, signing_secret=None, approval="")),
], ids=["full", "nulls-and-wrong-types", "empty-selector-selects"])
def test_a_notifier(notifier, expected):
    assert NotifierView.of(notifier, ANNOTATION) == expected


@pytest.mark.parametrize("lease,expected", [
    ({"metadata": {"name": "l", "resourceVersion": "7"},
      "spec": {"holderIdentity": "pod-a", "renewTime": "t", "leaseTransitions": 2, "leaseDurationSeconds": 15}},
     LeaseView(meta=Meta.of({"metadata": {"name": "l", "resourceVersion": "7"}}), holder="pod-a", renew_time="t",
               transitions=2,
               spec={"holderIdentity": "pod-a", "renewTime": "t", "leaseTransitions": 2,
                     "leaseDurationSeconds": 15})),
    ({"spec": {"holderIdentity": None, "leaseTransitions": None}},
     LeaseView(meta=EMPTY_META, holder="", renew_time=None, transitions=0,
               spec={"holderIdentity": None, "leaseTransitions": None})),
    ({}, LeaseView(meta=EMPTY_META, holder="", renew_time=None, transitions=0, spec={})),
], ids=["held", "nulls", "empty"])
def test_the_leader_lease(lease, expected):
    assert LeaseView.of(lease) == expected


@pytest.mark.parametrize("version,expected", [("42", 42), ("0", 0), ("", 0), ("12a", 0), ("-3", 0)])
def test_a_revision_is_etcds_number_or_zero(version, expected):
    assert revision_of(Meta.of({"metadata": {"resourceVersion": version}})) == expected


@pytest.mark.parametrize("req,expected", [
    ({"metadata": {"name": "i", "resourceVersion": "9"},
      "spec": {"key": "k", "value": {"a": 1}, "sender": "alice", "claimedSender": "bob"}},
     InputRequestView(meta=Meta.of({"metadata": {"name": "i", "resourceVersion": "9"}}), key="k", value={"a": 1},
                      sender="alice", claimed_sender="bob", revision=9)),
    ({"spec": {"key": None, "sender": None, "value": 0}},
     InputRequestView(meta=EMPTY_META, key="", value=0, sender="", claimed_sender=None, revision=0)),
    ({}, InputRequestView(meta=EMPTY_META, key="", value=None, sender="", claimed_sender=None, revision=0)),
], ids=["full", "nulls", "empty"])
def test_an_input_request(req, expected):
    assert InputRequestView.of(req) == expected


@pytest.mark.parametrize("page,expected", [
    ({"spec": {"entries": [{"a": 1}, {"b": 2}], "bytes": 120, "lastRevision": "17"}},
     InboxPageView(entries=2, bytes=120, last_revision=17)),
    ({"spec": {"entries": None, "bytes": None, "lastRevision": None}}, InboxPageView(entries=0, bytes=0,
                                                                                     last_revision=0)),
    ({}, InboxPageView(entries=0, bytes=0, last_revision=0)),
], ids=["full", "nulls", "empty"])
def test_an_inbox_page(page, expected):
    assert InboxPageView.of(page) == expected
