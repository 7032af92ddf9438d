"""Every use case of `NotesService` (service_layer/notes_service.py) against in-memory fakes of its
ports: staff who may see a conversation write and read its private notes, a customer never, the
audience of `note.created`, pages, and a transfer's note. That no customer path ever shows a note,
against the whole stack: tests/e2e/test_desk_notes.py."""

from __future__ import annotations

from workcity_common.events import NoteCreated

from tests.unit.conversations.fakes import oid
from tests.unit.conversations.test_desk_service import desk, fails, settle
from tests.unit.conversations.test_service import person


async def test_staff_who_see_it_write_and_read_notes() -> None:
    d = await desk()
    queued = d.queue(d.support)
    first = await d.notes.add(d.ann, queued, "  called them  ")
    second = await d.notes.add(d.admin, queued, "ok")
    assert first["text"] == "called them" and first["author"]["email"] == d.ann.email
    [event, _] = [e for e in d.note_store.events if isinstance(e, NoteCreated)]
    assert d.ann.id in event.data.staff_ids and d.customer.id not in event.data.staff_ids
    listed = await d.notes.list(d.ann, queued, None, None)
    assert [(n["_id"], n["author"]["email"]) for n in listed] == [
        (first["_id"], d.ann.email),
        (second["_id"], d.admin.email),
    ]
    assert [n["_id"] for n in await d.notes.list(d.ann, queued, "5", first["_id"])] == [
        second["_id"]
    ]
    assert await d.notes.list(d.ann, queued, None, oid()) == []


async def test_nobody_else_reads_or_writes_them() -> None:
    d = await desk()
    queued = d.queue(d.support)
    await fails("staff_only", d.notes.add(d.customer, queued, "hi"))
    await fails("staff_only", d.notes.list(d.customer, queued, None, None))
    await fails("not_allowed", d.notes.add(person("agent"), queued, "hi"))
    await fails("text_too_long", d.notes.add(d.ann, queued, "x" * 51))
    await fails("not_found", d.notes.add(d.ann, oid(), "hi"))


async def test_a_transfers_note_is_kept_for_the_new_team() -> None:
    d = await desk()
    queued = d.queue(d.support, assignee_id=d.ann.id)
    await d.service.transfer(d.ann, queued, d.billing, "over to you")
    [note] = await d.notes.list(d.bob, queued, None, None)
    assert (note["text"], note["author"]["_id"]) == ("over to you", d.ann.id)
    await settle(d)
