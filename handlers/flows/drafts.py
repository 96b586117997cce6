"""The executor's draft answer: writing it (text, photos and documents, interim or final),
the preview with its buttons, and sending it for approval."""

from __future__ import annotations

from datetime import date, datetime, time, timedelta
from typing import Any

from bot.updates import ChatState
from bot.usecases import Result
from handlers.flows.turn import WRITING, Press, Turn, number, on
from workflows.commands import (
    Submit,
)
from workflows.dates import parse_local
from workflows.model import (
    Button,
    DraftKind,
    Incident,
    State,
)
from workflows.regulation import Action, refusal

PROMISE_DAYS = 366  # the longest promise a button may carry
PROMISE_MODE = "promise_date"  # the chat waits for the date an interim answer promises


async def writing_check(turn: Turn, n: int) -> bool:
    """Whether the person writes the answer to ``n`` now (the regulation's *answer*); if not,
    the press is refused."""
    incident = await turn.app.queries.incident(n)
    code = "not_found" if incident is None else refusal(Action.ANSWER, incident, turn.me)
    return turn.answer(Result(not code, code), n, ok=" ")


@on("answer")
async def _answer(turn: Turn, press: Press) -> None:
    n = press.incident
    if await writing_check(turn, n):
        await start_writing(turn, n)


@on("submit")
async def _submit(turn: Turn, press: Press) -> None:
    n = press.incident
    result = await turn.app.actions.act(turn.me, n, Submit())
    if not result.ok and result.code == "empty_reason":
        turn.toast, turn.alert = turn.templates.phrase("draft_needs_text"), True
        return
    if not result.ok and result.code == "contact_required":  # the procedure asks for the call first
        turn.answer(result, n)
        await turn.say(turn.templates.phrase("contact_needed", n=n), [[Button("contact", n)]])
        return
    if turn.answer(result, n, ok=turn.templates.phrase("draft_submitted", n=n)):
        await turn.clear_mode()
        await turn.say(turn.templates.phrase("draft_submitted", n=n))


@on("edit_text")
async def _edit_text(turn: Turn, press: Press) -> None:
    """«Изменить текст»: the next text replaces the draft's text (later ones add to it)."""
    n = press.incident
    if await writing_check(turn, n):
        await turn.set_mode(WRITING, n, {"replace": True})
        await turn.say(turn.templates.phrase("write_new_text", n=n))


@on("replace_text")
async def _replace_text(turn: Turn, press: Press) -> None:
    """«Заменить текст последним сообщением»: the draft's text becomes the last piece added."""
    n = press.incident
    state = await turn.app.chats.mode(turn.me, turn.platform)
    last = state.data.get("last") if state and state.incident_id == n else None
    if not isinstance(last, str) or not last:
        turn.toast, turn.alert = turn.templates.refusal("stale", n=n), True
        return
    result = await turn.app.drafts.set_text(turn.me, n, last)
    if turn.answer(result, n, ok=turn.templates.phrase("draft_replaced")):
        await turn.set_mode(WRITING, n)
        await send_preview(turn, n)


@on("clear_attachments")
async def _clear_attachments(turn: Turn, press: Press) -> None:
    n = press.incident
    result = await turn.app.drafts.clear_attachments(turn.me, n)
    if turn.answer(result, n, ok=turn.templates.phrase("draft_cleared")):
        await send_preview(turn, n)


@on("cancel")
async def _cancel_draft(turn: Turn, press: Press) -> None:
    n = press.incident
    result = await turn.app.drafts.cancel(turn.me, n)
    if turn.answer(result, n):
        await turn.clear_mode()
        await turn.say(turn.templates.phrase("draft_cancelled", n=n))


@on("interim")
async def _interim(turn: Turn, press: Press) -> None:
    n = press.incident
    if not await writing_check(turn, n):
        return
    await turn.say(turn.templates.phrase("promise_prompt"),
                   [[Button("promise", n, "1"), Button("promise", n, "3"),
                     Button("promise", n, "7")], [Button("promise", n, "pick")]])


@on("promise")
async def _promise(turn: Turn, press: Press) -> None:
    n = press.incident
    days = number(press.value, 1, PROMISE_DAYS) if press.value != "pick" else 0
    if not await writing_check(turn, n):
        return
    if press.value == "pick":
        await turn.set_mode(PROMISE_MODE, n)
        await turn.say(turn.templates.phrase("promise_prompt"), [[Button("abort", n)]])
        return
    today = turn.app.clock().astimezone(turn.app.config.tz).date()
    await promise_day(turn, n, today + timedelta(days=days))


async def promise_text(turn: Turn, state: ChatState, body: str) -> None:
    """The date typed for an interim answer's promise: a day after today."""
    n = state.incident_id or 0
    when = parse_local(body, turn.app.clock(), turn.app.config.tz)
    today = turn.app.clock().astimezone(turn.app.config.tz).date()
    if when is None or when.date() <= today:
        await turn.say(turn.templates.refusal("bad_deadline"))
        return
    await turn.set_mode(WRITING, n)
    await promise_day(turn, n, when.date())


async def promise_day(turn: Turn, n: int, day: date) -> None:
    # The executor is asked for the final answer at the start of the promised working day.
    incident = await turn.app.queries.incident(n)
    calendar = (turn.app.policies.policy_of(incident) if incident
                else turn.app.policies.policy_for("")).calendar
    at = calendar.next_working_moment(datetime.combine(day, time(0, 0), tzinfo=calendar.tz))
    result = await turn.app.drafts.set_kind(turn.me, n, DraftKind.INTERIM, at)
    if turn.answer(result, n):
        await send_preview(turn, n)
    else:
        await turn.refuse(result, n)


