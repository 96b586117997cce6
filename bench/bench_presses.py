"""Benchmark: 1,000 «Взять в работу» presses in a burst, Otklik vs a bare aiogram bot.

Otklik runs as in production (``App.run``: long polling, the outbox sender, the scheduler)
against the fake Bot API, which answers every request after ``--latency`` seconds. 1,000
incidents are registered through the service and routed to ``--executors`` executors (each
with their own chat); then each executor presses «Взять в работу» on every card they got,
all at once. The rate is presses answered (``answerCallbackQuery``) per second until the
last one; the takes must all be stored and none handled twice. A bare aiogram bot (a
dispatcher whose one handler answers the press) polls the same fake with the same burst.
Also printed: the CPU time of this process per press (the bot and the fake, all threads),
steadier than the rates on a busy machine. The last line is the ratio of the two rates
(target ≥ 0.5). ``--mode webhook``: Otklik in
webhook mode, the fake Bot API posting the presses to it (a chat's one after another, up to 40
chats at once, as ``max_connections``); the bare bot still polls. Not a test.

    .venv/bin/python bench/bench_presses.py [--presses 1000] [--executors 50] [--latency 0]
        [--mode polling|webhook]
"""

from __future__ import annotations

import argparse
import asyncio
import socket
import sys
import tempfile
import time
from pathlib import Path
from typing import NamedTuple

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from aiogram import Bot, Dispatcher  # noqa: E402
from aiogram.client.session.aiohttp import AiohttpSession  # noqa: E402
from aiogram.client.telegram import TelegramAPIServer  # noqa: E402
from aiogram.types import CallbackQuery  # noqa: E402

from bot.app import App  # noqa: E402
from bot.config import load_config  # noqa: E402
from fakes.driver import FAST  # noqa: E402
from fakes.telegram import FakeTelegramServer, FakeUser  # noqa: E402
from tests.harness import PETROV, SIDOROVA, TOKEN, write_config  # noqa: E402
from workflows.model import Sighting  # noqa: E402

FIRST_ID = 6000


def executors_config(count: int) -> str:
    return "".join(f'\n[[people]]\nname = "Исполнитель Номер{i}"\nroles = ["executor"]\n'
                   f'departments = ["roads"]\ntelegram_id = {FIRST_ID + i}\n'
                   for i in range(count))


def take_presses(tg: FakeTelegramServer, users: dict[int, FakeUser]) -> list[tuple]:
    """(user, the card's call, callback data) of every «Взять в работу» button sent."""
    presses = []
    for call in tg.calls:
        if call.method != "sendMessage" or not call.ok or call.chat_id not in users:
            continue
        for row in call.buttons:
            for b in row:
                if b.get("callback_data", "").startswith("i:take:"):
                    presses.append((users[call.chat_id], call, b["callback_data"]))
    return presses


class Burst(NamedTuple):
    seconds: float  # until the last press was answered
    cpu: float  # CPU seconds of this process meanwhile (the bot and the fake, all threads)

    def per_press(self, presses: int) -> tuple[float, float]:
        """Presses answered per second, and the CPU milliseconds per press."""
        return presses / self.seconds, self.cpu / presses * 1000


async def wait_answers(tg: FakeTelegramServer, start: int, count: int,
                       limit: float = 600.0) -> Burst:
    """Until ``count`` presses were answered (calls recorded after index ``start``)."""
    started, seen, answered = time.perf_counter(), start, 0
    cpu = time.process_time()
    while answered < count:
        if time.perf_counter() - started > limit:
            raise SystemExit(f"only {answered} of {count} presses answered in {limit:.0f} s")
        await asyncio.sleep(0.005)
        calls = tg.calls[seen:]
        seen += len(calls)
        answered += sum(1 for c in calls if c.method == "answerCallbackQuery")
    return Burst(time.perf_counter() - started, time.process_time() - cpu)


