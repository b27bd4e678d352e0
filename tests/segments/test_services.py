"""Saved segments: create/update/delete with roles, audit, cycle refusal and reference
protection; the selectors count and list members with the user's visibility."""

from __future__ import annotations

import pytest

from leadbridge.contacts.models import Contact, ContactTag, Tag
from leadbridge.contacts.services import contact_create
from leadbridge.core.errors import Conflict, Forbidden, NotFound, ValidationFailed
from leadbridge.core.models import AuditEntry
from leadbridge.segments.fields import CompileError
from leadbridge.segments.language import FilterSyntaxError, FilterTreeError
from leadbridge.segments.models import Segment
from leadbridge.segments.selectors import (
    contacts_matching,
    filter_preview,
    segment_count,
    segment_find,
    segment_list,
    segment_members,
)
from leadbridge.segments.services import segment_create, segment_delete, segment_update
from tests.factories import TeamFactory, user

pytestmark = pytest.mark.django_db


@pytest.fixture
def realtor(admin):
    brian = contact_create(actor=admin, data={"name": "Brian", "tags": ["summer_house", "beach"]})
    jenny = contact_create(actor=admin, data={"name": "Jenny", "tags": ["homeowner", "beach", "forest"]})
    david = contact_create(actor=admin, data={"name": "David", "tags": ["investor", "income"]})
    return {"brian": brian, "jenny": jenny, "david": david}


def test_create_stores_canonical_text_and_tree_and_audits(admin, realtor):
    segment = segment_create(
        actor=admin, name="Beach", filter="TAG:beach AND NOT tag:investor", description="d"
    )
    assert segment.filter_text == "tag:beach and not tag:investor"
    assert segment.filter_json == {
        "op": "and",
        "children": [
            {"op": "tag", "name": "beach"},
            {"op": "not", "child": {"op": "tag", "name": "investor"}},
        ],
    }
    assert segment.owner == admin and segment.key == "beach"
    entry = AuditEntry.objects.get(action="segment.create")
    assert entry.object_id == str(segment.pk) and entry.after["filter"] == segment.filter_text
    assert segment_count(user=admin, segment_id=segment.pk) == 2


def test_create_from_a_tree(admin, realtor):
    segment = segment_create(actor=admin, name="Investors", tree={"op": "tag", "name": "investor"})
    assert segment.filter_text == "tag:investor"
    assert [c.pk for c in segment_members(user=admin, segment_id=segment.pk).items] == [realtor["david"].pk]


def test_names_are_unique_regardless_of_case(admin):
    segment_create(actor=admin, name="ВИП клиенты", filter="score > 50")
    with pytest.raises(Conflict) as caught:
        segment_create(actor=admin, name="  вип КЛИЕНТЫ ", filter="score > 60")
    assert caught.value.errors[0].field == "name"
    assert segment_find(user=admin, ref="вип клиенты").name == "ВИП клиенты"


def test_bad_filters_are_refused_with_their_position(admin):
    with pytest.raises(CompileError) as caught:
        segment_create(actor=admin, name="X", filter="tag:a and emial = x")
    assert caught.value.errors[0].field == "filter" and caught.value.position == 10
    with pytest.raises(FilterSyntaxError) as syntax:
        segment_create(actor=admin, name="X", filter="tag:a tag:b")
    assert syntax.value.errors[0].as_dict()["position"] == 6
    with pytest.raises(FilterTreeError) as tree:
        segment_create(actor=admin, name="X", tree={"op": "=="})
    assert tree.value.errors[0].field == "tree"
    with pytest.raises(ValidationFailed):
        segment_create(actor=admin, name=" ", filter="tag:a")
    with pytest.raises(ValidationFailed):
        segment_create(actor=admin, name="X")
    assert not Segment.objects.exists()


def test_cycles_are_refused_with_the_path(admin):
    a = segment_create(actor=admin, name="A", filter="score > 10")
    segment_create(actor=admin, name="B", filter='in segment("A") and score < 90')
    with pytest.raises(CompileError) as caught:
        segment_update(actor=admin, segment_id=a.pk, filter='in segment("b")')
    assert "a → b → a" in caught.value.message
    with pytest.raises(CompileError) as itself:
        segment_create(actor=admin, name="Self", filter='tag:x or in segment("self")')
    assert "self → self" in itself.value.message
    a.refresh_from_db()
    assert a.filter_text == "score > 10"


