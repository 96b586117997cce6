"""The conversations of Otklik, the same on every platform.

A front end (Telegram, VK) turns an update into a :class:`Turn` — who is writing, from which
chat, in which mode — and calls :func:`press` for a button, :func:`text` for a message,
:func:`attach` for a photo or document. The flows call the app and answer through the
outbox on the turn's platform; the answer to a button press (a short toast, or the reason it
was refused) is left on the turn for the front end to show its own way.
"""

from __future__ import annotations

import json
import re
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import Any

from bot import analytics, possible
from bot.reports import period_from_args
from bot.updates import ChatState
from bot.usecases import Invitation, Result, UseCases
from workflows.answer_templates import parse_typed, unknown_placeholders
from workflows.commands import (
    Approve,
    ChangePolicy,
    ChangeSource,
    Close,
    Command,
    Contact,
    Decline,
    EditApprove,
    Extend,
    FirstResponse,
    HeadAssign,
    Merge,
    PlatformDue,
    Publish,
    Reassign,
    Recategorize,
    Redirect,
    RedirectTo,
    Reject,
    Remind,
    Reopen,
    Return,
    SetPriority,
    Submit,
    Take,
    Unmerge,
)
from workflows.dates import parse_local
from workflows.model import (
    Attachment,
    Button,
    DraftKind,
    Incident,
    Person,
    Priority,
    Role,
    Sighting,
    State,
)
from workflows.regulation import BUTTONS, Action, refusal
from workflows.sources import PICKABLE, source_from_url
from workflows.transitions import RESULT_STATUSES, actions_for
from workflows.visibility import in_municipality

WRITING = "writing"
OVERSEERS = (Role.COORDINATOR, Role.CURATOR, Role.BLOCK_OWNER, Role.ADMIN, Role.HEAD)
URL = re.compile(r"https?://\S+")

# Buttons that need a text first (a reason, a wording, a date: the regulation's needs): the
# chat mode and the prompt. The text completes the command (:func:`_typed`).
NEEDS_TEXT = {
    "decline": ("decline_reason", "decline_prompt"),
    "return": ("return_reason", "return_prompt"),
    "edit_approve": ("edit_text", "edit_prompt"),
    "redirect": ("redirect_text", "redirect_prompt"),
    "reject": ("reject_reason", "reject_prompt"),
    "reopen": ("reopen_reason", "reopen_prompt"),
    "urgent": ("urgent_deadline", "urgent_prompt"),
    "extend": ("extend_text", "extend_prompt"),
    "due": ("due_text", "due_prompt"),
}
MODE_BUTTON = {mode: button for button, (mode, _) in NEEDS_TEXT.items()}
# Buttons that act at once.
DIRECT: dict[str, Callable[[str], Command]] = {
    "take": lambda x: Take(), "approve": lambda x: Approve(x or None),
    "published": lambda x: Publish(), "close": lambda x: Close(), "remind": lambda x: Remind(),
    "unmerge": lambda x: Unmerge(),
}
# Incident, intake and card numbers Otklik makes stay far below this; a bigger one is forged.
MAX_NUMBER = 2**53
ARG_LIMIT = 64
PROMISE_DAYS = 366  # the longest promise a button may carry


class BadButton(Exception):
    """A press whose data no button of Otklik carries (forged, mangled or outdated)."""


def _number(x: str, low: int, high: int) -> int:
    """The argument of a press as a number within ``[low, high]``, or :class:`BadButton`."""
    if not (x.isascii() and x.isdigit()) or not low <= int(x) <= high:
        raise BadButton(x)
    return int(x)


@dataclass
class Turn:
    """One update being handled: where to answer, and the answer to a button press."""

    app: UseCases
    platform: str
    chat_id: int
    person: Person | None
    chat_state: ChatState | None = None
    invite_link: Callable[[str], str] = lambda token: token
    # The answer to a button press; blank: answer silently (a message follows instead).
    toast: str = ""
    alert: bool = False

    @property
    def templates(self) -> Any:
        return self.app.templates

    @property
    def me(self) -> Person:
        assert self.person is not None
        return self.person

    async def say(self, text: str, buttons: Sequence[Sequence[Button]] = (), **kw: Any) -> None:
        await self.app.notifier.say(self.platform, self.chat_id, text, buttons, **kw)

    def answer(self, result: Result | Invitation, n: int, ok: str = "") -> bool:
        """Leave the answer to a press: ``ok`` (or «Готово»), or the refusal as an alert."""
        if result.ok:
            self.toast = ok or self.templates.phrase("done")
        else:
            self.toast, self.alert = self.templates.refusal(result.code, n=n), True
        return result.ok

    async def refuse(self, result: Result, n: int) -> None:
        await self.say(self.templates.refusal(result.code, n=n))

    async def set_mode(self, mode: str, n: int | None, data: dict[str, Any] | None = None
                       ) -> None:
        await self.app.chats.set_mode(self.me, self.platform, mode, n, data)

    async def clear_mode(self) -> None:
        await self.app.chats.clear_mode(self.me, self.platform)


# --- buttons ---------------------------------------------------------------------------------

@dataclass(frozen=True, slots=True)
class Press:
    """A button press, the same on every platform: ``action`` on incident (or intake, or
    possible complaint) number ``incident``, from a card of ``version`` (None: a message
    without one), with ``value``, the button's argument (a status, a person's id, a
    category key...). Each front end reads it from its own wire format."""

    action: str
    incident: int
    version: int | None = None
    value: str = ""


async def press(turn: Turn, pressed: Press) -> None:
    """A button press: a forged or mangled one is refused as ``bad_button``."""
    n, v, x = pressed.incident, pressed.version, pressed.value
    if (not 0 <= n <= MAX_NUMBER or (v is not None and not 0 <= v <= MAX_NUMBER)
            or len(x) > ARG_LIMIT):
        turn.toast, turn.alert = turn.templates.refusal("bad_button"), True
        return
    try:
        await _press(turn, pressed.action, n, v, x)
    except BadButton:
        turn.toast, turn.alert = turn.templates.refusal("bad_button"), True