@on("final")
async def _final(turn: Turn, press: Press) -> None:
    n = press.incident
    result = await turn.app.drafts.set_kind(turn.me, n, DraftKind.FINAL, None)
    if turn.answer(result, n):
        await send_preview(turn, n)


async def add_to_draft(turn: Turn, n: int, piece: str) -> bool:
    """A text or a caption for the draft: it starts the text, replaces it right after
    «Изменить текст», and otherwise is added to it — never replaces it silently. The piece
    is kept in the chat's mode so that the preview can offer to replace the text with it."""
    state = await turn.app.chats.mode(turn.me, turn.platform)
    replace = bool(state and state.incident_id == n and state.data.get("replace"))
    draft = await turn.app.queries.draft(n)
    if replace or draft is None or not draft.text.strip():
        result = await turn.app.drafts.set_text(turn.me, n, piece)
        data = None
    else:
        result = await turn.app.drafts.add_text(turn.me, n, piece)
        data = {"last": piece}
    if not result.ok:
        await turn.refuse(result, n)
        return False
    await turn.set_mode(WRITING, n, data)
    return True


async def draft_target(turn: Turn) -> int | None:
    """Which incident a draft message belongs to: the one being written, or the only one in
    progress. With several in progress the executor is asked to pick (nothing is lost: the
    message stays in the chat)."""
    state = turn.chat_state
    if state is not None and state.mode == WRITING and state.incident_id:
        return state.incident_id
    mine = [i for i in await turn.app.queries.visible_incidents(turn.me)
            if i.executor_id == turn.me.id and i.state is State.IN_PROGRESS]
    if len(mine) == 1:
        await turn.set_mode(WRITING, mine[0].id)
        return mine[0].id
    t = turn.templates
    if not mine:
        await turn.say(t.phrase("no_active"))
    else:
        await turn.say(t.phrase("pick_incident"),
                       [[Button("answer", i.id, label=f"№{i.id}: {i.text[:30]}")] for i in mine])
    return None


async def template_buttons(turn: Turn, incident: Any) -> list[list[Button]]:
    """Up to three *Шаблон: …* buttons for the incident's category, one per row."""
    prefix = turn.templates.label("tpl")
    return [[Button("tpl", incident.id, str(t.id), label=f"{prefix}: {t.title}")]
            for t in await turn.app.answers.offered(incident)]


async def start_writing(turn: Turn, n: int, incident: Incident | None = None) -> None:
    """Writing mode; a draft already saved (returned, or written before a restart) is shown
    with its buttons so that nothing has to be typed again. ``incident``: as just changed
    (not read again)."""
    await turn.set_mode(WRITING, n)
    if incident is None or incident.id != n:
        incident = await turn.app.queries.incident(n)
    contact = (incident is not None  # offered at once
               and turn.app.policies.procedure_for(incident).contact_required
               and await turn.app.actions.contacted(n) is False)
    offered = await template_buttons(turn, incident) if incident is not None else []
    suggested = (await turn.app.answers.suggestions(turn.me, incident)
                 if incident is not None else [])
    prompt = "\n".join(filter(None, (turn.templates.phrase("write_answer", n=n),
                                      turn.templates.render("_suggestions",
                                                            suggestions=suggested))))
    await turn.say(prompt, ([[Button("contact", n)]] if contact else []) + offered
                   + [list(row) for row in
                      turn.app.answers.suggestion_buttons(incident, suggested)])
    if await turn.app.queries.draft(n) is not None:
        await send_preview(turn, n)


# The preview shows at most this much of the draft's text: it must fit one message (4,096
# characters in Telegram and VK) with its header and footer.
PREVIEW_TEXT = 3000


async def send_preview(turn: Turn, n: int) -> None:
    app = turn.app
    draft = await app.queries.draft(n)
    incident = await app.queries.incident(n)
    if incident is None:
        return
    state = await app.chats.mode(turn.me, turn.platform)
    last = state.data.get("last") if state and state.incident_id == n else None
    atts = draft.attachments if draft else ()
    text = draft.text if draft else ""
    body = turn.templates.render(
        "preview", incident=incident, draft=draft,
        photos=sum(a.kind == "photo" for a in atts),
        documents=sum(a.kind == "document" for a in atts),
        videos=sum(a.kind == "video" for a in atts),
        length=len(text), shown=text[:PREVIEW_TEXT].rstrip(),
        truncated=len(text) > PREVIEW_TEXT, added=len(last) if isinstance(last, str) else 0)
    interim = draft is not None and draft.kind is DraftKind.INTERIM
    rows = [[Button("submit", n)], [Button("edit_text", n), Button("clear_attachments", n)],
            [Button("final", n) if interim else Button("interim", n), Button("cancel", n)]]
    if not atts:
        rows[1] = [Button("edit_text", n)]
    if isinstance(last, str) and last:
        rows.insert(1, [Button("replace_text", n)])
    if await app.actions.contacted(n) is False:  # the call comes first
        rows.insert(0, [Button("contact", n)])
    await turn.say(body, rows)


async def preview_if_newest(turn: Turn, n: int, file_id: str) -> None:
    """An album's preview, shown by the follow-up of its newest item. In one process a later
    item cancels the earlier follow-up; with several workers a later item may have been
    handled by another worker, whose own follow-up shows the preview, so this one does not."""
    draft = await turn.app.queries.draft(n)
    if draft is not None and draft.attachments and draft.attachments[-1].file_id != file_id:
        return
    await send_preview(turn, n)
