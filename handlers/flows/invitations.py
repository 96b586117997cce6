"""``/start`` with an invitation link, and ``/invite``: the role, the department and the
name picked with buttons; a namesake is asked about, never merged silently."""

from __future__ import annotations

from bot.usecases import Invitation
from handlers.flows.turn import BadButton, Press, Turn, on
from workflows.model import (
    Button,
    Role,
)


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
    await issue_invite(turn, role, department, name)


async def issue_invite(turn: Turn, role: Role, department: str | None, name: str) -> None:
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


@on("inv_new", "inv_rebind")
async def _invite_namesake_choice(turn: Turn, press: Press) -> None:
    """«Новый участник» (``inv_new``) or «Перепривязать» (``inv_rebind``, n: the person)."""
    n = press.incident
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


async def _invite_issued(turn: Turn, result: Invitation, role: Role, name: str) -> None:
    t = turn.templates
    if not result.ok:
        await turn.say(t.refusal(result.code))
        return
    await turn.say(t.phrase("invite_link", name=name, role=t.phrase_raw("roles", role.value),
                            link=turn.invite_link(result.token), token=result.token))


@on("inv_role")
async def _invite_role(turn: Turn, press: Press) -> None:
    t = turn.templates
    if not turn.app.onboarding.may_invite(turn.me):
        turn.toast, turn.alert = t.refusal("wrong_role"), True
        return
    role = press.value
    if role not in {r.value for r in Role}:
        raise BadButton(role)
    turn.toast = " "
    home = turn.app.config.department_municipality
    rows = [[Button("inv_dept", 0, f"{role}/{key}", label=name)]
            for key, name in turn.app.config.departments.items()
            if turn.me.municipality is None or home.get(key) in (None, turn.me.municipality)]
    if role not in (Role.EXECUTOR, Role.DEPARTMENT_HEAD):
        rows.append([Button("inv_dept", 0, f"{role}/", label="—")])
    await turn.say(t.phrase("invite_pick_department"), rows)


@on("inv_dept")
async def _invite_department(turn: Turn, press: Press) -> None:
    if not turn.app.onboarding.may_invite(turn.me):
        turn.toast, turn.alert = turn.templates.refusal("wrong_role"), True
        return
    role, _, department = press.value.partition("/")
    if (role not in {r.value for r in Role}
            or (department and department not in turn.app.config.departments)
            or (role in (Role.EXECUTOR, Role.DEPARTMENT_HEAD) and not department)):
        raise BadButton(press.value)
    await turn.set_mode("invite_name", None, {"role": role, "department": department or None})
    turn.toast = " "
    await turn.say(turn.templates.phrase("invite_ask_name"))
