"""Where an update enters the flows: :func:`press` for a button, :func:`text` for a message
(a command, the text a chat mode waits for, a draft, a post to register), :func:`attach`
for a photo or a document."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from handlers.flows.answer_templates import TEMPLATE_MODE, template_text, templates_menu
from handlers.flows.drafts import (
    PROMISE_MODE,
    add_to_draft,
    draft_target,
    preview_if_newest,
    promise_text,
    send_preview,
)
from handlers.flows.incident_actions import MODE_BUTTON, contact_note, mode_text, signed_file
from handlers.flows.intake import URL, intake
from handlers.flows.invitations import invite, issue_invite, start
from handlers.flows.turn import ARG_LIMIT, MAX_NUMBER, PRESSES, WRITING, BadButton, Press, Turn
from handlers.flows.views import board, my, open_incidents, report, show
from workflows.model import (
    Attachment,
    Role,
)


async def press(turn: Turn, pressed: Press) -> None:
    """A button press: a forged or mangled one is refused as ``bad_button``."""
    n, v, x = pressed.incident, pressed.version, pressed.value
    if (not 0 <= n <= MAX_NUMBER or (v is not None and not 0 <= v <= MAX_NUMBER)
            or len(x) > ARG_LIMIT):
        turn.toast, turn.alert = turn.templates.refusal("bad_button"), True
        return
    handler = PRESSES.get(pressed.action)
    if handler is None:
        turn.toast, turn.alert = turn.templates.refusal("unknown_action"), True
        return
    try:
        await handler(turn, pressed)
    except BadButton:
        turn.toast, turn.alert = turn.templates.refusal("bad_button"), True


async def text(turn: Turn, body: str) -> None:
    """A text message: a command, the text a mode waits for, a draft, or a post to register."""
    t = turn.templates
    if body.startswith("/"):
        await command(turn, body)
        return
    state = turn.chat_state
    mode = state.mode if state else None
    if mode in MODE_BUTTON and state is not None:
        await mode_text(turn, state, body)
    elif mode == PROMISE_MODE and state is not None:
        await promise_text(turn, state, body)
    elif mode == TEMPLATE_MODE and state is not None:
        await template_text(turn, state, body)
    elif mode == "contact_note" and state is not None:
        await contact_note(turn, state.incident_id or 0, body)
    elif mode == "invite_name" and state is not None:
        await turn.clear_mode()
        await issue_invite(turn, Role(state.data["role"]), state.data["department"],
                           body.strip())
    elif mode == WRITING or (mode is None and turn.me.has(Role.EXECUTOR)
                             and not turn.me.has(Role.COORDINATOR)):
        n = await draft_target(turn)
        if n is None:
            return
        if not await add_to_draft(turn, n, body):
            return
        await send_preview(turn, n)
    elif turn.me.has(Role.COORDINATOR):  # a plain text is first asked about; a link is not
        await intake(turn, body, [], source="manual", url=None, author=None,
                     confirm=URL.search(body) is None)
    else:
        await turn.say(t.phrase("unknown_input"))


async def attach(turn: Turn, attachment: Attachment | None, unique_id: str,
                 media_group_id: str | None, caption: str | None,
                 settle_later: Callable[[str, Callable[[], Awaitable[object]]], None]) -> None:
    """A photo or document: part of the executor's draft, or of a post the coordinator sends.
    ``settle_later`` shows one preview once an album has stopped growing."""
    t = turn.templates
    mode = turn.chat_state.mode if turn.chat_state else None
    if mode == "signed_pdf" and turn.chat_state is not None:
        await signed_file(turn, turn.chat_state.incident_id or 0, attachment)
        return
    if mode is None and attachment is not None and attachment.kind == "document":
        # A PDF sent without the button, while exactly one letter waits for it.
        waiting = await turn.app.letters.to_sign(turn.me)
        if len(waiting) == 1 and (attachment.file_name or "").lower().endswith(".pdf"):
            await signed_file(turn, waiting[0], attachment)
            return
    if mode != WRITING and turn.me.has(Role.COORDINATOR):
        await intake(turn, caption or "", [attachment] if attachment else [],
                     source="manual", url=None, author=None, media_group_id=media_group_id)
        return
    if mode not in (WRITING, None) or not turn.me.has(Role.EXECUTOR):
        await turn.say(t.phrase("unknown_input"))
        return
    n = await draft_target(turn)
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
        await add_to_draft(turn, n, caption)
    file_id = attachment.file_id
    settle_later(f"draft:{turn.platform}:{turn.me.id}:{n}",
                 lambda: preview_if_newest(turn, n, file_id))


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
