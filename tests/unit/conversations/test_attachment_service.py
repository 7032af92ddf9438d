"""The attachment use cases (service_layer/attachment_service.py) against in-memory fakes: uploads
within the size limit and the uploader's quota, typed from their bytes; downloads for viewers; the
sweep of uploads no message took. The GridFS adapter is checked in
tests/integration/conversations/test_attachments.py."""

from __future__ import annotations

import pytest
from workcity_common.domain_errors import DomainError
from workcity_conversations.domain.model import Conversation
from workcity_conversations.service_layer.attachment_service import AttachmentService
from workcity_conversations.service_layer.limits import Limits

from tests.unit.conversations.fakes import FakeFileStore
from tests.unit.conversations.test_service import T0, chunks, oid, person

PNG = b"\x89PNG\r\n\x1a\n"
CUSTOMER, AGENT = person(), person("agent")


def setup(limits: Limits | None = None) -> tuple[AttachmentService, FakeFileStore, Conversation]:
    conversation = Conversation(oid(), (CUSTOMER.id, AGENT.id), 0, T0, T0)
    live = {conversation.id: conversation}
    files = FakeFileStore(T0)

    async def lookup(conversation_id: str) -> Conversation | None:
        return live.get(conversation_id)

    service = AttachmentService(files, lookup, limits or Limits())
    return service, files, conversation


async def test_an_upload_is_typed_from_its_bytes_and_stored_whole() -> None:
    service, files, conversation = setup()
    target = await service.conversation_for_upload(CUSTOMER, conversation.id)
    stored = await service.upload(
        CUSTOMER, target, "../shot.png", "text/plain", chunks(PNG, b"x" * 10)
    )
    assert stored["contentType"] == "image/png" and stored["size"] == len(PNG) + 10
    assert stored["filename"] == "shot.png"
    assert files.files[stored["_id"]].data == PNG + b"x" * 10


async def test_uploads_are_refused_past_the_size_limit_and_the_quota() -> None:
    service, files, conversation = setup(Limits(attachment_max_bytes=20, attachment_quota_bytes=30))
    with pytest.raises(DomainError) as error:
        await service.upload(CUSTOMER, conversation, "a.png", None, chunks(PNG, bytes(20)))
    assert error.value.code == "payload_too_large"
    assert files.uploads[-1].aborted and files.files == {}
    await service.upload(CUSTOMER, conversation, "b.png", None, chunks(PNG, bytes(10)))
    with pytest.raises(DomainError) as error:
        await service.upload(CUSTOMER, conversation, "c.png", None, chunks(PNG, bytes(10)))
    assert error.value.code == "attachment_quota_exceeded"
    assert files.uploads[-1].aborted and len(files.files) == 1


async def test_empty_and_unknown_files_are_refused() -> None:
    service, _, conversation = setup()
    with pytest.raises(DomainError) as error:
        await service.upload(CUSTOMER, conversation, "a.png", None, chunks())
    assert error.value.code == "empty_file"
    with pytest.raises(DomainError) as error:
        await service.upload(CUSTOMER, conversation, "a.exe", None, chunks(b"MZ\x90\x00" * 10))
    assert error.value.code == "executable_not_allowed"


async def test_only_participants_upload() -> None:
    service, _, conversation = setup()
    stranger = person()
    with pytest.raises(DomainError) as error:
        await service.conversation_for_upload(stranger, conversation.id)
    assert error.value.code == "not_participant"
    with pytest.raises(DomainError) as error:
        await service.conversation_for_upload(CUSTOMER, oid())
    assert error.value.code == "not_found"


async def test_a_file_uploaded_while_its_conversation_is_deleted_goes_too() -> None:
    service, files, conversation = setup()
    gone = Conversation(oid(), conversation.participants, 0, T0, T0)  # never stored: deleted
    with pytest.raises(DomainError) as error:
        await service.upload(CUSTOMER, gone, "a.png", None, chunks(PNG))
    assert error.value.code == "not_found"
    assert files.files == {}


async def test_download_for_viewers() -> None:
    service, _, conversation = setup()
    stored = await service.upload(AGENT, conversation, "a.png", None, chunks(PNG, b"yz"))
    download = await service.download(CUSTOMER, stored["_id"])
    assert download.attachment.id == stored["_id"]
    assert b"".join([c async for c in download.chunks]) == PNG + b"yz"
    for caller, attachment_id, code in [
        (person(), stored["_id"], "not_participant"),
        (CUSTOMER, oid(), "not_found"),
        (CUSTOMER, "x", "invalid_id"),
    ]:
        with pytest.raises(DomainError) as error:
            await service.download(caller, attachment_id)
        assert error.value.code == code


async def test_the_sweep_removes_only_old_uploads_no_message_took() -> None:
    service, files, conversation = setup(Limits(attachment_unattached_ttl_s=60))
    taken = await service.upload(CUSTOMER, conversation, "a.png", None, chunks(PNG))
    await service.take(conversation.id, [taken["_id"]])
    await service.upload(CUSTOMER, conversation, "b.png", None, chunks(PNG))  # old, untaken
    files.now = files.now.replace(year=2999)
    fresh = await service.upload(CUSTOMER, conversation, "c.png", None, chunks(PNG))
    assert await service.expire_unattached_files() == 1
    assert set(files.files) == {taken["_id"], fresh["_id"]}
