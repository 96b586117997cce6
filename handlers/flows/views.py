"""What a person looks at: an incident's card, their own and the open incidents, the
analytic note on demand (``/report``, ``/export``) and the link to the web board."""

from __future__ import annotations

from typing import Any

from bot import analytics
from bot.reports import period_from_args
from handlers.flows.turn import OVERSEERS, Press, Turn, escape, on
from workflows.model import (
    Button,
    State,
)
from workflows.transitions import actions_for


async def show(turn: Turn, n: int) -> None:
    t, app = turn.templates, turn.app
    incident = await app.queries.incident(n)
    if incident is None or not app.queries.may_see(turn.me, incident):
        await turn.say(t.refusal("not_found" if incident is None else "not_visible"))
        return
    names = {p.id: p.name for p in await app.queries.people()}
    problem = await app.problems.of(n)
    body = t.render(
        "detail", incident=incident, history=await app.queries.history(n), names=names,
        problem=t.phrase("problem_line", lead=problem[0], complaints=problem[1])
        if problem else "",
        policy=app.policies.policy_of(incident),
        category=app.config.categories.get(incident.category or ""),
        department=app.config.departments.get(incident.department or "", ""),
        executor=names.get(incident.executor_id or 0, ""))
    policy = app.policies.policy_of(incident)
    await turn.say(body, actions_for(incident, turn.me, statuses=policy.result_statuses,
                                     source_fixed=not await app.queries.registered_by_hand(n)),
                   version=incident.version)


async def my(turn: Turn) -> None:
    mine = [i for i in await turn.app.queries.visible_incidents(turn.me)
            if i.executor_id == turn.me.id]
    t = turn.templates
    if not mine:
        await turn.say(t.phrase("nothing_open"))
        return
    body = t.render("list", title="Мои инциденты", groups=group_by_state(mine), names={},
                    problems=await turn.app.problems.sizes([i.id for i in mine]))
    await turn.say(body, [[Button("show", i.id, label=f"№{i.id}")] for i in mine[:50]])


async def open_incidents(turn: Turn) -> None:
    t = turn.templates
    if not any(turn.me.has(r) for r in OVERSEERS):
        await turn.say(t.phrase("not_allowed") + " /my")
        return
    incidents = await turn.app.queries.visible_incidents(turn.me)
    if not incidents:
        await turn.say(t.phrase("nothing_open"))
        return
    names = {p.id: p.name for p in await turn.app.queries.people()}
    await turn.say(t.render("list", title="Открытые инциденты",
                            groups=group_by_state(incidents), names=names,
                            problems=await turn.app.problems.sizes([i.id for i in incidents])))


def group_by_state(incidents: list[Any]) -> list[tuple[State, list[Any]]]:
    order = list(State)
    out: dict[State, list[Any]] = {}
    for i in sorted(incidents, key=lambda i: (order.index(i.state), i.id)):
        out.setdefault(i.state, []).append(i)
    return list(out.items())


async def report(turn: Turn, name: str, args: str) -> None:
    """``/report week|month|FROM TO``: the analytic note with its chart and workbook;
    ``/export FROM TO``: the incidents as CSV and XLSX. For those who oversee the work."""
    t, app = turn.templates, turn.app
    if not any(turn.me.has(r) for r in OVERSEERS):
        await turn.say(t.phrase("not_allowed"))
        return
    try:
        start_at, end_at = period_from_args(args, app.clock(), app.config.tz,
                                            command=name)
    except ValueError as e:
        await turn.say(escape(str(e)))
        return
    built = await analytics.build(app.digests, start_at, end_at, turn.me)
    if name == "/export":
        await turn.say(t.phrase("export_ready", period=built.period_label),
                       attachments=analytics.export_files(built))
    else:
        await turn.say(built.text, attachments=analytics.note_files(built))


async def board(turn: Turn) -> None:
    """``/board``: a one-time link to the web board (valid 10 minutes, opens once)."""
    from bot.board import LINK_TTL, board_url, may_use_board

    t, app = turn.templates, turn.app
    if not may_use_board(turn.me):
        await turn.say(t.phrase("not_allowed"))
        return
    http = app.config.settings.http
    base = board_url(http.public_url, http.listen)
    if base is None:
        await turn.say(t.phrase("board_off"))
        return
    token = await app.queries.board_link(turn.me)
    await turn.say(t.phrase("board_link", link=f"{base}/board/login?t={token}",
                            minutes=int(LINK_TTL.total_seconds() // 60)))


@on("show")
async def _show(turn: Turn, press: Press) -> None:
    turn.toast = " "
    await show(turn, press.incident)