async def _press(turn: Turn, a: str, n: int, v: int | None, x: str) -> None:
    """Action ``a`` on number ``n`` from a card of version ``v``, with argument ``x``."""
    handler = PRESSES.get(a)
    if a == "redirect" and x != "other":
        await _redirect(turn, n, v, x)
    elif a == "redirect":
        await _ask_text(turn, a, n, v)
    elif a in NEEDS_TEXT:
        await _ask_text(turn, a, n, v, x)
    elif a in DIRECT:
        if a == "approve" and x not in ("", *RESULT_STATUSES):
            raise BadButton(x)
        result = await turn.app.actions.act(turn.me, n, DIRECT[a](x), version=v)
        if turn.answer(result, n) and a == "take":
            await _start_writing(turn, n, result.incident)
    elif handler is not None:
        await handler(turn, n, v, x)
    else:
        turn.toast, turn.alert = turn.templates.refusal("unknown_action"), True


async def _ask_text(turn: Turn, a: str, n: int, v: int | None, x: str = "") -> None:
    mode, prompt = NEEDS_TEXT[a]
    if x and not (a == "edit_approve" and x in RESULT_STATUSES):
        raise BadButton(x)
    check = await turn.app.actions.may(turn.me, n, BUTTONS[a], version=v)
    if not turn.answer(check, n, ok=" "):
        return
    await turn.set_mode(mode, n, {"v": v, "x": x} if x else {"v": v})
    await turn.say(turn.templates.phrase(prompt, n=n), [[Button("abort", n)]])
    if a == "edit_approve":
        draft = await turn.app.queries.draft(n)
        if draft and draft.text:
            await turn.say(f"<code>{_escape(draft.text)}</code>")


def _rows(buttons: Sequence[Button], width: int = 3) -> list[list[Button]]:
    """Buttons wrapped into rows of ``width``: a phone's screen holds three short labels."""
    return [list(buttons[i:i + width]) for i in range(0, len(buttons), width)]


async def _redirect(turn: Turn, n: int, v: int | None, x: str) -> None:
    """«Перенаправить»: the organisations of the config (and «Другая» to type one); a picked
    organisation redirects at once, with the answer to the resident on review."""
    organisations = turn.app.config.organisations
    if x:
        if x not in organisations:
            raise BadButton(x)
        result = await turn.app.actions.act(turn.me, n, RedirectTo(x), version=v)
        turn.answer(result, n, ok=turn.templates.phrase("redirect_done"))
        return
    if not organisations:
        await _ask_text(turn, "redirect", n, v)
        return
    check = await turn.app.actions.may(turn.me, n, Action.REDIRECT, version=v)
    if not turn.answer(check, n, ok=" "):
        return
    rows = [[Button("redirect", n, key, label=o.name)] for key, o in organisations.items()]
    rows.append([Button("redirect", n, "other"), Button("abort", n)])
    await turn.say(turn.templates.phrase("pick_organisation", n=n), rows,
                   version=check.incident.version if check.incident else None)


async def _pick_source(turn: Turn, n: int, v: int | None, x: str) -> None:
    """«Источник» on the card: the sources, as at registration."""
    check = await turn.app.actions.may(turn.me, n, Action.SOURCE)
    if not turn.answer(check, n, ok=" "):
        return
    t = turn.templates
    await turn.say(t.phrase("pick_new_source", n=n),
                   _rows([Button("set_src", n, key, label=t.phrase_raw("source_buttons", key))
                          for key in PICKABLE]))


async def _set_source(turn: Turn, n: int, v: int | None, x: str) -> None:
    if x not in PICKABLE:
        raise BadButton(x)
    result = await turn.app.actions.act(turn.me, n, ChangeSource(x))
    if turn.answer(result, n) and result.incident is not None:
        await _deadline_note(turn, result.incident)


async def _pick_policy(turn: Turn, n: int, v: int | None, x: str) -> None:
    check = await turn.app.actions.may(turn.me, n, Action.POLICY)
    if not turn.answer(check, n, ok=" "):
        return
    await turn.say(turn.templates.phrase("pick_policy", n=n),
                   _rows([Button("set_pol", n, name, label=p.title)
                          for name, p in turn.app.policies.named.items()], 2))


async def _set_policy(turn: Turn, n: int, v: int | None, x: str) -> None:
    if x not in turn.app.policies.named:
        raise BadButton(x)
    result = await turn.app.actions.act(turn.me, n, ChangePolicy(x))
    if turn.answer(result, n) and result.incident is not None:
        await _deadline_note(turn, result.incident)


async def _pick_category(turn: Turn, n: int, v: int | None, x: str) -> None:
    """«Категория» on the card of an incident a source found: the categories, the likely
    ones for its text first."""
    check = await turn.app.actions.may(turn.me, n, Action.CATEGORY)
    if not turn.answer(check, n, ok=" ") or check.incident is None:
        return
    categories = turn.app.config.categories
    keys = [k for k in possible.suggested_first(turn.app.intake, check.incident.text,
                                                check.incident.municipality)
            if k != check.incident.category]
    await turn.say(turn.templates.phrase("pick_new_category", n=n),
                   _rows([Button("set_cat", n, k, label=categories[k].name) for k in keys], 1))


async def _set_category(turn: Turn, n: int, v: int | None, x: str) -> None:
    """The corrected category: the incident moves to it (and to its department), and the
    detection learns it."""
    if x not in turn.app.config.categories:
        raise BadButton(x)
    result = await turn.app.actions.act(turn.me, n, Recategorize(x))
    if not turn.answer(result, n):
        return
    incident = await turn.app.queries.incident(n)
    if incident is None:
        return
    config = turn.app.config
    names = {p.id: p.name for p in await turn.app.queries.people()}
    await turn.say(turn.templates.phrase(
        "recategorized", n=n, category=config.categories[x].name,
        department=config.departments.get(incident.department or "", incident.department),
        executor=names.get(incident.executor_id or 0, "")),
        [[Button("reassign", n)]], version=incident.version)


