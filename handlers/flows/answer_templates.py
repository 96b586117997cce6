"""Typical answers: *Шаблон: …* and *Как в №…* fill the draft, and ``/templates`` lets a
coordinator add and delete the templates of each category."""

from __future__ import annotations

from bot.updates import ChatState
from handlers.flows.drafts import add_to_draft, send_preview, writing_check
from handlers.flows.turn import MAX_NUMBER, BadButton, Press, Turn, escape, in_rows, number, on
from workflows.answer_templates import parse_typed, unknown_placeholders
from workflows.commands import (
    Take,
)
from workflows.model import (
    Button,
    Incident,
)

TEMPLATE_MODE = "template_text"


async def _taken_to_write(turn: Turn, n: int, v: int | None) -> Incident | None:
    """The incident whose draft a *Шаблон* or *Как в №…* press fills, taken first when the
    press comes from a card not yet taken; None (the press refused) when not writing it."""
    incident = await turn.app.queries.incident(n)
    if (incident is not None and incident.executor_id == turn.me.id
            and incident.state.awaits_take):
        if not turn.answer(await turn.app.actions.act(turn.me, n, Take(), version=v), n):
            return None
        incident = await turn.app.queries.incident(n)
    if incident is None or not await writing_check(turn, n):
        return None
    return incident


@on("tpl")
async def _template(turn: Turn, press: Press) -> None:
    """*Шаблон: …*: the template filled for the incident goes into the draft — only on this
    press — and the preview shows it to edit. On a card not yet taken, the press takes it."""
    n = press.incident
    template_id = number(press.value, 1, MAX_NUMBER)
    incident = await _taken_to_write(turn, n, press.version)
    if incident is None:
        return
    filled = await turn.app.answers.filled(incident, template_id)
    if filled is None:
        turn.toast, turn.alert = turn.templates.refusal("template_gone", n=n), True
        return
    if not await add_to_draft(turn, n, filled):
        return
    title = next((t.title for t in await turn.app.answers.in_use(incident.category)
                  if t.id == template_id), "")
    turn.toast = " "
    await turn.say(turn.templates.phrase("template_inserted", title=title, n=n))
    await send_preview(turn, n)


@on("sug")
async def _suggestion(turn: Turn, press: Press) -> None:
    """*Как в №…*: the answer approved for that past incident goes into the draft — only on
    this press, and only one that could be offered to this executor here — and the preview
    shows it to edit. On a card not yet taken, the press takes it (as *Шаблон: …*)."""
    n = press.incident
    past_id = number(press.value, 1, MAX_NUMBER)
    incident = await _taken_to_write(turn, n, press.version)
    if incident is None:
        return
    answer = await turn.app.answers.suggested(turn.me, incident, past_id)
    if answer is None:
        turn.toast, turn.alert = turn.templates.refusal("suggestion_gone", n=n), True
        return
    if not await add_to_draft(turn, n, answer):
        return
    turn.toast = " "
    await turn.say(turn.templates.phrase("suggestion_inserted", past=past_id, n=n))
    await send_preview(turn, n)


async def templates_menu(turn: Turn) -> None:
    """``/templates``: the templates of every category, a delete button each, and «Добавить»."""
    t = turn.templates
    if not turn.app.answers.may_edit(turn.me):
        await turn.say(t.phrase("not_allowed"))
        return
    found = await turn.app.answers.in_use()
    lines = [t.phrase("templates_head"), ""]
    if not found:
        lines.append(t.phrase("templates_none"))
    categories = turn.app.config.categories
    for key, category in categories.items():
        mine = [a for a in found if a.category == key]
        if not mine:
            continue
        lines.append(f"<b>{escape(category.name)}</b>")
        for a in mine:
            note = f" <i>({t.phrase('template_from_config')})</i>" if a.origin == "config" else ""
            shown = a.text if len(a.text) <= 200 else a.text[:199].rstrip() + "…"
            lines.append(f"• {escape(a.title)}{note}\n<code>{escape(shown)}</code>")
    body = ""
    for line in lines:  # whole lines only: a cut tag would make the message unreadable
        if len(body) + len(line) > 3900:
            body += "\n…"
            break
        body += ("\n" if body else "") + line
    delete = t.label("tpl_del")
    rows = [[Button("tpl_del", a.id, label=f"{delete}: {a.title}")] for a in found[:30]]
    rows.append([Button("tpl_add", 0)])
    await turn.say(body, rows)


@on("tpl_add")
async def _template_add(turn: Turn, press: Press) -> None:
    if not turn.app.answers.may_edit(turn.me):
        turn.toast, turn.alert = turn.templates.refusal("wrong_role"), True
        return
    turn.toast = " "
    rows = in_rows([Button("tpl_cat", 0, key, label=c.name)
                     for key, c in turn.app.config.categories.items()], width=2)
    await turn.say(turn.templates.phrase("template_pick_category"), rows)


@on("tpl_cat")
async def _template_category(turn: Turn, press: Press) -> None:
    if press.value not in turn.app.config.categories:
        raise BadButton(press.value)
    if not turn.app.answers.may_edit(turn.me):
        turn.toast, turn.alert = turn.templates.refusal("wrong_role"), True
        return
    turn.toast = " "
    await turn.set_mode(TEMPLATE_MODE, None, {"category": press.value})
    await turn.say(turn.templates.phrase("template_ask_text"), [[Button("abort", 0)]])


async def template_text(turn: Turn, state: ChatState, body: str) -> None:
    """The typed «Название\\nТекст»: saved, or refused with the reason (the mode stays, so the
    corrected template can be sent again; the coordinator's message stays in the chat)."""
    t = turn.templates
    category = str(state.data.get("category", ""))
    typed = parse_typed(body)
    if typed is None:
        await turn.say(t.refusal("template_format"))
        return
    title, text_ = typed
    result = await turn.app.answers.add(turn.me, category, title, text_)
    if not result.ok:
        names = ", ".join(unknown_placeholders(text_))
        await turn.say(t.refusal(result.code, names=names))
        if result.code in ("wrong_role", "bad_button"):
            await turn.clear_mode()
        return
    await turn.clear_mode()
    name = turn.app.config.categories[category].name
    await turn.say(t.phrase("template_added", title=title, category=name))
    await templates_menu(turn)


@on("tpl_del")
async def _template_delete(turn: Turn, press: Press) -> None:
    n = press.incident
    found = next((a for a in await turn.app.answers.in_use() if a.id == n), None)
    result = await turn.app.answers.delete(turn.me, n)
    if turn.answer(result, n) and found is not None:
        await turn.say(turn.templates.phrase("template_deleted", title=found.title))
        await templates_menu(turn)
