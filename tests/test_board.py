"""The web board (issue 15) in a real browser: headless Chromium (Debian's ``chromium`` and
``chromium-driver``) driven by Selenium against the board served by Otklik's own HTTP server.

The link comes from the chat (``/board`` to the fake Telegram server), the browser opens it,
filters, opens incidents, downloads the exports. Refusals: a reused link, an expired link,
another department's incident, no session; unknown filters are noted; residents' text is
escaped. Without the browser the tests skip, except under ``CI=true``, where they fail.

``OTKLIK_BOARD_SCREENSHOTS=DIR`` saves screenshots of the main pages there.
"""

from __future__ import annotations

import asyncio
import os
import re
import shutil
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from fakes.telegram import FakeTelegramServer, FakeUser
from tests.harness import (
    BLOCK_OWNER,
    COORDINATOR,
    CURATOR,
    PETROV,
    Clock,
    Harness,
    load,
    write_config,
)
from tests.test_start_stop import free_port
from workflows.model import Attachment, Sighting

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
CHROMEDRIVER = shutil.which("chromedriver")
SHOTS = os.environ.get("OTKLIK_BOARD_SCREENSHOTS")
EVIL = '<script>document.title="взлом"</script><b>жирный</b> & <img src=x onerror=alert(1)>'
# A real 2×2 PNG, the resident's photo.
PNG = bytes.fromhex(
    "89504e470d0a1a0a0000000d4948445200000002000000020802000000fdd49a73000000164944415478"
    "9c63f8cfc0f09f81e13f03c37f0686ff0c0c003a6e06fb9d1f3d6d0000000049454e44ae426082")


def need_browser() -> None:
    if CHROMIUM and CHROMEDRIVER:
        return
    reason = ("headless Chromium is not installed (apt-get install chromium chromium-driver;"
              " .ci/run installs them)")
    if os.environ.get("CI") == "true":
        pytest.fail(f"CI=true but {reason}")
    pytest.skip(reason)


@pytest.fixture(scope="module")
def chrome(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Any, Path]]:
    need_browser()
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    downloads = tmp_path_factory.mktemp("downloads")
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM  # type: ignore[assignment]
    for arg in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                "--window-size=1280,900", "--lang=ru-RU", "--no-first-run"):
        options.add_argument(arg)
    options.add_experimental_option("prefs", {
        "download.default_directory": str(downloads), "download.prompt_for_download": False,
        "safebrowsing.enabled": False})
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
    try:
        yield driver, downloads
    finally:
        driver.quit()


class Browser:
    """The shared Chromium, driven from a worker thread while the loop serves the board."""

    def __init__(self, driver: Any, downloads: Path, base: str) -> None:
        self.driver, self.downloads, self.base = driver, downloads, base

    async def run(self, fn: Callable[..., Any], *args: Any) -> Any:
        return await asyncio.to_thread(fn, *args)

    async def navigate(self, action: Callable[[], Any]) -> None:
        """Do what leaves the page (a click, a form sent) and wait until the next page has
        replaced it, so that nothing is read from the old one."""
        from selenium.webdriver.common.by import By
        from selenium.webdriver.support import expected_conditions
        from selenium.webdriver.support.ui import WebDriverWait

        def go() -> None:
            old = self.driver.find_element(By.TAG_NAME, "html")
            action()
            wait = WebDriverWait(self.driver, 30, poll_frequency=0.02)  # (default: 0.5 s)
            wait.until(expected_conditions.staleness_of(old))
            wait.until(lambda d: d.execute_script("return document.readyState") == "complete")

        await self.run(go)

    async def get(self, path_or_url: str) -> None:
        url = path_or_url if path_or_url.startswith("http") else self.base + path_or_url
        await self.run(self.driver.get, url)

    async def text(self, css: str = "body") -> str:
        from selenium.webdriver.common.by import By
        return await self.run(lambda: self.driver.find_element(By.CSS_SELECTOR, css).text)

    async def all(self, css: str) -> list[Any]:
        from selenium.webdriver.common.by import By
        return await self.run(self.driver.find_elements, By.CSS_SELECTOR, css)

    async def rows(self) -> list[int]:
        rows = await self.all("#incidents tbody tr")
        return [int(await self.run(r.get_attribute, "data-id")) for r in rows]

    async def shot(self, name: str, *, whole: bool = False) -> None:
        """A screenshot when asked for (``OTKLIK_BOARD_SCREENSHOTS``); ``whole``: the page's
        full height."""
        if not SHOTS:
            return
        await self.run(os.makedirs, SHOTS, 0o777, True)
        if whole:
            height = await self.run(self.driver.execute_script,
                                    "return document.documentElement.scrollHeight")
            await self.run(self.driver.set_window_size, 1280, min(int(height) + 120, 4000))
        await self.run(self.driver.save_screenshot, str(Path(SHOTS) / f"board-{name}.png"))
        if whole:
            await self.run(self.driver.set_window_size, 1280, 900)