async def _deadline_note(turn: Turn, incident: Any) -> None:
    policy = turn.app.policies.policy_of(incident)
    await turn.say(turn.templates.phrase(
        "reclocked", n=incident.id, source=turn.templates.phrase_raw(
            "sources", incident.source, default=incident.source),
        policy=policy.title, due=_local(turn, incident.answer_due)))


def _local(turn: Turn, at: datetime | None) -> str:
    return at.astimezone(turn.app.config.tz).strftime("%d.%m.%Y %H:%M") if at else "—"


async def _priority(turn: Turn, n: int, v: int | None, x: str) -> None:
    if x not in {p.value for p in Priority} - {Priority.URGENT.value}:
        raise BadButton(x)  # urgent needs its deadline typed: the «urgent» button
    turn.answer(await turn.app.actions.act(turn.me, n, SetPriority(Priority(x))), n)


async def _abort(turn: Turn, n: int, v: int | None, x: str) -> None:
    await turn.clear_mode()
    turn.toast = turn.templates.phrase("aborted")


async def _show(turn: Turn, n: int, v: int | None, x: str) -> None:
    turn.toast = " "
    await show(turn, n)


async def _writing_check(turn: Turn, n: int) -> bool:
    """Whether the person writes the answer to ``n`` now (the regulation's *answer*); if not,
    the press is refused."""
    incident = await turn.app.queries.incident(n)
    code = "not_found" if incident is None else refusal(Action.ANSWER, incident, turn.me)
    return turn.answer(Result(not code, code), n, ok=" ")


async def _answer(turn: Turn, n: int, v: int | None, x: str) -> None:
    if await _writing_check(turn, n):
        await _start_writing(turn, n)


async def _submit(turn: Turn, n: int, v: int | None, x: str) -> None:
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


async def _edit_text(turn: Turn, n: int, v: int | None, x: str) -> None:
    """«Изменить текст»: the next text replaces the draft's text (later ones add to it)."""
    if await _writing_check(turn, n):
        await turn.set_mode(WRITING, n, {"replace": True})
        await turn.say(turn.templates.phrase("write_new_text", n=n))


async def _replace_text(turn: Turn, n: int, v: int | None, x: str) -> None:
    """«Заменить текст последним сообщением»: the draft's text becomes the last piece added."""
    state = await turn.app.chats.mode(turn.me, turn.platform)
    last = state.data.get("last") if state and state.incident_id == n else None
    if not isinstance(last, str) or not last:
        turn.toast, turn.alert = turn.templates.refusal("stale", n=n), True
        return
    result = await turn.app.drafts.set_text(turn.me, n, last)
    if turn.answer(result, n, ok=turn.templates.phrase("draft_replaced")):
        await turn.set_mode(WRITING, n)
        await send_preview(turn, n)


async def _clear_attachments(turn: Turn, n: int, v: int | None, x: str) -> None:
    result = await turn.app.drafts.clear_attachments(turn.me, n)
    if turn.answer(result, n, ok=turn.templates.phrase("draft_cleared")):
        await send_preview(turn, n)


async def _cancel_draft(turn: Turn, n: int, v: int | None, x: str) -> None:
    result = await turn.app.drafts.cancel(turn.me, n)
    if turn.answer(result, n):
        await turn.clear_mode()
        await turn.say(turn.templates.phrase("draft_cancelled", n=n))


async def _interim(turn: Turn, n: int, v: int | None, x: str) -> None:
    if not await _writing_check(turn, n):
        return
    await turn.say(turn.templates.phrase("promise_prompt"),
                   [[Button("promise", n, "1"), Button("promise", n, "3"),
                     Button("promise", n, "7")], [Button("promise", n, "pick")]])


async def _promise(turn: Turn, n: int, v: int | None, x: str) -> None:
    days = _number(x, 1, PROMISE_DAYS) if x != "pick" else 0
    if not await _writing_check(turn, n):
        return
    if x == "pick":
        await turn.set_mode("promise_date", n)
        await turn.say(turn.templates.phrase("promise_prompt"), [[Button("abort", n)]])
        return
    today = turn.app.clock().astimezone(turn.app.config.tz).date()
    await _promise_day(turn, n, today + timedelta(days=days))


async def _promise_day(turn: Turn, n: int, day: date) -> None:
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


async def _final(turn: Turn, n: int, v: int | None, x: str) -> None:
    result = await turn.app.drafts.set_kind(turn.me, n, DraftKind.FINAL, None)
    if turn.answer(result, n):
        await send_preview(turn, n)


async def _reassign(turn: Turn, n: int, v: int | None, x: str) -> None:
    t = turn.templates
    check = await turn.app.actions.may(turn.me, n, Action.REASSIGN, version=v)
    if not turn.answer(check, n, ok=" "):
        return
    incident = check.incident
    executors = [p for p in await turn.app.queries.people() if p.has(Role.EXECUTOR)
                 and (incident is None or p.id != incident.executor_id
                      and in_municipality(p, incident.municipality))]
    if not executors:
        await turn.say(t.phrase("no_executors"))
        return
    departments = turn.app.config.departments

    def who(p: Person) -> str:
        names = ", ".join(departments.get(d, d) for d in sorted(p.departments))
        return f"{p.name} ({names})" if names else p.name

    await turn.say(t.phrase("pick_executor", n=n),
                   [[Button("to", n, str(p.id), label=who(p))] for p in executors],
                   version=incident.version if incident else None)


