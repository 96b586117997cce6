"""The buttons of an incident's card: the regulation's actions (at once, or after the text
they need: a reason, a wording, a date) and the pickers of a source, a policy, a category,
an executor or an organisation; the contact note and the signed letter of the Governor's
networks."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from typing import Any

from bot import possible
from bot.updates import ChatState
from bot.usecases import Result
from handlers.flows.drafts import send_preview, start_writing
from handlers.flows.turn import (
    MAX_NUMBER,
    WRITING,
    BadButton,
    Press,
    Turn,
    escape,
    in_rows,
    local,
    number,
    on,
)
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
    Take,
    Unmerge,
)
from workflows.dates import parse_local
from workflows.model import (
    Attachment,
    Button,
    Person,
    Priority,
    Role,
)
from workflows.regulation import BUTTONS, Action
from workflows.sources import PICKABLE
from workflows.transitions import RESULT_STATUSES
from workflows.visibility import in_municipality

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


@on(*DIRECT)
async def _direct(turn: Turn, press: Press) -> None:
    n, x = press.incident, press.value
    if press.action == "approve" and x not in ("", *RESULT_STATUSES):
        raise BadButton(x)
    result = await turn.app.actions.act(turn.me, n, DIRECT[press.action](x),
                                        version=press.version)
    if turn.answer(result, n) and press.action == "take":
        await start_writing(turn, n, result.incident)


@on(*(button for button in NEEDS_TEXT if button != "redirect"))
async def _ask_text(turn: Turn, press: Press) -> None:
    """A button whose command needs a text: the chat waits for it (:func:`mode_text`)."""
    a, n, v, x = press.action, press.incident, press.version, press.value
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
            await turn.say(f"<code>{escape(draft.text)}</code>")


@on("redirect")
async def _redirect(turn: Turn, press: Press) -> None:
    """«Перенаправить»: the organisations of the config (and «Другая» to type one); a picked
    organisation redirects at once, with the answer to the resident on review."""
    n, v, x = press.incident, press.version, press.value
    organisations = turn.app.config.organisations
    if x == "other" or (not x and not organisations):
        await _ask_text(turn, replace(press, value=""))
        return
    if x:
        if x not in organisations:
            raise BadButton(x)
        result = await turn.app.actions.act(turn.me, n, RedirectTo(x), version=v)
        turn.answer(result, n, ok=turn.templates.phrase("redirect_done"))
        return
    check = await turn.app.actions.may(turn.me, n, Action.REDIRECT, version=v)
    if not turn.answer(check, n, ok=" "):
        return
    rows = [[Button("redirect", n, key, label=o.name)] for key, o in organisations.items()]
    rows.append([Button("redirect", n, "other"), Button("abort", n)])
    await turn.say(turn.templates.phrase("pick_organisation", n=n), rows,
                   version=check.incident.version if check.incident else None)


@on("source")
async def _pick_source(turn: Turn, press: Press) -> None:
    """«Источник» on the card: the sources, as at registration."""
    n = press.incident
    check = await turn.app.actions.may(turn.me, n, Action.SOURCE)
    if not turn.answer(check, n, ok=" "):
        return
    t = turn.templates
    await turn.say(t.phrase("pick_new_source", n=n),
                   in_rows([Button("set_src", n, key, label=t.phrase_raw("source_buttons", key))
                            for key in PICKABLE]))


@on("set_src")
async def _set_source(turn: Turn, press: Press) -> None:
    n = press.incident
    if press.value not in PICKABLE:
        raise BadButton(press.value)
    result = await turn.app.actions.act(turn.me, n, ChangeSource(press.value))
    if turn.answer(result, n) and result.incident is not None:
        await _deadline_note(turn, result.incident)


@on("policy")
async def _pick_policy(turn: Turn, press: Press) -> None:
    n = press.incident
    check = await turn.app.actions.may(turn.me, n, Action.POLICY)
    if not turn.answer(check, n, ok=" "):
        return
    await turn.say(turn.templates.phrase("pick_policy", n=n),
                   in_rows([Button("set_pol", n, name, label=p.title)
                            for name, p in turn.app.policies.named.items()], 2))


@on("set_pol")
async def _set_policy(turn: Turn, press: Press) -> None:
    n = press.incident
    if press.value not in turn.app.policies.named:
        raise BadButton(press.value)
    result = await turn.app.actions.act(turn.me, n, ChangePolicy(press.value))
    if turn.answer(result, n) and result.incident is not None:
        await _deadline_note(turn, result.incident)


@on("recat")
async def _pick_category(turn: Turn, press: Press) -> None:
    """«Категория» on the card of an incident a source found: the categories, the likely
    ones for its text first."""
    n = press.incident
    check = await turn.app.actions.may(turn.me, n, Action.CATEGORY)
    if not turn.answer(check, n, ok=" ") or check.incident is None:
        return
    categories = turn.app.config.categories
    keys = [k for k in possible.suggested_first(turn.app.intake, check.incident.text,
                                                check.incident.municipality)
            if k != check.incident.category]
    await turn.say(turn.templates.phrase("pick_new_category", n=n),
                   in_rows([Button("set_cat", n, k, label=categories[k].name) for k in keys], 1))


@on("set_cat")
async def _set_category(turn: Turn, press: Press) -> None:
    """The corrected category: the incident moves to it (and to its department), and the
    detection learns it."""
    n = press.incident
    if press.value not in turn.app.config.categories:
        raise BadButton(press.value)
    result = await turn.app.actions.act(turn.me, n, Recategorize(press.value))
    if not turn.answer(result, n):
        return
    incident = await turn.app.queries.incident(n)
    if incident is None:
        return
    config = turn.app.config
    names = {p.id: p.name for p in await turn.app.queries.people()}
    await turn.say(turn.templates.phrase(
        "recategorized", n=n, category=config.categories[press.value].name,
        department=config.departments.get(incident.department or "", incident.department),
        executor=names.get(incident.executor_id or 0, "")),
        [[Button("reassign", n)]], version=incident.version)


async def _deadline_note(turn: Turn, incident: Any) -> None:
    policy = turn.app.policies.policy_of(incident)
    await turn.say(turn.templates.phrase(
        "reclocked", n=incident.id, source=turn.templates.phrase_raw(
            "sources", incident.source, default=incident.source),
        policy=policy.title, due=local(turn, incident.answer_due)))


@on("priority")
async def _priority(turn: Turn, press: Press) -> None:
    n = press.incident
    if press.value not in {p.value for p in Priority} - {Priority.URGENT.value}:
        raise BadButton(press.value)  # urgent needs its deadline typed: the «urgent» button
    turn.answer(await turn.app.actions.act(turn.me, n, SetPriority(Priority(press.value))), n)


@on("abort")
async def _abort(turn: Turn, press: Press) -> None:
    await turn.clear_mode()
    turn.toast = turn.templates.phrase("aborted")


@on("reassign")
async def _reassign(turn: Turn, press: Press) -> None:
    n = press.incident
    t = turn.templates
    check = await turn.app.actions.may(turn.me, n, Action.REASSIGN, version=press.version)
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


@on("to")
async def _reassign_to(turn: Turn, press: Press) -> None:
    n = press.incident
    target = number(press.value, 1, MAX_NUMBER)
    turn.answer(await turn.app.actions.act(turn.me, n, Reassign(target), version=press.version), n)


@on("first_response")
async def _first_response(turn: Turn, press: Press) -> None:
    """One tap: the primary answer naming the deadline, ready to publish."""
    n = press.incident
    check = await turn.app.actions.may(turn.me, n, Action.FIRST_RESPONSE)
    if not turn.answer(check, n, ok=" ") or check.incident is None:
        return
    primary = await turn.app.answers.primary(check.incident)
    await turn.say(turn.templates.render("first_response_package", incident=check.incident,
                                         primary=primary),
                   [[Button("fr_published", n)]])


@on("fr_published")
async def _first_response_published(turn: Turn, press: Press) -> None:
    n = press.incident
    turn.answer(await turn.app.actions.act(turn.me, n, FirstResponse()), n)


@on("head_to")
async def _head_to(turn: Turn, press: Press) -> None:
    """The head of the department picked the executor (3.12.3)."""
    n = press.incident
    target = number(press.value, 1, MAX_NUMBER)
    result = await turn.app.actions.act(turn.me, n, HeadAssign(target), version=press.version)
    if turn.answer(result, n) and result.incident is not None:
        names = {p.id: p.name for p in await turn.app.queries.people()}
        await turn.say(turn.templates.phrase(
            "head_assigned", n=n, name=names.get(result.incident.executor_id or 0, "")))


@on("contact")
async def _contact(turn: Turn, press: Press) -> None:
    """«Связался с заявителем»: a short note of the call follows (3.12.4)."""
    n = press.incident
    check = await turn.app.actions.may(turn.me, n, Action.CONTACT)
    if not turn.answer(check, n, ok=" "):
        return
    await turn.set_mode("contact_note", n)
    await turn.say(turn.templates.phrase("contact_prompt", n=n), [[Button("abort", n)]])


async def contact_note(turn: Turn, n: int, body: str) -> None:
    result = await turn.app.actions.act(turn.me, n, Contact(body))
    if not result.ok:
        if result.code != "empty_reason":
            await turn.clear_mode()
        await turn.refuse(result, n)
        return
    await turn.set_mode(WRITING, n)
    await turn.say(turn.templates.phrase("contact_saved", n=n))
    await send_preview(turn, n)


@on("signed_pdf")
async def _signed_pdf(turn: Turn, press: Press) -> None:
    """«Загрузить подписанный PDF»: the next document is the signed letter (3.12.6)."""
    n = press.incident
    if not turn.answer(await turn.app.letters.may_sign(turn.me, n), n, ok=" "):
        return
    await turn.set_mode("signed_pdf", n)
    await turn.say(turn.templates.phrase("signed_prompt", n=n), [[Button("abort", n)]])


async def signed_file(turn: Turn, n: int, attachment: Attachment | None) -> None:
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


@on("merge")
async def _merge(turn: Turn, press: Press) -> None:
    """«Объединить»: the complaint joins the problem whose lead is the button's value."""
    n = press.incident
    lead = number(press.value, 1, MAX_NUMBER)
    result = await turn.app.actions.act(turn.me, n, Merge(lead), version=press.version)
    if turn.answer(result, n):
        await turn.say(turn.templates.phrase("problem_merged", n=n, lead=lead))


@on("separate")
async def _separate(turn: Turn, press: Press) -> None:
    """«Отдельно»: the complaint stays its own incident; nothing changes but the audit."""
    n = press.incident
    if not turn.me.has(Role.COORDINATOR):
        turn.toast, turn.alert = turn.templates.refusal("wrong_role"), True
        return
    await turn.app.problems.separate(n, turn.me.id)
    turn.toast = turn.templates.phrase("problem_separate", n=n)


async def mode_text(turn: Turn, state: ChatState, body: str) -> None:
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
