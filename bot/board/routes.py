"""The board's pages on the aiohttp server of ``[http] listen`` (read-only).

``/board/login?t=TOKEN`` spends a one-time link and sets the session cookie; every other
page needs that session and otherwise answers 401 with the explanation of how to log in.
Pages: ``/board`` (open incidents with filters), ``/board/incident/N``, ``/board/sla``,
``/board/analytics`` (the weekly note's chart for any period, the ratings),
``/board/chart.png``, ``/board/export.xlsx``, ``/board/export.csv``, the residents' photos
under ``/board/incident/N/photo/ID``, and ``/board/logout``.
"""

from __future__ import annotations

import asyncio
import logging
import shutil
from datetime import datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlencode

import jinja2
from aiohttp import web

from bot import analytics, reports
from bot.board import queries
from bot.board.sessions import COOKIE, SESSION_TTL, Sessions
from bot.reports import period_from_args
from bot.storage import Storage
from bot.templates import DEFAULT_DIR
from workflows.model import Person, State
from workflows.ratings import FORMULA
from workflows.visibility import may_see

if TYPE_CHECKING:  # (bot.usecases reads sessions from this package)
    from bot.usecases import UseCases

log = logging.getLogger(__name__)

NO_STORE = {"Cache-Control": "no-store", "X-Content-Type-Options": "nosniff",
            "Referrer-Policy": "no-referrer", "X-Frame-Options": "DENY"}