async def _reassign_to(turn: Turn, n: int, v: int | None, x: str) -> None:
    target = _number(x, 1, MAX_NUMBER)
    turn.answer(await turn.app.actions.act(turn.me, n, Reassign(target), version=v), n)


async def _first_response(turn: Turn, n: int, v: int | None, x: str) -> None:
    """One tap: the primary answer naming the deadline, ready to publish."""
    check = await turn.app.actions.may(turn.me, n, Action.FIRST_RESPONSE)
    if not turn.answer(check, n, ok=" ") or check.incident is None:
        return
    primary = await turn.app.answers.primary(check.incident)
    await turn.say(turn.templates.render("first_response_package", incident=check.incident,
                                         primary=primary),
                   [[Button("fr_published", n)]])


async def _first_response_published(turn: Turn, n: int, v: int | None, x: str) -> None:
    turn.answer(await turn.app.actions.act(turn.me, n, FirstResponse()), n)


async def _category(turn: Turn, n: int, v: int | None, x: str) -> None:
    """The coordinator picked the category of a post they sent: register it."""
    t = turn.templates
    row = await turn.app.intake.post(n)
    if row is None or row["person_id"] != turn.me.id:
        turn.toast, turn.alert = t.refusal("not_found"), True
        return
    if row["incident_id"] is not None:
        turn.toast, turn.alert = t.phrase("intake_gone"), True
        return
    atts = tuple(Attachment(a["kind"], a["file_id"], a["file_name"], a["mime_type"],
                            a["local_path"]) for a in json.loads(row["attachments"]))
    category, _, sub = x.partition("/")
    subcategories = turn.app.config.subcategories.get(category, ())
    if category not in turn.app.config.categories or (sub and not (
            sub.isdigit() and int(sub) < len(subcategories))):
        raise BadButton(x)
    if subcategories and not sub:  # the subcategory is chosen with the category
        turn.toast = " "
        await turn.say(t.phrase("pick_subcategory", category=turn.app.config.categories[
            category].name), _rows([Button("cat", n, f"{category}/{i}", label=name)
                                    for i, name in enumerate(subcategories)], 2))
        return
    result = await turn.app.intake.register(turn.me, Sighting(
        source=row["source"], external_id=f"intake:{row['id']}", text=row["text"],
        category=category, url=row["url"], author=row["author"], attachments=atts,
        subcategory=subcategories[int(sub)] if sub else None))
    if result.ok and result.incident is not None:
        await turn.app.intake.registered(row["id"], result.incident.id)
        await possible.learn_pick(turn.app.intake, turn.me, row["text"], category)
    turn.answer(result, 0)


async def _invite_role(turn: Turn, n: int, v: int | None, x: str) -> None:
    t = turn.templates
    if not turn.app.onboarding.may_invite(turn.me):
        turn.toast, turn.alert = t.refusal("wrong_role"), True
        return
    if x not in {r.value for r in Role}:
        raise BadButton(x)
    turn.toast = " "
    home = turn.app.config.department_municipality
    rows = [[Button("inv_dept", 0, f"{x}/{key}", label=name)]
            for key, name in turn.app.config.departments.items()
            if turn.me.municipality is None or home.get(key) in (None, turn.me.municipality)]
    if x not in (Role.EXECUTOR, Role.DEPARTMENT_HEAD):
        rows.append([Button("inv_dept", 0, f"{x}/", label="—")])
    await turn.say(t.phrase("invite_pick_department"), rows)


async def _invite_department(turn: Turn, n: int, v: int | None, x: str) -> None:
    if not turn.app.onboarding.may_invite(turn.me):
        turn.toast, turn.alert = turn.templates.refusal("wrong_role"), True
        return
    role, _, department = x.partition("/")
    if (role not in {r.value for r in Role}
            or (department and department not in turn.app.config.departments)
            or (role in (Role.EXECUTOR, Role.DEPARTMENT_HEAD) and not department)):
        raise BadButton(x)
    await turn.set_mode("invite_name", None, {"role": role, "department": department or None})
    turn.toast = " "
    await turn.say(turn.templates.phrase("invite_ask_name"))


# --- the Governor's networks: heads, contact, letters ---------------------------------------------


async def _head_to(turn: Turn, n: int, v: int | None, x: str) -> None:
    """The head of the department picked the executor (3.12.3)."""
    target = _number(x, 1, MAX_NUMBER)
    result = await turn.app.actions.act(turn.me, n, HeadAssign(target), version=v)
    if turn.answer(result, n) and result.incident is not None:
        names = {p.id: p.name for p in await turn.app.queries.people()}
        await turn.say(turn.templates.phrase(
            "head_assigned", n=n, name=names.get(result.incident.executor_id or 0, "")))


async def _contact(turn: Turn, n: int, v: int | None, x: str) -> None:
    """«Связался с заявителем»: a short note of the call follows (3.12.4)."""
    check = await turn.app.actions.may(turn.me, n, Action.CONTACT)
    if not turn.answer(check, n, ok=" "):
        return
    await turn.set_mode("contact_note", n)
    await turn.say(turn.templates.phrase("contact_prompt", n=n), [[Button("abort", n)]])


async def _contact_note(turn: Turn, n: int, body: str) -> None:
    result = await turn.app.actions.act(turn.me, n, Contact(body))
    if not result.ok:
        if result.code != "empty_reason":
            await turn.clear_mode()
        await turn.refuse(result, n)
        return
    await turn.set_mode(WRITING, n)
    await turn.say(turn.templates.phrase("contact_saved", n=n))
    await send_preview(turn, n)


async def _signed_pdf(turn: Turn, n: int, v: int | None, x: str) -> None:
    """«Загрузить подписанный PDF»: the next document is the signed letter (3.12.6)."""
    if not turn.answer(await turn.app.letters.may_sign(turn.me, n), n, ok=" "):
        return
    await turn.set_mode("signed_pdf", n)
    await turn.say(turn.templates.phrase("signed_prompt", n=n), [[Button("abort", n)]])


