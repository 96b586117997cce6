"""Posts a coordinator sends become incidents: the source and the category asked with
buttons (the likely categories first), and the possible complaints a source found."""

from __future__ import annotations

import json
import re
from typing import Any

from bot import possible
from handlers.flows.turn import BadButton, Press, Turn, in_rows, on
from workflows.model import (
    Attachment,
    Button,
    Sighting,
)
from workflows.sources import PICKABLE, source_from_url

URL = re.compile(r"https?://\S+")


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
        rows = in_rows([Button("src", n, key,
                                label=turn.templates.phrase_raw("source_buttons", key))
                         for key in PICKABLE]) + rows
    return rows


@on("src")
async def _intake_source(turn: Turn, press: Press) -> None:
    """A source picked for a post sent by hand: kept, then the category is asked."""
    n = press.incident
    if press.value not in PICKABLE:
        raise BadButton(press.value)
    if (row := await _own_intake(turn, n)) is None:
        return
    await turn.app.intake.set_source(n, press.value)
    t = turn.templates
    turn.toast = " "
    await turn.say(t.phrase("pick_category_for", source=t.phrase_raw("sources", press.value)),
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


@on("intake_yes")
async def _intake_yes(turn: Turn, press: Press) -> None:
    n = press.incident
    row = await _own_intake(turn, n)
    if row is None:
        return
    turn.toast = " "
    ask = row["source"] == "manual"
    await turn.say(turn.templates.phrase("pick_source_category" if ask else "pick_category"),
                   _category_rows(turn, n, row["text"], ask_source=ask))


@on("intake_no")
async def _intake_no(turn: Turn, press: Press) -> None:
    n = press.incident
    if await _own_intake(turn, n) is None:
        return
    await turn.app.intake.drop(n)
    turn.toast = turn.templates.phrase("aborted")
    await turn.say(turn.templates.phrase("intake_dropped"))


def _att_dict(a: Attachment) -> dict[str, str | None]:
    return {"kind": a.kind, "file_id": a.file_id, "file_name": a.file_name,
            "mime_type": a.mime_type, "local_path": a.local_path}


@on("cat")
async def _category(turn: Turn, press: Press) -> None:
    """The coordinator picked the category of a post they sent: register it."""
    n = press.incident
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
    category, _, sub = press.value.partition("/")
    subcategories = turn.app.config.subcategories.get(category, ())
    if category not in turn.app.config.categories or (sub and not (
            sub.isdigit() and int(sub) < len(subcategories))):
        raise BadButton(press.value)
    if subcategories and not sub:  # the subcategory is chosen with the category
        turn.toast = " "
        await turn.say(t.phrase("pick_subcategory", category=turn.app.config.categories[
            category].name), in_rows([Button("cat", n, f"{category}/{i}", label=name)
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


@on("pc")
async def _possible_decide(turn: Turn, press: Press) -> None:
    """A category (registers the message) or «Не инцидент» for a possible complaint."""
    n = press.incident
    result = await possible.decide(turn.app.intake, turn.me, n, press.value)
    if not result.ok and result.code == "possible_done":
        turn.toast, turn.alert = turn.templates.phrase_raw("detection", "possible_done"), True
        return
    ok = turn.templates.phrase_raw("detection", "dismissed") if result.code == "dismissed" \
        else ""
    turn.answer(result, result.incident.id if result.incident else n, ok=ok)


@on("pc_show", "pc_more")
async def _possible_show(turn: Turn, press: Press) -> None:
    """The possible complaint again (``pc_more``: with every category, not only the likely)."""
    n = press.incident
    code = await possible.show(turn.app.intake, turn.me, n, every=press.action == "pc_more")
    if code == "possible_done":
        turn.toast, turn.alert = turn.templates.phrase_raw("detection", "possible_done"), True
    elif code:
        turn.toast, turn.alert = turn.templates.refusal(code, n=n), True
    else:
        turn.toast = " "