def webhook_mode(path: Path) -> Path:
    """The config at ``path`` switched to webhook mode on a free loopback port."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    groups = "groups = [-1001234567890]\n"
    path.write_text(path.read_text(encoding="utf-8").replace(groups, groups + (
        f'mode = "webhook"\nwebhook_url = "http://127.0.0.1:{port}/hook"\n'
        f'listen = "127.0.0.1:{port}"\nsecret_token = "bench_secret"\n')), encoding="utf-8")
    return path


async def otklik(presses: int, executors: int, latency: float, mode: str) -> Burst:
    with tempfile.TemporaryDirectory() as tmp:
        async with FakeTelegramServer(token=TOKEN) as tg:
            path = write_config(Path(tmp), tg, executors_config(executors))
            config = load_config(webhook_mode(path) if mode == "webhook" else path)
            app = App(config, limits=FAST)
            await app.start()
            try:
                began = time.perf_counter()
                for i in range(presses):
                    result = await app.usecases.intake.register(None, Sighting(
                        "vk", f"wall-1_{i}", f"Яма на дороге у дома {i}", "roads",
                        url=f"https://vk.com/wall-1_{i}", author=f"Житель {i}"))
                    assert result.ok, result
                await app.settle()
                print(f"otklik: {presses} incidents registered and delivered in "
                      f"{time.perf_counter() - began:.1f} s")
                users = {FIRST_ID + i: FakeUser(FIRST_ID + i, f"Номер{i}")
                         for i in range(executors)} | {u.id: u for u in (PETROV, SIDOROVA)}
                found = take_presses(tg, users)
                assert len(found) >= presses, f"{len(found)} take buttons for {presses}"
                tg.latency = latency
                runner = asyncio.create_task(app.run(sweep_every=3600))
                await asyncio.sleep(0.5)  # polling has begun (or the webhook is set)
                before = len(tg.calls)
                for user, call, data in found[:presses]:
                    tg.callback(user, call, data)
                burst = await wait_answers(tg, before, presses)
                app.request_stop()
                await runner
                async with app.store.read() as uow:
                    audit = await uow.audit.entries()
                takes = [e for e in audit if e.action == "take" and e.ok]
                print(f"otklik ({mode}): {presses} presses answered in {burst.seconds:.2f} s; "
                      f"takes stored: {len(takes)}, distinct incidents: "
                      f"{len({e.incident_id for e in takes})}")
                if len(takes) != presses or len({e.incident_id for e in takes}) != presses:
                    raise SystemExit("a take was lost or handled twice")
            finally:
                await app.close()
    return burst


async def bare(presses: int, executors: int, latency: float) -> Burst:
    async with FakeTelegramServer(token=TOKEN) as tg:
        bot = Bot(TOKEN, session=AiohttpSession(api=TelegramAPIServer.from_base(tg.api_base)))
        dp = Dispatcher()

        @dp.callback_query()
        async def answer(query: CallbackQuery) -> None:
            await query.answer("Готово")

        cards = []
        for i in range(presses):  # a message with a button in each executor's chat
            chat = FIRST_ID + i % executors
            await bot.send_message(chat, f"Инцидент №{i + 1}", reply_markup={
                "inline_keyboard": [[{"text": "Взять в работу",
                                      "callback_data": f"i:take:{i + 1}:1"}]]})
            cards.append((FakeUser(chat, f"Номер{i % executors}"), tg.calls[-1],
                          f"i:take:{i + 1}:1"))
        tg.latency = latency
        polling = asyncio.create_task(dp.start_polling(bot, handle_signals=False))
        await asyncio.sleep(0.5)
        before = len(tg.calls)
        for user, call, data in cards:
            tg.callback(user, call, data)
        burst = await wait_answers(tg, before, presses)
        await dp.stop_polling()
        await polling
        await bot.session.close()
    print(f"bare aiogram: {presses} presses answered in {burst.seconds:.2f} s")
    return burst


async def main(presses: int, executors: int, latency: float, mode: str) -> float:
    print(f"{presses} presses by {executors} executors; round trip {latency * 1000:.0f} ms; "
          f"Otklik by {mode}")
    ours, our_cpu = (await otklik(presses, executors, latency, mode)).per_press(presses)
    theirs, their_cpu = (await bare(presses, executors, latency)).per_press(presses)
    print(f"CPU per press: otklik {our_cpu:.2f} ms, bare aiogram {their_cpu:.2f} ms "
          f"(ratio {their_cpu / our_cpu:.3f})")
    print(f"otklik: {ours:.1f} presses/s; bare aiogram: {theirs:.1f} presses/s")
    print(f"ratio to a bare aiogram bot: {ours / theirs:.3f}")
    return ours / theirs


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--presses", type=int, default=1000)
    parser.add_argument("--executors", type=int, default=50)
    parser.add_argument("--latency", type=float, default=0.0)
    parser.add_argument("--mode", choices=("polling", "webhook"), default="polling")
    args = parser.parse_args()
    asyncio.run(main(args.presses, args.executors, args.latency, args.mode))