@pytest.fixture
async def board(server: FakeTelegramServer, tmp_path: Path, clock: Clock
                ) -> AsyncIterator[tuple[Harness, str]]:
    """Otklik with ``[http] listen`` and ``public_url``: the HTTP server running."""
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    path = write_config(tmp_path, server,
                        f'\n[http]\nlisten = "127.0.0.1:{port}"\npublic_url = "{base}/"\n')
    h = Harness(server, load(path), clock)
    await h.start()
    assert h.app is not None
    runner = await h.app.start_http_intake()
    assert runner is not None
    try:
        yield h, base
    finally:
        await runner.cleanup()
        await h.close()


@pytest.fixture
async def browser(chrome: tuple[Any, Path], board: tuple[Harness, str]) -> Browser:
    driver, downloads = chrome
    b = Browser(driver, downloads, board[1])
    await b.get("/board/logout")  # the same host for every test: start without a session
    await b.run(driver.delete_all_cookies)
    for f in downloads.iterdir():
        f.unlink()
    return b


async def register(h: Harness, text: str, category: str, n: int, *,
                   attachments: tuple[Attachment, ...] = ()) -> int:
    assert h.app is not None
    result = await h.app.usecases.intake.register(None, Sighting(
        "vk", f"wall-1_{n}", text, category, url=f"https://vk.com/wall-1_{n}",
        author=f"Житель {n}", attachments=attachments))
    assert result.ok, result
    await h.app.settle()
    assert result.incident is not None
    return result.incident.id


async def link_for(h: Harness, user: FakeUser) -> str:
    await h.say(user, "/board")
    found = re.search(r"https?://\S+/board/login\?t=[\w-]+", h.last_text(user))
    assert found, h.last_text(user)
    return found.group(0)


async def login(h: Harness, b: Browser, user: FakeUser) -> None:
    await b.get(await link_for(h, user))
    assert "Открытые инциденты" in await b.text("h1")


async def test_login_by_link_filter_and_open_an_incident(board: tuple[Harness, str],
                                                         browser: Browser) -> None:
    h, _ = board
    roads = await register(h, "Яма на Ленина, 5, колесо пробито", "roads", 1)
    await register(h, "Нет отопления в доме 7 по Мира", "housing", 2)
    await register(h, "Разбитый асфальт у школы 12", "roads", 3)
    link = await link_for(h, CURATOR)
    text = h.last_text(CURATOR)
    assert "10 минут" in text and "один раз" in text
    await browser.get(link)
    assert sorted(await browser.rows()) == [1, 2, 3]
    await browser.shot("list")
    if SHOTS:  # the same page on a phone's screen
        await browser.run(browser.driver.set_window_size, 390, 844)
        await browser.shot("list-phone")
        await browser.run(browser.driver.set_window_size, 1280, 900)

    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import Select

    def pick_housing() -> None:
        Select(browser.driver.find_element(By.ID, "f-department")).select_by_visible_text(
            "Отдел ЖКХ")
        browser.driver.find_element(By.ID, "apply").click()

    await browser.navigate(pick_housing)
    assert await browser.rows() == [2]
    assert "department=housing" in browser.driver.current_url

    # Search in the text, with the department filter dropped.
    def search() -> None:
        field = browser.driver.find_element(By.ID, "f-q")
        field.send_keys("асфальт")
        browser.driver.find_element(By.ID, "apply").click()

    await browser.get("/board")
    await browser.navigate(search)
    assert await browser.rows() == [3]

    # Opening an incident: its text, facts, history.
    await browser.get("/board?category=roads")
    link = (await browser.all(f'#incidents tr[data-id="{roads}"] a'))[0]
    await browser.navigate(link.click)
    assert await browser.text("#title") == f"Инцидент №{roads} назначен"
    assert await browser.text("#complaint") == "Яма на Ленина, 5, колесо пробито"
    history = await browser.text("#history")
    assert "зарегистрирован" in history and "назначен исполнитель" in history
    assert "Дорожное хозяйство" in await browser.text(".facts")
    await browser.shot("incident")

    await browser.get("/board/sla")
    assert await browser.text("#n-overdue") == "0"
    assert await browser.text("#n-today") == "3"
    assert "Дорожное хозяйство" in await browser.text("#departments")


