"""The real vk_api, through bot.vk_client, against the fake VK API on loopback."""

from __future__ import annotations

import asyncio
import json
import logging
import math
import time
from collections.abc import AsyncIterator

import pytest
import requests
import vk_api
from vk_api.bot_longpoll import VkBotEventType, VkBotLongPoll

from bot.vk_client import (
    RetryPolicy,
    VkClient,
    VkPermanentError,
    VkTemporaryError,
    make_session,
    make_vk,
)
from fakes.vk import GROUP_ID, FakeVkServer

GROUP_TOKEN = "vk1.a.group-token-0123456789abcdef"
SERVICE_TOKEN = "svc-token-fedcba9876543210"
USER_TOKEN = "vk1.a.user-token-5555aaaa"
COMMUNITY = -77  # a watched district community
RESIDENT, NEIGHBOUR, EXECUTOR = 501, 502, 601
FAST = RetryPolicy(attempts=4, base_delay=0.001, max_delay=0.01)


@pytest.fixture
async def vk() -> AsyncIterator[FakeVkServer]:
    tokens = {GROUP_TOKEN: "group", SERVICE_TOKEN: "service", USER_TOKEN: "user"}
    async with FakeVkServer(tokens=tokens) as server:
        yield server


def client(server: FakeVkServer, token: str, retry: RetryPolicy = FAST) -> VkClient:
    return VkClient(token, api_base=server.api_base, rps=math.inf, retry=retry)


# ----------------------------------------------------------------------------- wall


async def test_wall_get_returns_newest_first_and_comments_keep_threads(vk: FakeVkServer) -> None:
    old = vk.add_post(COMMUNITY, "Старый пост")
    post = vk.add_post(COMMUNITY, "Ямы на Ленина", from_id=RESIDENT)
    top = vk.add_comment(COMMUNITY, post["id"], "Когда починят?", from_id=NEIGHBOUR)
    vk.add_comment(COMMUNITY, post["id"], "Присоединяюсь", from_id=RESIDENT,
                   reply_to_comment=top["id"])
    svc = client(vk, SERVICE_TOKEN)

    wall = await svc.call("wall.get", owner_id=COMMUNITY, count=10)
    assert wall["count"] == 2
    assert [p["id"] for p in wall["items"]] == [post["id"], old["id"]]
    assert wall["items"][0]["text"] == "Ямы на Ленина"
    assert wall["items"][0]["from_id"] == RESIDENT

    answer = await svc.call("wall.getComments", owner_id=COMMUNITY, post_id=post["id"],
                            count=100, thread_items_count=10, extended=True)
    assert answer["count"] == 2 and answer["current_level_count"] == 1
    [item] = answer["items"]
    assert (item["id"], item["from_id"], item["text"]) == (top["id"], NEIGHBOUR, "Когда починят?")
    assert item["thread"]["count"] == 1
    assert item["thread"]["items"][0]["reply_to_comment"] == top["id"]
    assert {p["id"] for p in answer["profiles"]} == {NEIGHBOUR, RESIDENT}
    # vk_api really asked for API 5.199 and the call went over HTTP to the fake
    assert [c.params["v"] for c in vk.calls_to("wall.getComments")] == ["5.199"]
    assert SERVICE_TOKEN not in json.dumps([c.params for c in vk.calls])


async def test_reply_from_group_lands_in_the_thread_of_the_comment(vk: FakeVkServer) -> None:
    post = vk.add_post(COMMUNITY, "Нет света")
    top = vk.add_comment(COMMUNITY, post["id"], "Третий день без света", from_id=RESIDENT)
    reply = vk.add_comment(COMMUNITY, post["id"], "У нас тоже", from_id=NEIGHBOUR,
                           reply_to_comment=top["id"])
    user = client(vk, USER_TOKEN)

    created = await user.call("wall.createComment", owner_id=COMMUNITY, post_id=post["id"],
                              from_group=GROUP_ID, reply_to_comment=reply["id"],
                              message="Бригада выехала")
    assert created["parents_stack"] == [top["id"]]
    stored = vk.comments(COMMUNITY, post["id"])[-1]
    assert stored["id"] == created["comment_id"]
    assert stored["from_id"] == -GROUP_ID
    assert (stored["reply_to_comment"], stored["reply_to_user"]) == (reply["id"], NEIGHBOUR)

    thread = await client(vk, SERVICE_TOKEN).call(
        "wall.getComments", owner_id=COMMUNITY, post_id=post["id"], comment_id=top["id"])
    assert [c["id"] for c in thread["items"]] == [reply["id"], created["comment_id"]]
    assert thread["items"][-1]["text"] == "Бригада выехала"


