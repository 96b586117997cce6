"""Video is proof too: an executor's video joins the draft like a photo, reaches the
coordinator (sendVideo, or an album with photos) and is published to a Telegram group."""

from __future__ import annotations

from tests import test_drafts
from tests.harness import COORDINATOR, PETROV, Harness
from tests.test_lifecycle import register
from tests.test_vk_chat import ORLOVA, VASILIEV, VkHarness, read


async def test_a_video_joins_the_draft_and_reaches_the_coordinator(otklik: Harness) -> None:
    n = await register(otklik, "Яма на дороге у школы")
    await otklik.press(PETROV, "take", n)
    await otklik.say(PETROV, video=b"\x00\x00\x00\x18ftypmp42 after", caption="Яму заделали.")
    draft = await otklik.app.usecases.queries.draft(n)  # type: ignore[union-attr]
    assert draft is not None and draft.text == "Яму заделали."
    [video] = draft.attachments
    assert video.kind == "video" and video.mime_type == "video/mp4"
    assert video.local_path and read(video.local_path).endswith(b"after")
    preview = [t for t in otklik.texts(PETROV) if t.startswith("📝 Проект")][-1]
    assert "видео — 1" in preview

    await otklik.press(PETROV, "submit", n)
    sent = otklik.server.sent_to(COORDINATOR.id)
    videos = [c for c in sent if c.method == "sendVideo"]
    assert len(videos) == 1 and videos[0].params["video"] == video.file_id
    assert "Яму заделали." in otklik.last_text(COORDINATOR)


async def test_photos_and_a_video_go_to_the_coordinator_as_one_album(otklik: Harness) -> None:
    n = await register(otklik, "Яма на дороге у школы")
    await otklik.press(PETROV, "take", n)
    otklik.server.message(PETROV, photo=b"\xff\xd8 before", media_group_id="m1",
                          caption="Было и стало.")
    otklik.server.message(PETROV, video=b"video after", media_group_id="m1")
    await otklik.step()
    draft = await otklik.app.usecases.queries.draft(n)  # type: ignore[union-attr]
    assert draft is not None and [a.kind for a in draft.attachments] == ["photo", "video"]
    preview = [t for t in otklik.texts(PETROV) if t.startswith("📝 Проект")]
    assert len(preview) == 1 and "фото — 1, видео — 1" in preview[0]

    await otklik.press(PETROV, "submit", n)
    album = [c for c in otklik.server.sent_to(COORDINATOR.id) if c.method == "sendMediaGroup"][-1]
    assert [m["type"] for m in album.params["media"]] == ["photo", "video"]


async def test_a_video_is_published_to_a_telegram_group_with_the_answer(
        otklik: Harness) -> None:
    from tests.test_groups import GROUP, complain

    update = await complain(otklik, "Во дворе дома 5 огромная яма, машины бьются")
    await otklik.press(PETROV, "take", 1)
    await otklik.say(PETROV, video=b"video of the repair", caption="Яму засыпали щебнем.")
    await otklik.press(PETROV, "submit", 1)
    await otklik.press(COORDINATOR, "approve", 1)
    assert otklik.app is not None
    await otklik.app.usecases.sweep.sweep()
    await otklik.step()
    video, reply = otklik.server.sent_to(GROUP)
    assert video.method == "sendVideo"
    assert video.params["reply_parameters"]["message_id"] == update["message"]["message_id"]
    assert reply.text == "Яму засыпали щебнем."


# --- VK: a video sent as a file (MP4) is proof as well --------------------------------------

vk_otklik = test_drafts.vk_otklik  # the Telegram + VK harness


async def test_a_vk_executors_mp4_joins_the_draft_and_reaches_both_coordinators(
        vk_otklik: VkHarness) -> None:
    otklik, vk = vk_otklik, vk_otklik.vk
    n = await otklik.register("Разбит асфальт во дворе")
    await otklik.vk_press(VASILIEV, "take", n)
    clip = vk.add_doc(VASILIEV, "работы.mp4", b"\x00\x00\x00\x18ftypmp42 yard")
    await otklik.vk_say(VASILIEV, "Асфальт уложен, видео прилагаем.", [clip])
    draft = await otklik.a.usecases.queries.draft(n)
    assert draft is not None and [a.kind for a in draft.attachments] == ["video"]
    assert draft.attachments[0].mime_type == "video/mp4"
    preview = [t for t in otklik.vk_texts(VASILIEV) if t.startswith("📝 Проект")][-1]
    assert "видео — 1" in preview

    await otklik.vk_press(VASILIEV, "submit", n)
    # The coordinator in VK gets the video as a file, the one in Telegram as a video.
    files_message = vk.messages_to(ORLOVA)[-2]
    [doc] = [a["doc"] for a in files_message["attachments"]]
    assert vk.doc_content(f"doc{doc['owner_id']}_{doc['id']}").endswith(b"yard")
    [video] = [c for c in otklik.server.sent_to(COORDINATOR.id) if c.method == "sendVideo"]
    assert list(video.files.values()) == [b"\x00\x00\x00\x18ftypmp42 yard"]