async def _signed_file(turn: Turn, n: int, attachment: Attachment | None) -> None:
    if attachment is None:
        await turn.say(turn.templates.refusal("not_a_pdf"))
        return
    result = await turn.app.letters.receive_signed(turn.me, n, attachment)
    if not result.ok:
        if result.code != "not_a_pdf":
            await turn.clear_mode()
        await turn.refuse(result, n)
        return
    await turn.clear_mode()
    await turn.say(turn.templates.phrase("signed_received", n=n))
    await turn.app.letters.send_due()  # a failure is told and retried by the sweep


async def _merge(turn: Turn, n: int, v: int | None, x: str) -> None:
    """«Объединить»: complaint ``n`` joins the problem whose lead is ``x``."""
    lead = _number(x, 1, MAX_NUMBER)
    result = await turn.app.actions.act(turn.me, n, Merge(lead), version=v)
    if turn.answer(result, n):
        await turn.say(turn.templates.phrase("problem_merged", n=n, lead=lead))


async def _separate(turn: Turn, n: int, v: int | None, x: str) -> None:
    """«Отдельно»: the complaint stays its own incident; nothing changes but the audit."""
    if not turn.me.has(Role.COORDINATOR):
        turn.toast, turn.alert = turn.templates.refusal("wrong_role"), True
        return
    await turn.app.problems.separate(n, turn.me.id)
    turn.toast = turn.templates.phrase("problem_separate", n=n)


PRESSES: dict[str, Callable[[Turn, int, int | None, str], Awaitable[None]]] = {
    "priority": _priority, "abort": _abort, "show": _show, "answer": _answer,
    "edit_text": _edit_text, "replace_text": _replace_text, "submit": _submit,
    "clear_attachments": _clear_attachments,
    "cancel": _cancel_draft, "interim": _interim, "promise": _promise, "final": _final,
    "reassign": _reassign, "to": _reassign_to, "first_response": _first_response,
    "fr_published": _first_response_published, "cat": _category,
    "source": _pick_source, "set_src": _set_source, "policy": _pick_policy,
    "set_pol": _set_policy, "recat": _pick_category, "set_cat": _set_category,
    "inv_role": _invite_role, "inv_dept": _invite_department,
    "head_to": _head_to, "contact": _contact, "signed_pdf": _signed_pdf,
    "merge": _merge, "separate": _separate,
}


# --- messages --------------------------------------------------------------------------------

async def text(turn: Turn, body: str) -> None:
    """A text message: a command, the text a mode waits for, a draft, or a post to register."""
    t = turn.templates
    if body.startswith("/"):
        await command(turn, body)
        return
    state = turn.chat_state
    mode = state.mode if state else None
    if mode in MODE_BUTTON and state is not None:
        await _mode_text(turn, state, body)
    elif mode == "promise_date" and state is not None:
        n = state.incident_id or 0
        when = parse_local(body, turn.app.clock(), turn.app.config.tz)
        today = turn.app.clock().astimezone(turn.app.config.tz).date()
        if when is None or when.date() <= today:
            await turn.say(t.refusal("bad_deadline"))
            return
        await turn.set_mode(WRITING, n)
        await _promise_day(turn, n, when.date())
    elif mode == TEMPLATE_MODE and state is not None:
        await _template_text(turn, state, body)
    elif mode == "contact_note" and state is not None:
        await _contact_note(turn, state.incident_id or 0, body)
    elif mode == "invite_name" and state is not None:
        await turn.clear_mode()
        await _issue_invite(turn, Role(state.data["role"]), state.data["department"],
                            body.strip())
    elif mode == WRITING or (mode is None and turn.me.has(Role.EXECUTOR)
                             and not turn.me.has(Role.COORDINATOR)):
        n = await _draft_target(turn)
        if n is None:
            return
        if not await _add_to_draft(turn, n, body):
            return
        await send_preview(turn, n)
    elif turn.me.has(Role.COORDINATOR):  # a plain text is first asked about; a link is not
        await intake(turn, body, [], source="manual", url=None, author=None,
                     confirm=URL.search(body) is None)
    else:
        await turn.say(t.phrase("unknown_input"))


async def _mode_text(turn: Turn, state: ChatState, body: str) -> None:
    n = state.incident_id or 0
    command = _typed(turn, MODE_BUTTON[state.mode], body, str(state.data.get("x") or ""))
    result = (await turn.app.actions.act(turn.me, n, command, version=state.data.get("v"))
              if command is not None else Result(False, "bad_deadline"))
    if result.ok or result.code not in {"empty_reason", "bad_deadline", "deadline_in_past"}:
        await turn.clear_mode()
    if not result.ok:
        await turn.refuse(result, n)
    elif not isinstance(command, EditApprove | Redirect):  # those answer with the next step
        await turn.say(turn.templates.phrase("reason_received"))


def _typed(turn: Turn, button: str, body: str, x: str) -> Command | None:
    """The command a typed text completes (``x``: the argument of the press that asked for
    it); None when the date typed is no date."""
    now, tz = turn.app.clock(), turn.app.config.tz
    match button:
        case "decline":
            return Decline(body)
        case "return":
            return Return(body)
        case "reject":
            return Reject(body)
        case "reopen":
            return Reopen(body)
        case "edit_approve":
            return EditApprove(body, x or None)
        case "redirect":  # to whom, then a comment on the next lines
            to, _, note = body.strip().partition("\n")
            return Redirect(to.strip(), note.strip())
        case "urgent":
            due = parse_local(body, now, tz)
            return SetPriority(Priority.URGENT, due) if due is not None else None
        case "extend":  # the date, then the reason on the next lines
            when, _, reason = body.strip().partition("\n")
            due = parse_local(when, now, tz)
            return Extend(due, reason) if due is not None else None
        case "due":
            due = parse_local(body, now, tz)
            return PlatformDue(due) if due is not None else None
    raise ValueError(f"no command is typed for {button!r}")