async def test_deleted_post_and_closed_comments_refuse_the_answer(vk: FakeVkServer) -> None:
    gone = vk.add_post(COMMUNITY, "Пост удалят")
    closed = vk.add_post(COMMUNITY, "Комментарии закроют")
    vk.delete_post(COMMUNITY, gone["id"])
    vk.close_comments(COMMUNITY, closed["id"])
    user = client(vk, USER_TOKEN)

    with pytest.raises(VkPermanentError) as deleted:
        await user.call("wall.createComment", owner_id=COMMUNITY, post_id=gone["id"],
                        from_group=GROUP_ID, message="Ответ")
    assert deleted.value.code == 15 and "deleted" in deleted.value.message
    with pytest.raises(VkPermanentError) as refused:
        await user.call("wall.createComment", owner_id=COMMUNITY, post_id=closed["id"],
                        from_group=GROUP_ID, message="Ответ")
    assert refused.value.code == 213
    assert vk.comments(COMMUNITY, closed["id"]) == []
    assert len(vk.calls_to("wall.createComment")) == 2  # no retries of permanent errors


async def test_missing_parameter_unknown_method_and_wrong_version(vk: FakeVkServer) -> None:
    svc = client(vk, SERVICE_TOKEN)
    with pytest.raises(VkPermanentError) as missing:
        await svc.call("wall.getComments", owner_id=COMMUNITY)
    assert missing.value.code == 100 and "post_id is missing" in missing.value.message
    with pytest.raises(VkPermanentError) as unknown:
        await svc.call("wall.getCommentz", owner_id=COMMUNITY)
    assert (unknown.value.code, unknown.value.message) == (3, "Unknown method passed")
    # a bare vk_api client keeps its default 5.92: the fake refuses it loudly
    bare = vk_api.VkApi(token=SERVICE_TOKEN, session=make_session(vk.api_base))
    with pytest.raises(vk_api.ApiError) as old:
        await asyncio.to_thread(bare.method, "users.get", {"user_ids": RESIDENT})
    assert old.value.code == 8


# ----------------------------------------------------------------------------- photos


async def test_two_photos_upload_into_two_attachments(vk: FakeVkServer) -> None:
    post = vk.add_post(COMMUNITY, "Мусор во дворе")
    user = client(vk, USER_TOKEN)
    photos = [b"\xff\xd8 first jpeg", b"\xff\xd8 second jpeg"]

    attachments = await user.upload_wall_photos(GROUP_ID, photos)

    assert len(attachments) == 2 and len(set(attachments)) == 2
    assert all(a.startswith(f"photo-{GROUP_ID}_") for a in attachments)
    assert [vk.photo_content(a) for a in attachments] == photos
    assert len(vk.calls_to("photos.saveWallPhoto")) == 2
    assert all(c.ok for c in vk.calls_to("photos.saveWallPhoto"))
    await user.call("wall.createComment", owner_id=COMMUNITY, post_id=post["id"],
                    from_group=GROUP_ID, message="Убрано", attachments=attachments)
    [comment] = vk.comments(COMMUNITY, post["id"])
    assert [a["photo"]["id"] for a in comment["attachments"]] == [
        int(a.rsplit("_", 1)[1]) for a in attachments]


async def test_group_token_cannot_get_a_wall_upload_server(vk: FakeVkServer) -> None:
    with pytest.raises(VkPermanentError) as error:
        await client(vk, GROUP_TOKEN).upload_wall_photos(GROUP_ID, [b"jpeg"])
    assert error.value.code == 27
    assert "group auth" in error.value.message
    assert vk.calls_to("photos.getWallUploadServer")[0].error_code == 27


# ----------------------------------------------------------------------------- errors


async def test_error_6_is_retried_with_backoff_and_succeeds(vk: FakeVkServer) -> None:
    vk.add_post(COMMUNITY, "Пост")
    vk.fail_next("wall.get", 6, times=2)

    answer = await client(vk, SERVICE_TOKEN).call("wall.get", owner_id=COMMUNITY)

    assert answer["count"] == 1
    attempts = vk.calls_to("wall.get")
    assert [c.error_code for c in attempts] == [6, 6, None]
    assert attempts[-1].ok


async def test_retries_run_out_into_a_temporary_error(vk: FakeVkServer) -> None:
    vk.fail_next("users.get", 9, "Flood control", times=10)
    with pytest.raises(VkTemporaryError) as error:
        await client(vk, GROUP_TOKEN).call("users.get", user_ids=[RESIDENT])
    assert error.value.code == 9
    assert len(vk.calls_to("users.get")) == FAST.attempts