def test_a_used_segment_cannot_be_deleted_or_renamed(admin):
    vip = segment_create(actor=admin, name="VIP", filter="score > 50")
    user_of = segment_create(actor=admin, name="VIP beach", filter='in segment("vip") and tag:beach')
    assert [s.name for s in user_of.uses.all()] == ["VIP"]
    with pytest.raises(Conflict) as caught:
        segment_delete(actor=admin, segment_id=vip.pk)
    assert "'VIP beach'" in caught.value.detail
    with pytest.raises(Conflict):
        segment_update(actor=admin, segment_id=vip.pk, name="Very important")
    segment_update(actor=admin, segment_id=vip.pk, name="vip", description="renamed case only")
    segment_update(actor=admin, segment_id=user_of.pk, filter="tag:beach")
    assert list(user_of.uses.all()) == []
    segment_delete(actor=admin, segment_id=vip.pk)
    assert not Segment.objects.filter(pk=vip.pk).exists()
    assert AuditEntry.objects.filter(action="segment.delete", object_id=str(vip.pk)).exists()
    with pytest.raises(NotFound):
        segment_delete(actor=admin, segment_id=vip.pk)


def test_update_audits_only_what_changed(admin):
    segment = segment_create(actor=admin, name="S", filter="score > 1")
    segment_update(actor=admin, segment_id=segment.pk, filter="score  >  2")
    entry = AuditEntry.objects.get(action="segment.update")
    assert entry.before == {"filter": "score > 1"} and entry.after == {"filter": "score > 2"}


@pytest.mark.parametrize("role", ["marketing", "admin", "sales_head"])
def test_editors(role):
    editor = user(role, username=f"ed_{role}")
    segment = segment_create(actor=editor, name=f"S {role}", filter="score > 1")
    segment_update(actor=editor, segment_id=segment.pk, description="x")
    segment_delete(actor=editor, segment_id=segment.pk)


@pytest.mark.parametrize("role", ["sales", "presales", "guest", "data_quality"])
def test_others_may_use_but_not_edit(admin, role):
    segment = segment_create(actor=admin, name="S", filter="score > 1")
    other = user(role, username=f"u_{role}")
    with pytest.raises(Forbidden):
        segment_create(actor=other, name="Mine", filter="score > 1")
    with pytest.raises(Forbidden):
        segment_update(actor=other, segment_id=segment.pk, description="x")
    with pytest.raises(Forbidden):
        segment_delete(actor=other, segment_id=segment.pk)
    assert segment_count(user=other, segment_id=segment.pk) >= 0
    assert [s.pk for s in segment_list(user=other).items] == [segment.pk]


def test_sales_count_only_their_visible_contacts(admin):
    team = TeamFactory(name="North")
    anna = user("sales", username="anna", team=team)
    stranger = user("sales", username="stranger")
    mine = contact_create(actor=admin, data={"name": "Mine", "owner": "anna", "tags": ["hot"]})
    contact_create(actor=admin, data={"name": "Theirs", "owner": "stranger", "tags": ["hot"]})
    contact_create(actor=admin, data={"name": "Nobody's", "tags": ["hot"]})
    segment = segment_create(actor=admin, name="Hot", filter="tag:hot")
    assert segment_count(user=admin, segment_id=segment.pk) == 3
    assert segment_count(user=anna, segment_id=segment.pk) == 1
    assert [c.pk for c in segment_members(user=anna, segment_id=segment.pk).items] == [mine.pk]
    assert segment_count(user=stranger, segment_id=segment.pk) == 1
    preview = filter_preview(user=anna, text="tag:hot")
    assert preview.count == 1 and [c.pk for c in preview.items] == [mine.pk]


def test_dynamic_membership(admin, realtor):
    segment = segment_create(actor=admin, name="Beach", filter="tag:beach")
    assert segment_count(user=admin, segment_id=segment.pk) == 2
    tag = Tag.objects.get(key="beach")
    ContactTag.objects.create(contact=realtor["david"], tag=tag)
    assert segment_count(user=admin, segment_id=segment.pk) == 3
    Contact.objects.filter(pk=realtor["brian"].pk).update(merged_into=realtor["jenny"])
    assert segment_count(user=admin, segment_id=segment.pk) == 2


def test_contacts_matching_for_exports(admin, realtor):
    segment_create(actor=admin, name="Beach", filter="tag:beach")
    names = lambda qs: sorted(qs.values_list("name", flat=True))  # noqa: E731
    assert names(contacts_matching(user=None, segment="beach")) == ["Brian", "Jenny"]
    assert names(contacts_matching(user=None, segment="Beach", text="tag:forest")) == ["Jenny"]
    assert names(contacts_matching(user=None, text="tag:income")) == ["David"]
    with pytest.raises(NotFound):
        contacts_matching(user=None, segment="nosuch")


def test_preview_returns_text_tree_and_first_ten(admin):
    for i in range(12):
        contact_create(actor=admin, data={"name": f"P{i}", "tags": ["p"]})
    preview = filter_preview(user=admin, tree={"op": "tag", "name": "p"})
    assert preview.count == 12 and len(preview.items) == 10
    assert preview.text == "tag:p" and preview.tree == {"op": "tag", "name": "p"}
    assert preview.items[0].name == "P11"
