"""The coordinator's chat is forgiving: a plain text is first asked about («Зарегистрировать
как сообщение?» Да / Отмена), a link goes straight to the category; /help names /cancel; each
person's chat gets the command menu of their roles (setMyCommands, BotCommandScopeChat), and a
restart gives again only the menus that changed."""

from __future__ import annotations

from collections import Counter

from bot.config import load_config
from tests.harness import COORDINATOR, CURATOR, PETROV, SIDOROVA, TOKEN, Harness


async def test_a_plain_text_is_asked_about_and_can_be_dropped(otklik: Harness) -> None:
    await otklik.say(COORDINATOR, "Коллеги, совещание перенесли на 15:00")
    assert otklik.last_text(COORDINATOR) == "Зарегистрировать как сообщение?"
    call, _ = otklik.button(COORDINATOR, "intake_no")
    assert [b["text"] for row in call.buttons for b in row] == ["Да", "Отмена"]
    await otklik.press(COORDINATOR, "intake_no")
    assert "не зарегистрировано" in otklik.last_text(COORDINATOR)
    assert await otklik.incident(1) is None
    # The same press again (or a forged one) is answered and changes nothing.
    await otklik.press(COORDINATOR, "intake_no")
    assert "устарела" in otklik.alerts(COORDINATOR)[-1]
    # «Да» leads to the category, and the incident is registered as before.
    await otklik.say(COORDINATOR, "Яма на Ленина, 5")
    await otklik.press(COORDINATOR, "intake_yes")
    assert "Выберите категорию" in otklik.last_text(COORDINATOR)
    await otklik.press(COORDINATOR, "cat", label="Дороги")
    incident = await otklik.incident(1)
    assert incident is not None and incident.text == "Яма на Ленина, 5"


async def test_a_link_goes_straight_to_the_category(otklik: Harness) -> None:
    await otklik.say(COORDINATOR, "Яма во дворе https://vk.com/wall-1_7")
    assert "Выберите категорию" in otklik.last_text(COORDINATOR)


async def test_help_names_cancel(otklik: Harness) -> None:
    await otklik.say(PETROV, "/help")
    assert "/cancel" in otklik.last_text(PETROV)


async def test_each_role_gets_its_command_menu(otklik: Harness) -> None:
    menus = {c.params["scope"]["chat_id"]: [x["command"] for x in c.params["commands"]]
             for c in otklik.server.calls_to("setMyCommands") if c.ok}
    assert all(c.params["scope"]["type"] == "chat"
               for c in otklik.server.calls_to("setMyCommands"))
    assert menus[COORDINATOR.id] == ["open", "incident", "report", "export", "board",
                                     "templates", "invite", "cancel", "help"]
    assert menus[PETROV.id] == ["my", "incident", "cancel", "help"]
    assert "invite" not in menus[CURATOR.id] and "open" in menus[CURATOR.id]
    # The fake keeps them per chat as Telegram would.
    assert [c["command"] for c in otklik.server.commands[("chat", PETROV.id, None, "")]] == \
        menus[PETROV.id]


async def test_a_restart_gives_again_only_the_menus_that_changed(otklik: Harness) -> None:
    def given() -> Counter[int]:
        return Counter(c.params["scope"]["chat_id"]
                       for c in otklik.server.calls_to("setMyCommands") if c.ok)

    first = given()
    assert first[COORDINATOR.id] == first[PETROV.id] == first[SIDOROVA.id] == 1
    await otklik.restart()
    assert given() == first  # nobody's menu changed: none is sent again
    # Петров becomes a coordinator too: his menu, and only his, is given again.
    path = otklik.config.path
    changed = path.with_name("changed.toml")
    changed.write_text(path.read_text(encoding="utf-8").replace(
        'name = "Петров Павел"\nroles = ["executor"]',
        'name = "Петров Павел"\nroles = ["executor", "coordinator"]'), encoding="utf-8")
    otklik.config = load_config(changed)
    await otklik.restart()
    assert given() == first + Counter({PETROV.id: 1})
    last = otklik.server.calls_to("setMyCommands")[-1].params
    assert last["scope"]["chat_id"] == PETROV.id
    assert "open" in [c["command"] for c in last["commands"]]
    # A chat found unreachable (its card bounced) gets its menu again at the next start.
    otklik.server.block_user(SIDOROVA.id)
    await otklik.say(COORDINATOR, "Потёк кран в подъезде")
    await otklik.press(COORDINATOR, "intake_yes")
    await otklik.press(COORDINATOR, "cat", label="ЖКХ")
    assert any("Не удалось доставить" in t for t in otklik.texts(COORDINATOR))
    otklik.server.unblock_user(SIDOROVA.id)
    await otklik.restart()
    assert given() == first + Counter({PETROV.id: 1, SIDOROVA.id: 1})
    # Another token is another bot, which never gave these menus: every one is given again.
    otklik.server.token = "654321:OTHER-token"
    changed.write_text(changed.read_text(encoding="utf-8").replace(TOKEN, otklik.server.token),
                       encoding="utf-8")
    otklik.config = load_config(changed)
    await otklik.restart()
    assert given() == first + first + Counter({PETROV.id: 1, SIDOROVA.id: 1})
    await otklik.restart()
    assert given() == first + first + Counter({PETROV.id: 1, SIDOROVA.id: 1})