async def test_network_errors_are_temporary() -> None:
    with socket_closed() as base:
        dead = VkClient(SERVICE_TOKEN, api_base=base, rps=math.inf, retry=FAST, timeout=2)
        with pytest.raises(VkTemporaryError) as error:
            await dead.call("users.get", user_ids=[RESIDENT])
    assert error.value.code == -1
    assert SERVICE_TOKEN not in str(error.value)


async def test_error_15_is_permanent_at_once(vk: FakeVkServer) -> None:
    vk.fail_next("wall.getComments", 15, "Access denied", times=3)
    with pytest.raises(VkPermanentError) as error:
        await client(vk, SERVICE_TOKEN).call("wall.getComments", owner_id=COMMUNITY, post_id=1)
    assert error.value.code == 15
    assert len(vk.calls_to("wall.getComments")) == 1


async def test_unknown_token_is_permanent_and_never_shown(
        vk: FakeVkServer, caplog: pytest.LogCaptureFixture) -> None:
    secret = "vk1.a.stolen-looking-token-42"
    caplog.set_level(logging.DEBUG)
    vk.fail_next("users.get", 6)  # one retry, so the retry is logged too

    with pytest.raises(VkPermanentError) as error:
        await client(vk, secret).call("users.get", user_ids=[RESIDENT])

    assert error.value.code == 5
    assert "invalid access_token" in error.value.message
    assert error.value.__cause__ is None and error.value.__context__ is None
    assert secret not in str(error.value) and secret not in repr(error.value.args)
    assert secret not in caplog.text
    assert [c.error_code for c in vk.calls_to("users.get")] == [5]  # 5 before any fault