async def attach(turn: Turn, attachment: Attachment | None, unique_id: str,
                 media_group_id: str | None, caption: str | None,
                 settle_later: Callable[[str, Callable[[], Awaitable[object]]], None]) -> None:
    """A photo or document: part of the executor's draft, or of a post the coordinator sends.
    ``settle_later`` shows one preview once an album has stopped growing."""
    t = turn.templates
    mode = turn.chat_state.mode if turn.chat_state else None
    if mode == "signed_pdf" and turn.chat_state is not None:
        await _signed_file(turn, turn.chat_state.incident_id or 0, attachment)
        return
    if mode is None and attachment is not None and attachment.kind == "document":
        # A PDF sent without the button, while exactly one letter waits for it.
        waiting = await turn.app.letters.to_sign(turn.me)
        if len(waiting) == 1 and (attachment.file_name or "").lower().endswith(".pdf"):
            await _signed_file(turn, waiting[0], attachment)
            return
    if mode != WRITING and turn.me.has(Role.COORDINATOR):
        await intake(turn, caption or "", [attachment] if attachment else [],
                     source="manual", url=None, author=None, media_group_id=media_group_id)
        return
    if mode not in (WRITING, None) or not turn.me.has(Role.EXECUTOR):
        await turn.say(t.phrase("unknown_input"))
        return
    n = await _draft_target(turn)
    if n is None:
        return
    if attachment is None:
        await turn.say(t.phrase("unsupported_file"))
        return
    result = await turn.app.drafts.attach(turn.me, n, attachment, unique_id, media_group_id)
    if not result.ok:
        await turn.refuse(result, n)
        return
    if caption:
        await _add_to_draft(turn, n, caption)
    file_id = attachment.file_id
    settle_later(f"draft:{turn.platform}:{turn.me.id}:{n}",
                 lambda: _preview_if_newest(turn, n, file_id))


async def _preview_if_newest(turn: Turn, n: int, file_id: str) -> None:
    """An album's preview, shown by the follow-up of its newest item. In one process a later
    item cancels the earlier follow-up; with several workers a later item may have been
    handled by another worker, whose own follow-up shows the preview, so this one does not."""
    draft = await turn.app.queries.draft(n)
    if draft is not None and draft.attachments and draft.attachments[-1].file_id != file_id:
        return
    await send_preview(turn, n)


async def intake(turn: Turn, body: str, attachments: list[Attachment], *, source: str,
                 url: str | None, author: str | None, media_group_id: str | None = None,
                 confirm: bool = False) -> None:
    """A post the coordinator sent (forwarded, or its text with a link and photos): keep it
    and ask for the category (``confirm``: first whether to register it at all)."""
    found = URL.search(body)
    url = url or (found.group(0) if found else None)
    source = source_from_url(url) or source
    # Registered by hand with no link that tells the source: it is asked with the category.
    ask = source == "manual"
    await turn.app.intake.add(
        turn.me, turn.chat_id, source=source, text=body, url=url, author=author,
        attachments=[_att_dict(a) for a in attachments], media_group_id=media_group_id,
        category_buttons=_category_rows(turn, 0, body, ask_source=ask), platform=turn.platform,
        confirm=confirm, prompt="pick_source_category" if ask else "pick_category")


def _category_rows(turn: Turn, n: int, text: str, *,
                   ask_source: bool = False) -> list[list[Button]]:
    """A button per category, the likely ones for ``text`` first (detection's suggestion);
    with ``ask_source``, the rows of sources above them."""
    categories = turn.app.config.categories
    rows = [[Button("cat", n, key, label=categories[key].name)]
            for key in possible.suggested_first(turn.app.intake, text, turn.me.municipality)]
    if ask_source:
        rows = _rows([Button("src", n, key,
                             label=turn.templates.phrase_raw("source_buttons", key))
                      for key in PICKABLE]) + rows
    return rows


async def _intake_source(turn: Turn, n: int, v: int | None, x: str) -> None:
    """A source picked for a post sent by hand: kept, then the category is asked."""
    if x not in PICKABLE:
        raise BadButton(x)
    if (row := await _own_intake(turn, n)) is None:
        return
    await turn.app.intake.set_source(n, x)
    t = turn.templates
    turn.toast = " "
    await turn.say(t.phrase("pick_category_for", source=t.phrase_raw("sources", x)),
                   _category_rows(turn, n, row["text"]))


async def _own_intake(turn: Turn, n: int) -> Any:
    """The coordinator's own post waiting for a decision, or None (the press is answered)."""
    row = await turn.app.intake.post(n)
    if row is None or row["person_id"] != turn.me.id:
        raise BadButton(str(n))
    if row["incident_id"] is not None:
        turn.toast, turn.alert = turn.templates.phrase("intake_gone"), True
        return None
    return row


async def _intake_yes(turn: Turn, n: int, v: int | None, x: str) -> None:
    row = await _own_intake(turn, n)
    if row is None:
        return
    turn.toast = " "
    ask = row["source"] == "manual"
    await turn.say(turn.templates.phrase("pick_source_category" if ask else "pick_category"),
                   _category_rows(turn, n, row["text"], ask_source=ask))


async def _intake_no(turn: Turn, n: int, v: int | None, x: str) -> None:
    if await _own_intake(turn, n) is None:
        return
    await turn.app.intake.drop(n)
    turn.toast = turn.templates.phrase("aborted")
    await turn.say(turn.templates.phrase("intake_dropped"))


PRESSES.update(intake_yes=_intake_yes, intake_no=_intake_no, src=_intake_source)


def _att_dict(a: Attachment) -> dict[str, str | None]:
    return {"kind": a.kind, "file_id": a.file_id, "file_name": a.file_name,
            "mime_type": a.mime_type, "local_path": a.local_path}


