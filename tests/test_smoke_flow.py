from tests.harness import COORDINATOR, PETROV, Harness, incident_number


async def test_register_and_take(otklik: Harness) -> None:
    await otklik.say(COORDINATOR, "Яма на ул. Ленина https://vk.com/wall-1_2")
    await otklik.press(COORDINATOR, "cat", label="Дороги")
    card = otklik.last_text(PETROV)
    n = incident_number(card)
    await otklik.press(PETROV, "take", n)
    for line in otklik.server.transcript():
        print(line)
    assert (await otklik.incident(n)).state == "in_progress"
