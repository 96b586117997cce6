"""Block owners act within their scope: one rule of visibility for /open, /incident,
/report, /export and «Напомнить»."""

from __future__ import annotations

import csv
import io

from fakes.telegram import FakeTelegramServer
from tests.harness import BLOCK_OWNER, COORDINATOR, Harness
from tests.test_analytics import by_kind, seed, uploads
from tests.test_guards import register


async def test_export_and_report_of_a_block_owner_hold_only_their_departments(
        otklik: Harness, server: FakeTelegramServer) -> None:
    await seed(otklik)  # №1, №2 roads; №3, №4 housing
    await otklik.say(BLOCK_OWNER, "/export 12.11.2026 22.11.2026")
    files = uploads(server, BLOCK_OWNER.id)
    rows = list(csv.reader(io.StringIO(by_kind(files, "csv").decode("utf-8-sig")),
                           delimiter=";"))
    assert [r[0] for r in rows[1:]] == ["1", "2"]
    await otklik.say(BLOCK_OWNER, "/report week")
    assert "Новые: <b>2</b>" in otklik.last_text(BLOCK_OWNER)  # №3 (housing) left out
    # The coordinator still gets everything.
    await otklik.say(COORDINATOR, "/export 12.11.2026 22.11.2026")
    rows = list(csv.reader(io.StringIO(by_kind(uploads(server, COORDINATOR.id), "csv")
                                       .decode("utf-8-sig")), delimiter=";"))
    assert [r[0] for r in rows[1:]] == ["1", "2", "3", "4"]


async def test_a_block_owner_cannot_remind_outside_their_scope(otklik: Harness) -> None:
    housing = await register(otklik, "Нет отопления в доме 3", "ЖКХ")
    roads = await register(otklik, "Яма на Ленина", "Дороги")
    # A «Напомнить» press forged from the coordinator's card of the housing incident.
    for n, allowed in ((housing, False), (roads, True)):
        call = otklik.server.sent_to(COORDINATOR.id)[-1]
        otklik.server.callback(BLOCK_OWNER, call, f"i:remind:{n}:-1:")
        await otklik.step()
        reminded = [e for e in await otklik.audit()
                    if e.incident_id == n and e.action == "remind"]
        assert [e.ok for e in reminded] == [allowed]
        if not allowed:
            assert reminded[0].reason == "not_visible"
            assert "недоступен" in otklik.alerts(BLOCK_OWNER)[-1]
    await otklik.say(BLOCK_OWNER, f"/incident {housing}")
    assert "недоступен" in otklik.last_text(BLOCK_OWNER)
    await otklik.say(BLOCK_OWNER, "/open")
    assert f"№{roads}" in otklik.last_text(BLOCK_OWNER)
    assert f"№{housing}" not in otklik.last_text(BLOCK_OWNER)