async def _add_to_draft(turn: Turn, n: int, piece: str) -> bool:
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


async def _draft_target(turn: Turn) -> int | None:
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


async def _start_writing(turn: Turn, n: int, incident: Incident | None = None) -> None:
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


# --- commands --------------------------------------------------------------------------------

async def command(turn: Turn, body: str) -> None:
    name, _, args = body.partition(" ")
    name = name.split("@", 1)[0].lower()
    args = args.strip()
    t = turn.templates
    match name:
        case "/start":
            await start(turn, args)
        case "/help":
            await turn.say(t.phrase("help"))
        case "/cancel":
            await turn.clear_mode()
            await turn.say(t.phrase("aborted"))
        case "/my":
            await my(turn)
        case "/open":
            await open_incidents(turn)
        case "/incident":
            number = args.lstrip("№#")
            if not number.isdigit():
                await turn.say(t.phrase("incident_usage"))
            else:
                await show(turn, int(number))
        case "/invite":
            await invite(turn, args)
        case "/report" | "/export":
            await report(turn, name, args)
        case "/board":
            await board(turn)
        case "/templates":
            await templates_menu(turn)
        case _:
            await turn.say(t.phrase("unknown_input"))


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
        await turn.say(_escape(str(e)))
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


async def start(turn: Turn, token: str) -> None:
    t = turn.templates
    person = turn.person
    if token:
        bound, why = await turn.app.onboarding.accept_invite(token, turn.platform, turn.chat_id)
        if why == "chat_taken" and bound is not None:
            await turn.say(t.phrase("chat_taken", name=bound.name))
            return
        if bound is None:
            await turn.say(t.phrase("invite_used"))
            return
        person = bound
    if person is None:
        await turn.app.onboarding.refuse_stranger(turn.platform, turn.chat_id, "/start")
        return
    if not person.active:
        await turn.app.onboarding.refuse_inactive(person, turn.platform, turn.chat_id, "/start")
        return
    roles = ", ".join(t.phrase_raw("roles", r) for r in sorted(person.roles))
    await turn.say(t.phrase("welcome", name=person.name, roles=roles))


async def invite(turn: Turn, args: str) -> None:
    t = turn.templates
    if not turn.app.onboarding.may_invite(turn.me):
        await turn.app.onboarding.invite(turn.me, Role.EXECUTOR, None, "")  # audited refusal
        await turn.say(t.refusal("wrong_role"))
        return
    if not args:
        await turn.say(t.phrase("invite_pick_role"),
                       [[Button("inv_role", 0, r.value, label=t.phrase_raw("roles", r.value))]
                        for r in Role])
        return
    parts = args.split(maxsplit=2)
    try:
        role = Role(parts[0])
    except ValueError:
        await turn.say(t.phrase("invite_usage"))
        return
    departments = turn.app.config.departments
    department = parts[1] if len(parts) > 1 and parts[1] in departments else None
    name = " ".join(parts[2 if department else 1:]).strip()
    if not name:
        await turn.say(t.phrase("invite_usage"))
        return
    await _issue_invite(turn, role, department, name)


async def _issue_invite(turn: Turn, role: Role, department: str | None, name: str) -> None:
    result = await turn.app.onboarding.invite(turn.me, role, department, name)
    if not result.ok and result.code == "namesake":
        await _ask_namesake(turn, role, department, name)
        return
    await _invite_issued(turn, result, role, name)


async def _ask_namesake(turn: Turn, role: Role, department: str | None, name: str) -> None:
    """Somebody of that name is registered: a new person, or (explicitly) moving that
    person's chat to whoever opens the link."""
    t = turn.templates
    await turn.set_mode("invite_namesake", None,
                        {"role": role.value, "department": department, "name": name})
    namesakes = [p for p in await turn.app.queries.people() if p.active and p.name == name]
    rows = [[Button("inv_new", 0, label=t.phrase("invite_new_person"))]]
    for p in namesakes:
        roles = ", ".join(t.phrase_raw("roles", r) for r in sorted(p.roles))
        rows.append([Button("inv_rebind", p.id,
                            label=t.phrase("invite_rebind_person", name=p.name, roles=roles))])
    rows.append([Button("abort", 0)])
    await turn.say(t.phrase("invite_namesake", name=name), rows)


async def _invite_namesake_choice(turn: Turn, n: int, v: int | None, x: str) -> None:
    """«Новый участник» (``inv_new``) or «Перепривязать» (``inv_rebind``, n: the person)."""
    if not turn.app.onboarding.may_invite(turn.me):
        turn.toast, turn.alert = turn.templates.refusal("wrong_role"), True
        return
    state = turn.chat_state
    if state is None or state.mode != "invite_namesake":
        raise BadButton("no invitation waits for this choice")
    data = state.data
    role = Role(data["role"])
    result = await turn.app.onboarding.invite(turn.me, role, data["department"], data["name"],
                                       new=n == 0, rebind=n or None)
    if not turn.answer(result, n, ok=" "):
        return
    await turn.clear_mode()
    await _invite_issued(turn, result, role, data["name"])


PRESSES.update(inv_new=_invite_namesake_choice, inv_rebind=_invite_namesake_choice)


async def _invite_issued(turn: Turn, result: Invitation, role: Role, name: str) -> None:
    t = turn.templates
    if not result.ok:
        await turn.say(t.refusal(result.code))
        return
    await turn.say(t.phrase("invite_link", name=name, role=t.phrase_raw("roles", role.value),
                            link=turn.invite_link(result.token), token=result.token))


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


def group_by_state(incidents: list[Any]) -> list[tuple[State, list[Any]]]:
    order = list(State)
    out: dict[State, list[Any]] = {}
    for i in sorted(incidents, key=lambda i: (order.index(i.state), i.id)):
        out.setdefault(i.state, []).append(i)
    return list(out.items())


def _escape(body: str) -> str:
    return body.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


