"""A person removed from the config is refused in the VK community chat too."""

from __future__ import annotations

from bot.config import load_config
from tests import test_vk_chat
from tests.test_vk_chat import CONFIG, VASILIEV, VK_TOKEN, VkHarness

vk = test_vk_chat.vk
otklik = test_vk_chat.otklik

VASILIEV_ENTRY = """[[people]]
name = "Васильев Виктор"
roles = ["executor"]
departments = ["roads"]
vk_id = 7001
"""


async def test_a_removed_person_is_refused_in_vk(otklik: VkHarness, tmp_path: object) -> None:
    n = await otklik.register("Яма на дороге https://vk.com/wall-1_10")
    await otklik.vk_press(VASILIEV, "take", n)
    path = tmp_path / "changed.toml"  # type: ignore[operator]
    assert VASILIEV_ENTRY in CONFIG
    path.write_text(CONFIG.replace(VASILIEV_ENTRY, "").format(
        token=otklik.config.telegram_token, api_base=otklik.server.api_base,
        vk_token=VK_TOKEN, group_id=otklik.config.settings.vk.group_id,
        vk_api_base=otklik.vk.api_base), encoding="utf-8")
    otklik.config = load_config(path)
    await otklik.restart()
    await otklik.vk_say(VASILIEV, "Ответ по яме")
    assert otklik.vk_last(VASILIEV) == "Доступ закрыт, обратитесь к администратору."
    otklik.vk.push_message_event(VASILIEV, {"a": "answer", "n": n})
    await otklik.step()
    assert otklik.snackbars(VASILIEV)[-1] == "Доступ закрыт, обратитесь к администратору."
    assert await otklik.a.usecases.queries.draft(n) is None
    refused = [e for e in await otklik.audit() if e.action == "inactive"]
    assert len(refused) == 2 and all(not e.ok for e in refused)