class Board:
    def __init__(self, store: Storage, usecases: UseCases, *, secure_cookie: bool = False
                 ) -> None:
        self.store = store
        self.usecases = usecases
        self.sessions = Sessions(store)
        self.secure_cookie = secure_cookie
        self.env = jinja2.Environment(
            loader=jinja2.FileSystemLoader(DEFAULT_DIR / "board"), autoescape=True,
            undefined=jinja2.StrictUndefined, trim_blocks=True, lstrip_blocks=True)
        self.env.filters.update({k: usecases.templates.env.filters[k] for k in (
            "local", "state", "source", "priority", "action")})
        self.env.filters["safe_url"] = _safe_url
        self.env.globals["states"] = [s for s in State if s.is_open]

    @property
    def config(self) -> Any:
        return self.usecases.config

    def add_routes(self, app: web.Application) -> None:
        r = app.router
        r.add_get("/board/login", self.login)
        r.add_get("/board/logout", self.logout)
        r.add_get("/board", self.guarded(self.incidents))
        r.add_get("/board/", self.guarded(self.incidents))
        r.add_get("/board/incident/{n}", self.guarded(self.incident))
        r.add_get("/board/incident/{n}/photo/{a}", self.guarded(self.photo))
        r.add_get("/board/sla", self.guarded(self.sla))
        r.add_get("/board/analytics", self.guarded(self.analytics))
        r.add_get("/board/chart.png", self.guarded(self.chart))
        r.add_get("/board/export.{kind}", self.guarded(self.export))

    # --- plumbing ------------------------------------------------------------------------

    def page(self, name: str, status: int = 200, **context: Any) -> web.Response:
        body = self.env.get_template(f"{name}.html").render(**context)
        return web.Response(text=body, status=status, content_type="text/html",
                            charset="utf-8", headers=NO_STORE)

    def guarded(self, handler: Any) -> Any:
        async def run(request: web.Request) -> web.StreamResponse:
            now = self.usecases.clock()
            person = await self.sessions.person_of(request.cookies.get(COOKIE), now)
            if person is None:
                response = self.page("login", status=401, why="no_session", person=None)
                if COOKIE in request.cookies:
                    response.del_cookie(COOKIE, path="/board")
                return response
            try:
                return await handler(request, person)
            except web.HTTPException:
                raise
            except Exception:
                log.exception("board page %s failed", request.path)
                return self.page("error", status=500, person=person,
                                 message="Страница не построилась из-за внутренней ошибки. "
                                         "Попробуйте ещё раз; если не поможет, сообщите "
                                         "администратору.")
        return run

    def _names(self, people: list[Person]) -> dict[int, str]:
        return {p.id: p.name for p in people}

    def _refused(self, person: Person, n: str) -> web.Response:
        return self.page("error", status=404, person=person,
                         message=f"Инцидент №{n} не найден или недоступен вам.")

    # --- login ---------------------------------------------------------------------------

    async def login(self, request: web.Request) -> web.Response:
        now = self.usecases.clock()
        redeemed = await self.sessions.redeem(request.query.get("t", ""), now)
        if redeemed.person is None:
            log.info("board login refused: %s", redeemed.why)
            return self.page("login", status=403, why=redeemed.why, person=None)
        response = web.HTTPSeeOther("/board", headers=NO_STORE)
        response.set_cookie(COOKIE, await self.sessions.cookie_for(redeemed.person, now),
                            max_age=int(SESSION_TTL.total_seconds()), path="/board",
                            httponly=True, samesite="Lax", secure=self.secure_cookie)
        log.info("board session opened for person %s", redeemed.person.id)
        raise response

    async def logout(self, request: web.Request) -> web.Response:
        response = self.page("login", status=200, why="logged_out", person=None)
        response.del_cookie(COOKIE, path="/board")
        return response

    # --- pages ---------------------------------------------------------------------------

    def _choices(self, incidents: list[Any], names: dict[int, str]) -> dict[str, dict[str, str]]:
        cfg, t = self.config, self.usecases.templates
        sources = {i.source for i in incidents} | set(t.texts.get("sources", {}))
        executors = {i.executor_id for i in incidents if i.executor_id is not None}
        return {
            "state": {s.value: t.phrase_raw("states", s.value) for s in State if s.is_open},
            "department": dict(sorted(cfg.departments.items(), key=lambda kv: kv[1])),
            "category": {k: c.name for k, c in sorted(cfg.categories.items(),
                                                      key=lambda kv: kv[1].name)},
            "source": {s: t.phrase_raw("sources", s, default=s) for s in sorted(sources)},
            "due": dict(queries.DUE_CHOICES),
            "executor": {str(pid): names.get(pid, f"#{pid}")
                         for pid in sorted(executors, key=lambda p: names.get(p, ""))},
        }

    async def incidents(self, request: web.Request, person: Person) -> web.Response:
        now = self.usecases.clock()
        visible = await queries.open_visible(self.store, person)
        names = self._names(await self.usecases.queries.people())
        choices = self._choices(visible, names)
        filters = queries.parse_filters(request.query, choices)
        found = queries.apply_filters(visible, filters, self.config, now, names)
        found.sort(key=lambda i: (i.answer_due is None, i.answer_due or now, i.id))
        pages = max(1, -(-len(found) // queries.PAGE_SIZE))
        page = min(filters.page, pages)
        shown = found[(page - 1) * queries.PAGE_SIZE: page * queries.PAGE_SIZE]
        return self.page(
            "list", person=person, now=now, incidents=shown, total=len(found),
            visible=len(visible), page=page, pages=pages, filters=filters, choices=choices,
            labels=queries.FILTERS, names=names, cfg=self.config,
            overdue={i.id for i in shown if queries.is_overdue(i, now)},
            query={k: v for k, v in filters.values.items()})

    async def incident(self, request: web.Request, person: Person) -> web.Response:
        n = request.match_info["n"]
        if not (n.isascii() and n.isdigit() and int(n) < 2**53):
            return self._refused(person, n[:20])
        page = await queries.incident_page(self.store, int(n))
        if page is None or not may_see(person, page.incident):
            return self._refused(person, n)
        names = self._names(await self.usecases.queries.people())
        cfg = self.config
        category = cfg.categories.get(page.incident.category or "")
        return self.page("incident", person=person, p=page, i=page.incident, names=names,
                         category=category.name if category else "—",
                         department=cfg.departments.get(page.incident.department or "", "—"),
                         now=self.usecases.clock(),
                         overdue=queries.is_overdue(page.incident, self.usecases.clock()))

    async def photo(self, request: web.Request, person: Person) -> web.StreamResponse:
        n, a = request.match_info["n"], request.match_info["a"]
        if not (n.isdigit() and a.isdigit() and int(n) < 2**53 and int(a) < 2**53):
            raise web.HTTPNotFound()
        incident = await self.usecases.queries.incident(int(n))
        if incident is None or not may_see(person, incident):
            raise web.HTTPNotFound()
        att = await queries.attachment(self.store, int(n), int(a))
        if att is None or not att.local_path:
            raise web.HTTPNotFound()
        resolved = await asyncio.to_thread(_inside, Path(att.local_path),
                                           Path(self.config.files_dir))
        if resolved is None:
            raise web.HTTPNotFound()
        mime = att.mime_type or "application/octet-stream"
        return web.FileResponse(resolved, headers={**NO_STORE, "Content-Type": mime})

    async def sla(self, request: web.Request, person: Person) -> web.Response:
        now = self.usecases.clock()
        visible = await queries.open_visible(self.store, person)
        panel = queries.sla_panel(visible, self.config, now)
        names = self._names(await self.usecases.queries.people())
        return self.page("sla", person=person, now=now, panel=panel, names=names,
                         total=len(visible))

    def _period(self, request: web.Request) -> tuple[datetime, datetime, str, str, str]:
        """The period of ``from``/``to`` (dates, TO included); the last 7 days by default.
        A bad period falls back to the default with a note."""
        now, tz = self.usecases.clock(), self.config.tz
        today = now.astimezone(tz).date()
        default = (today - timedelta(days=6), today)
        first, last = request.query.get("from", ""), request.query.get("to", "")
        note = ""
        if first or last:
            try:
                start, end = period_from_args(f"{first} {last}", now, tz, command="")
                return start, end, first, last, ""
            except ValueError as e:
                note = f"Период не принят: {e} Показаны последние 7 дней."
        start, end = period_from_args(f"{default[0]:%Y-%m-%d} {default[1]:%Y-%m-%d}", now, tz)
        return start, end, f"{default[0]:%Y-%m-%d}", f"{default[1]:%Y-%m-%d}", note

    async def analytics(self, request: web.Request, person: Person) -> web.Response:
        start, end, first, last, note = self._period(request)
        report = await self._report(person, start, end)
        figures = [(label, reports._value(key, report.changes[key].current),
                    reports._delta(report.changes[key]))
                   for key, label in reports.FIGURE_LABELS.items() if key in report.changes]
        period = urlencode({"from": first, "to": last})
        return self.page("analytics", person=person, report=report, first=first, last=last,
                         note=note, figures=figures, period=period,
                         pct=reports._pct, formula=FORMULA)

    async def _report(self, person: Person, start: datetime, end: datetime) -> Any:
        report = await analytics.build(self.usecases.digests, start, end, person)
        # The files are sent at once; nothing waits for them (unlike the chat's outbox).
        asyncio.get_running_loop().call_later(
            600, shutil.rmtree, report.xlsx.parent, True)
        return report

    async def chart(self, request: web.Request, person: Person) -> web.StreamResponse:
        start, end, *_ = self._period(request)
        report = await self._report(person, start, end)
        if report.chart is None:
            return self.page("error", status=404, person=person,
                             message="В этом периоде нет инцидентов: график не построен.")
        return web.Response(body=await asyncio.to_thread(report.chart.read_bytes),
                            content_type="image/png", headers=NO_STORE)

    async def export(self, request: web.Request, person: Person) -> web.StreamResponse:
        kind = request.match_info["kind"]
        if kind not in ("xlsx", "csv"):
            raise web.HTTPNotFound()
        start, end, *_ = self._period(request)
        report = await self._report(person, start, end)
        path = report.xlsx if kind == "xlsx" else report.csv
        mime = analytics.XLSX if kind == "xlsx" else "text/csv; charset=utf-8"
        return web.Response(
            body=await asyncio.to_thread(path.read_bytes),
            headers={**NO_STORE, "Content-Type": mime,
                     "Content-Disposition": f'attachment; filename="{path.name}"'})


def _safe_url(url: str | None) -> str | None:
    """A resident's link only when it is http(s): never ``javascript:`` in an href."""
    if url and url.lower().startswith(("http://", "https://")):
        return url
    return None


def _inside(path: Path, root: Path) -> Path | None:
    """``path`` resolved, when it is a file under ``root`` (never a file elsewhere)."""
    try:
        resolved = path.resolve()
        resolved.relative_to(root.resolve())
    except (OSError, ValueError):
        return None
    return resolved if resolved.is_file() else None