async def test_the_incident_page_shows_drafts_returns_and_history(
        board: tuple[Harness, str], browser: Browser) -> None:
    """Worked on in the chat, seen on the board: the draft, the return with its reason
    (escaped), the history with who did what."""
    h, _ = board
    n = await register(h, "Яма на Ленина, 5", "roads", 1)
    await h.press(PETROV, "take", n)
    await h.say(PETROV, "Яму засыплем до пятницы.")
    await h.press(PETROV, "submit", n)
    await h.press(COORDINATOR, "return", n)
    await h.say(COORDINATOR, "Укажите точную дату & приложите фото <b>до</b>")
    await h.press(PETROV, "answer", n)
    await h.say(PETROV, "Яму засыплем 27 ноября.")
    await h.press(PETROV, "submit", n)
    await login(h, browser, CURATOR)
    await browser.get(f"/board/incident/{n}")
    assert await browser.text("#title") == f"Инцидент №{n} на согласовании"
    assert "Яму засыплем 27 ноября." in await browser.text("#draft")
    returns = await browser.text("#returns")
    assert "возвращён на доработку (Иванова Анна): " \
        "Укажите точную дату & приложите фото <b>до</b>" in returns
    history = await browser.text("#history")
    for action in ("взят в работу", "проект ответа на согласовании", "возвращён на доработку"):
        assert action in history
    assert "Петров Павел" in history
    await browser.shot("incident-worked", whole=True)


async def test_a_link_opens_once(board: tuple[Harness, str], browser: Browser) -> None:
    h, _ = board
    await register(h, "Яма на Ленина", "roads", 1)
    link = await link_for(h, CURATOR)
    await browser.get(link)
    assert await browser.rows() == [1]
    await browser.run(browser.driver.delete_all_cookies)
    await browser.get(link)
    assert "уже была использована" in await browser.text("#why")
    await browser.get("/board")
    assert await browser.all("#incidents") == []
    assert "/board" in await browser.text("#login")


async def test_an_expired_link_is_refused(board: tuple[Harness, str], browser: Browser,
                                          clock: Clock) -> None:
    h, _ = board
    await register(h, "Яма на Ленина", "roads", 1)
    link = await link_for(h, CURATOR)
    clock.advance(minutes=10, seconds=1)
    await browser.get(link)
    assert "истёк" in await browser.text("#why")
    await browser.get("/board")
    assert await browser.all("#incidents") == []
    # A fresh link works.
    await login(h, browser, CURATOR)
    assert await browser.rows() == [1]


async def test_another_departments_incident_is_refused(board: tuple[Harness, str],
                                                       browser: Browser) -> None:
    h, _ = board
    roads = await register(h, "Яма на Ленина", "roads", 1)
    housing = await register(h, "Нет горячей воды в доме 3", "housing", 2)
    await login(h, browser, BLOCK_OWNER)  # roads only
    assert await browser.rows() == [roads]
    await browser.get("/board?department=housing")
    assert await browser.rows() == []
    await browser.get(f"/board/incident/{housing}")
    assert f"Инцидент №{housing} не найден или недоступен вам" in await browser.text("#error")
    assert "горячей воды" not in await browser.text()
    await browser.get(f"/board/incident/{roads}")
    assert await browser.text("#complaint") == "Яма на Ленина"


async def test_unknown_filters_are_noted_not_failed(board: tuple[Harness, str],
                                                    browser: Browser) -> None:
    h, _ = board
    await register(h, "Яма на Ленина", "roads", 1)
    await login(h, browser, CURATOR)
    await browser.get("/board?colour=red&state=bogus&page=x&department=roads")
    notes = await browser.text("#notes")
    assert "Неизвестный фильтр «colour» не учтён" in notes
    assert "Значение «bogus» фильтра «Состояние» не распознано" in notes
    assert "Номер страницы «x» не распознан" in notes
    assert await browser.rows() == [1]  # the known filter still applies
    await browser.get("/board/incident/abc")
    assert "не найден или недоступен" in await browser.text("#error")
    await browser.get("/board/analytics?from=2030-01-01&to=bad")
    assert "Период не принят" in await browser.text("#notes")