# --- «Возможный инцидент» (bot.possible) ----------------------------------------------------

async def _possible_decide(turn: Turn, n: int, v: int | None, x: str) -> None:
    """A category (registers the message) or «Не инцидент» for a possible complaint."""
    result = await possible.decide(turn.app.intake, turn.me, n, x)
    if not result.ok and result.code == "possible_done":
        turn.toast, turn.alert = turn.templates.phrase_raw("detection", "possible_done"), True
        return
    ok = turn.templates.phrase_raw("detection", "dismissed") if result.code == "dismissed" \
        else ""
    turn.answer(result, result.incident.id if result.incident else n, ok=ok)


async def _possible_show(turn: Turn, n: int, v: int | None, x: str, every: bool = False
                         ) -> None:
    code = await possible.show(turn.app.intake, turn.me, n, every=every)
    if code == "possible_done":
        turn.toast, turn.alert = turn.templates.phrase_raw("detection", "possible_done"), True
    elif code:
        turn.toast, turn.alert = turn.templates.refusal(code, n=n), True
    else:
        turn.toast = " "


async def _possible_more(turn: Turn, n: int, v: int | None, x: str) -> None:
    await _possible_show(turn, n, v, x, every=True)


PRESSES.update({"pc": _possible_decide, "pc_show": _possible_show, "pc_more": _possible_more})


# --- answer templates -------------------------------------------------------------------------

TEMPLATE_MODE = "template_text"


async def template_buttons(turn: Turn, incident: Any) -> list[list[Button]]:
    """Up to three *Шаблон: …* buttons for the incident's category, one per row."""
    prefix = turn.templates.label("tpl")
    return [[Button("tpl", incident.id, str(t.id), label=f"{prefix}: {t.title}")]
            for t in await turn.app.answers.offered(incident)]


async def _taken_to_write(turn: Turn, n: int, v: int | None) -> Incident | None:
    """The incident whose draft a *Шаблон* or *Как в №…* press fills, taken first when the
    press comes from a card not yet taken; None (the press refused) when not writing it."""
    incident = await turn.app.queries.incident(n)
    if (incident is not None and incident.executor_id == turn.me.id
            and incident.state.awaits_take):
        if not turn.answer(await turn.app.actions.act(turn.me, n, Take(), version=v), n):
            return None
        incident = await turn.app.queries.incident(n)
    if incident is None or not await _writing_check(turn, n):
        return None
    return incident


async def _template(turn: Turn, n: int, v: int | None, x: str) -> None:
    """*Шаблон: …*: the template filled for the incident goes into the draft — only on this
    press — and the preview shows it to edit. On a card not yet taken, the press takes it."""
    template_id = _number(x, 1, MAX_NUMBER)
    incident = await _taken_to_write(turn, n, v)
    if incident is None:
        return
    filled = await turn.app.answers.filled(incident, template_id)
    if filled is None:
        turn.toast, turn.alert = turn.templates.refusal("template_gone", n=n), True
        return
    if not await _add_to_draft(turn, n, filled):
        return
    title = next((t.title for t in await turn.app.answers.in_use(incident.category)
                  if t.id == template_id), "")
    turn.toast = " "
    await turn.say(turn.templates.phrase("template_inserted", title=title, n=n))
    await send_preview(turn, n)


async def _suggestion(turn: Turn, n: int, v: int | None, x: str) -> None:
    """*Как в №…*: the answer approved for that past incident goes into the draft — only on
    this press, and only one that could be offered to this executor here — and the preview
    shows it to edit. On a card not yet taken, the press takes it (as *Шаблон: …*)."""
    past_id = _number(x, 1, MAX_NUMBER)
    incident = await _taken_to_write(turn, n, v)
    if incident is None:
        return
    answer = await turn.app.answers.suggested(turn.me, incident, past_id)
    if answer is None:
        turn.toast, turn.alert = turn.templates.refusal("suggestion_gone", n=n), True
        return
    if not await _add_to_draft(turn, n, answer):
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
        lines.append(f"<b>{_escape(category.name)}</b>")
        for a in mine:
            note = f" <i>({t.phrase('template_from_config')})</i>" if a.origin == "config" else ""
            shown = a.text if len(a.text) <= 200 else a.text[:199].rstrip() + "…"
            lines.append(f"• {_escape(a.title)}{note}\n<code>{_escape(shown)}</code>")
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


async def _template_add(turn: Turn, n: int, v: int | None, x: str) -> None:
    if not turn.app.answers.may_edit(turn.me):
        turn.toast, turn.alert = turn.templates.refusal("wrong_role"), True
        return
    turn.toast = " "
    rows = _rows([Button("tpl_cat", 0, key, label=c.name)
                  for key, c in turn.app.config.categories.items()], width=2)
    await turn.say(turn.templates.phrase("template_pick_category"), rows)


async def _template_category(turn: Turn, n: int, v: int | None, x: str) -> None:
    if x not in turn.app.config.categories:
        raise BadButton(x)
    if not turn.app.answers.may_edit(turn.me):
        turn.toast, turn.alert = turn.templates.refusal("wrong_role"), True
        return
    turn.toast = " "
    await turn.set_mode(TEMPLATE_MODE, None, {"category": x})
    await turn.say(turn.templates.phrase("template_ask_text"), [[Button("abort", 0)]])


async def _template_text(turn: Turn, state: ChatState, body: str) -> None:
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


async def _template_delete(turn: Turn, n: int, v: int | None, x: str) -> None:
    found = next((a for a in await turn.app.answers.in_use() if a.id == n), None)
    result = await turn.app.answers.delete(turn.me, n)
    if turn.answer(result, n) and found is not None:
        await turn.say(turn.templates.phrase("template_deleted", title=found.title))
        await templates_menu(turn)


PRESSES.update(tpl=_template, tpl_add=_template_add, tpl_cat=_template_category,
               tpl_del=_template_delete, sug=_suggestion)