async def test_token_is_scrubbed_from_errors_and_logs(
        vk: FakeVkServer, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    vk.fail_next("users.get", 6, f"Too many requests: access_token={GROUP_TOKEN}")
    vk.fail_next("groups.getById", 100, f"bad {GROUP_TOKEN}, access_token={USER_TOKEN}&v=1")
    grp = client(vk, GROUP_TOKEN)

    await grp.call("users.get", user_ids=[RESIDENT])
    with pytest.raises(VkPermanentError) as error:
        await grp.call("groups.getById")

    assert str(error.value).endswith("bad ***, access_token=***&v=1")  # any token, by name
    assert GROUP_TOKEN not in str(error.value) and USER_TOKEN not in str(error.value)
    assert "retry 1/3" in caplog.text and GROUP_TOKEN not in caplog.text


# ----------------------------------------------------------------------------- messages


async def test_same_random_id_sends_one_message(vk: FakeVkServer) -> None:
    grp = client(vk, GROUP_TOKEN)
    first = await grp.call("messages.send", peer_id=EXECUTOR, random_id=777, message="Инцидент №5")
    again = await grp.call("messages.send", peer_id=EXECUTOR, random_id=777, message="Инцидент №5")
    other = await grp.call("messages.send", peer_id=EXECUTOR, random_id=778, message="Инцидент №6")

    assert first == again != other
    assert [m["text"] for m in vk.messages_to(EXECUTOR)] == ["Инцидент №5", "Инцидент №6"]
    assert len(vk.calls_to("messages.send")) == 3


async def test_message_limits_and_keyboard_validation(vk: FakeVkServer) -> None:
    grp = client(vk, GROUP_TOKEN)
    button = {"action": {"type": "callback", "label": "Взять", "payload": "{}"}}
    with pytest.raises(VkPermanentError) as too_long:
        await grp.call("messages.send", peer_id=EXECUTOR, random_id=1, message="я" * 4097)
    assert too_long.value.code == 914
    big = dict(button, action=dict(button["action"], payload=json.dumps({"x": "y" * 260})))
    with pytest.raises(VkPermanentError) as payload:
        await grp.call("messages.send", peer_id=EXECUTOR, random_id=2, message="т",
                       keyboard={"inline": True, "buttons": [[big]]})
    assert payload.value.code == 911
    with pytest.raises(VkPermanentError) as wide:
        await grp.call("messages.send", peer_id=EXECUTOR, random_id=3, message="т",
                       keyboard={"inline": True, "buttons": [[button] * 6]})
    assert wide.value.code == 911
    assert vk.messages_to(EXECUTOR) == []
    ok = {"inline": True, "buttons": [[button] * 5, [button] * 5]}
    await grp.call("messages.send", peer_id=EXECUTOR, random_id=4, message="т", keyboard=ok)
    assert vk.messages_to(EXECUTOR)[0]["keyboard"]["buttons"] == ok["buttons"]


# ----------------------------------------------------------------------------- long poll


async def test_long_poll_delivers_message_new_and_message_event(vk: FakeVkServer) -> None:
    grp = client(vk, GROUP_TOKEN)
    payload = {"a": "take", "i": 5}
    keyboard = {"inline": True, "buttons": [[{"action": {
        "type": "callback", "label": "Взять", "payload": json.dumps(payload)}}]]}
    await grp.call("messages.send", peer_id=EXECUTOR, random_id=1, message="Инцидент №5",
                   keyboard=keyboard)
    longpoll = await asyncio.to_thread(VkBotLongPoll, grp.api, GROUP_ID, 5)

    started = time.monotonic()
    waiting = asyncio.create_task(asyncio.to_thread(longpoll.check))
    await asyncio.sleep(0.1)
    assert not waiting.done()  # the request really waits for events
    vk.push_message_new(EXECUTOR, "Готово, фото во вложении", [b"\xff\xd8 done.jpg"])
    [new] = await waiting
    assert time.monotonic() - started < 3

    assert new.type == VkBotEventType.MESSAGE_NEW and new.group_id == GROUP_ID
    message = new.object["message"]
    assert (message["from_id"], message["peer_id"], message["text"]) == (
        EXECUTOR, EXECUTOR, "Готово, фото во вложении")
    assert new.object["client_info"]["inline_keyboard"] is True
    photo = message["attachments"][0]["photo"]
    biggest = max(photo["sizes"], key=lambda s: s["width"] * s["height"])
    download = await asyncio.to_thread(requests.get, biggest["url"], timeout=5)
    assert download.content == b"\xff\xd8 done.jpg"

    vk.push_message_event(EXECUTOR, payload)
    [press] = await asyncio.to_thread(longpoll.check)
    assert press.type == VkBotEventType.MESSAGE_EVENT
    assert press.object["payload"] == payload
    assert press.object["conversation_message_id"] == (
        vk.messages_to(EXECUTOR)[0]["conversation_message_id"])
    answer = {"type": "show_snackbar", "text": "Инцидент взят"}
    await grp.call("messages.sendMessageEventAnswer", event_id=press.object["event_id"],
                   user_id=EXECUTOR, peer_id=EXECUTOR, event_data=answer)
    assert vk.event_answers[-1]["event_data"] == answer


async def test_long_poll_recovers_from_an_expired_key(vk: FakeVkServer) -> None:
    grp = client(vk, GROUP_TOKEN)
    longpoll = await asyncio.to_thread(VkBotLongPoll, grp.api, GROUP_ID, 1)
    vk.push_message_new(RESIDENT, "первое")
    vk.fail_longpoll(2)
    assert await asyncio.to_thread(longpoll.check) == []  # vk_api fetches a new key
    [event] = await asyncio.to_thread(longpoll.check)
    assert event.object["message"]["text"] == "первое"
    assert len(vk.calls_to("groups.getLongPollServer")) == 2


# ----------------------------------------------------------------------------- client setup


def test_rate_limit_is_per_client_and_vk_api_does_not_retry_6_itself() -> None:
    community = make_vk(GROUP_TOKEN, rps=20)
    default = make_vk(USER_TOKEN)
    assert pytest.approx(0.05) == community.RPS_DELAY
    assert default.RPS_DELAY == vk_api.VkApi.RPS_DELAY == pytest.approx(0.34)
    assert make_vk(GROUP_TOKEN, rps=math.inf).RPS_DELAY == 0
    assert 6 not in community.error_handlers
    assert community.api_version == "5.199"


async def test_both_vk_hosts_are_redirected(vk: FakeVkServer) -> None:
    session = make_session(vk.api_base)
    for host in ("https://api.vk.com", "https://api.vk.ru"):
        response = await asyncio.to_thread(
            session.post, f"{host}/method/users.get",
            {"user_ids": RESIDENT, "v": "5.199", "access_token": SERVICE_TOKEN})
        assert response.json()["response"][0]["id"] == RESIDENT
    assert len(vk.calls_to("users.get")) == 2


class socket_closed:
    """An api_base where nothing listens."""

    def __enter__(self) -> str:
        import socket

        self._sock = socket.socket()
        self._sock.bind(("127.0.0.1", 0))
        return f"http://127.0.0.1:{self._sock.getsockname()[1]}"

    def __exit__(self, *exc_info: object) -> None:
        self._sock.close()