async def test_residents_text_is_escaped(board: tuple[Harness, str], browser: Browser
                                         ) -> None:
    h, _ = board
    n = await register(h, EVIL, "roads", 1)
    await login(h, browser, CURATOR)
    cell = await browser.all(f'#incidents tr[data-id="{n}"] td.text')
    assert "<script>" in await browser.run(lambda: cell[0].text)
    await browser.get(f"/board/incident/{n}")
    assert await browser.text("#complaint") == EVIL
    assert await browser.all("#complaint b") == []
    assert await browser.all("#complaint img") == []
    assert "взлом" not in await browser.run(lambda: browser.driver.title)


async def test_no_session_gets_the_login_explanation(board: tuple[Harness, str],
                                                     browser: Browser) -> None:
    h, base = board
    n = await register(h, "Секретная яма на Ленина", "roads", 1)
    for path in ("/board", f"/board/incident/{n}", "/board/sla", "/board/analytics"):
        await browser.get(path)
        explanation = (await browser.text("#login")).replace("\n", " ")
        assert "только по одноразовой ссылке" in explanation and "/board" in explanation
        assert "Секретная" not in await browser.text()
    await browser.shot("login")
    async with aiohttp.ClientSession() as http:
        for path in ("/board", f"/board/incident/{n}", "/board/export.csv",
                     "/board/chart.png", f"/board/incident/{n}/photo/1"):
            async with http.get(base + path) as response:
                body = await response.text()
                assert response.status == 401, path
                assert "Секретная" not in body and "войдите" in body
        # A forged cookie is no session either.
        async with http.get(base + "/board",
                            cookies={"otklik_board": "4.9999999999.00"}) as response:
            assert response.status == 401


async def test_a_deactivated_person_loses_the_session(board: tuple[Harness, str],
                                                      browser: Browser) -> None:
    h, _ = board
    assert h.app is not None
    await register(h, "Яма на Ленина", "roads", 1)
    await login(h, browser, CURATOR)
    assert await browser.rows() == [1]
    async with h.app.store.write() as uow:
        person = await uow.people.by_chat("telegram", CURATOR.id)
        assert person is not None
        await uow.people.update(replace(person, active=False))
    await browser.get("/board")
    assert await browser.all("#incidents") == []
    assert "/board" in await browser.text("#login")


async def test_analytics_chart_photos_and_exports_download(board: tuple[Harness, str],
                                                           browser: Browser,
                                                           clock: Clock) -> None:
    h, _ = board
    assert h.app is not None
    files = Path(h.app.config.files_dir)
    await asyncio.to_thread(files.mkdir, parents=True, exist_ok=True)
    await asyncio.to_thread((files / "photo1.png").write_bytes, PNG)
    n = await register(h, "Яма на Ленина, фото приложено", "roads", 1, attachments=(
        Attachment("photo", "f1", "photo1.png", "image/png", str(files / "photo1.png")),))
    await register(h, "Нет отопления", "housing", 2)
    clock.advance(days=1)
    await login(h, browser, CURATOR)
    await browser.get("/board/sla")  # a day later both are overdue
    assert await browser.text("#n-overdue") == "2" and await browser.text("#n-today") == "0"
    await browser.shot("sla")
    await browser.get("/board?due=overdue")
    assert sorted(await browser.rows()) == [1, 2]

    await browser.get(f"/board/incident/{n}")
    photo = (await browser.all(".photos img"))[0]
    assert await browser.run(lambda: browser.driver.execute_script(
        "return arguments[0].complete && arguments[0].naturalWidth", photo)) == 2

    await browser.get("/board/analytics")
    assert "Новые инциденты" in await browser.text("#figures")
    chart = (await browser.all("#chart"))[0]
    width = await browser.run(lambda: browser.driver.execute_script(
        "return arguments[0].decode().then(() => arguments[0].naturalWidth)", chart))
    assert width > 500
    await browser.shot("analytics", whole=True)

    for kind in ("csv", "xlsx"):
        link = (await browser.all(f"#dl-{kind}"))[0]
        await browser.run(link.click)
        for _ in range(200):
            done = [f for f in browser.downloads.iterdir() if f.suffix == f".{kind}"]
            if done:
                break
            await asyncio.sleep(0.05)
        assert done, f"no .{kind} downloaded"
        data = done[0].read_bytes()
        if kind == "csv":
            text = data.decode("utf-8-sig")
            assert text.splitlines()[0].startswith("№;")
            assert {line.split(";")[0] for line in text.splitlines()[1:]} == {"1", "2"}
        else:
            assert data[:2] == b"PK"


async def test_the_board_scope_follows_the_person(board: tuple[Harness, str],
                                                  browser: Browser) -> None:
    """An executor is refused the link; a block owner's analytics are of their departments."""
    h, _ = board
    await register(h, "Яма на Ленина", "roads", 1)
    await register(h, "Нет отопления", "housing", 2)
    await h.say(PETROV, "/board")
    assert h.last_text(PETROV) == "Эта команда вам недоступна."
    await login(h, browser, BLOCK_OWNER)
    await browser.get("/board/sla")
    assert "Отдел ЖКХ" not in await browser.text("#departments")
    assert "Дорожное хозяйство" in await browser.text("#departments")


async def test_no_http_server_no_link(otklik: Harness) -> None:
    await otklik.say(COORDINATOR, "/board")
    assert "[http] listen" in otklik.last_text(COORDINATOR)
    assert "/board/login" not in otklik.last_text(COORDINATOR)


async def test_board_link_from_the_vk_chat(server: FakeTelegramServer, tmp_path: Path,
                                          chrome: tuple[Any, Path]) -> None:
    """A coordinator who works in the VK community chat gets the link there too."""
    from bot.config import load_config
    from fakes.vk import GROUP_ID, FakeVkServer
    from tests.harness import TOKEN, make_clock
    from tests.test_vk_chat import CONFIG as VK_CONFIG
    from tests.test_vk_chat import ORLOVA, VK_TOKEN, VkHarness

    port = free_port()
    base = f"http://127.0.0.1:{port}"
    async with FakeVkServer(tokens={VK_TOKEN: "group"}) as vk:
        path = tmp_path / "otklik.toml"
        path.write_text(VK_CONFIG.format(
            token=TOKEN, api_base=server.api_base, vk_token=VK_TOKEN, group_id=GROUP_ID,
            vk_api_base=vk.api_base) + f'\n[http]\nlisten = "127.0.0.1:{port}"\n'
            f'public_url = "{base}"\n', encoding="utf-8")
        h = VkHarness(server, load_config(path), make_clock())
        h.vk = vk
        await h.start()
        runner = await h.a.start_http_intake()
        assert runner is not None
        try:
            await h.register("Яма у дома 3 https://vk.com/wall-1_3")
            await h.vk_say(ORLOVA, "/board")
            found = re.search(r"https?://\S+/board/login\?t=[\w-]+", h.vk_last(ORLOVA))
            assert found, h.vk_last(ORLOVA)
            b = Browser(*chrome, base)
            await b.run(b.driver.delete_all_cookies)
            await b.get(found.group(0))
            assert await b.rows() == [1]
        finally:
            await runner.cleanup()
            await h.close()


def test_public_url_must_be_an_address(tmp_path: Path) -> None:
    from bot.config import ConfigError, load_config
    from tests.test_config import EXAMPLE

    path = tmp_path / "otklik.toml"
    path.write_text(EXAMPLE + '\n[http]\nlisten = "127.0.0.1:8080"\n'
                    'public_url = "otklik.example.ru"\n', encoding="utf-8")
    with pytest.raises(ConfigError) as info:
        load_config(path)
    assert "http.public_url" in str(info.value) and "https://" in str(info.value)
    path.write_text(EXAMPLE + '\n[http]\nlisten = "127.0.0.1:8080"\n'
                    'public_url = "https://otklik.example.ru/"\n', encoding="utf-8")
    assert load_config(path).settings.http.public_url == "https://otklik.example.ru/"


def test_without_the_browser_ci_fails_and_a_developer_skips(monkeypatch: pytest.MonkeyPatch
                                                            ) -> None:
    import tests.test_board as me

    monkeypatch.setattr(me, "CHROMIUM", None)
    monkeypatch.setenv("CI", "true")
    with pytest.raises(pytest.fail.Exception, match="CI=true but headless Chromium"):
        me.need_browser()
    monkeypatch.delenv("CI")
    with pytest.raises(pytest.skip.Exception, match="chromium-driver"):
        me.need_browser()
