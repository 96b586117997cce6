"""What a person asks to do with an incident, typed: one small command per action, carrying
what the regulation says the action needs from the person (``workflows.regulation``).

A front end builds the command from a press and what was typed (a date is parsed there, in
the deployment's time zone); ``Service.act`` runs it. Nothing is packed into strings.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import ClassVar

from workflows.model import Priority
from workflows.regulation import Action


@dataclass(frozen=True, slots=True)
class Take:
    action: ClassVar[Action] = Action.TAKE


@dataclass(frozen=True, slots=True)
class Decline:
    """«Не наша компетенция»: back to the coordinator with the executor's reason."""

    reason: str
    action: ClassVar[Action] = Action.DECLINE


@dataclass(frozen=True, slots=True)
class Contact:
    """«Связался с заявителем»: the executor's note of the call (002 3.12.4)."""

    note: str
    action: ClassVar[Action] = Action.CONTACT


@dataclass(frozen=True, slots=True)
class Submit:
    """The executor's saved draft goes for approval."""

    action: ClassVar[Action] = Action.SUBMIT


@dataclass(frozen=True, slots=True)
class Approve:
    """``status``: the result status of a final answer, where the policy wants one."""

    status: str | None = None
    action: ClassVar[Action] = Action.APPROVE


@dataclass(frozen=True, slots=True)
class EditApprove:
    """Approve with the coordinator's own wording."""

    text: str
    status: str | None = None
    action: ClassVar[Action] = Action.EDIT_APPROVE


@dataclass(frozen=True, slots=True)
class Return:
    """«На доработку»: the reason reaches the executor word for word."""

    reason: str
    action: ClassVar[Action] = Action.RETURN


@dataclass(frozen=True, slots=True)
class Publish:
    """«Опубликовано»: the approved answer is out."""

    action: ClassVar[Action] = Action.PUBLISH


@dataclass(frozen=True, slots=True)
class Close:
    action: ClassVar[Action] = Action.CLOSE


@dataclass(frozen=True, slots=True)
class Reopen:
    reason: str
    action: ClassVar[Action] = Action.REOPEN


@dataclass(frozen=True, slots=True)
class Reject:
    """Not an incident (spam, flood, no question to answer)."""

    reason: str
    action: ClassVar[Action] = Action.REJECT


@dataclass(frozen=True, slots=True)
class Redirect:
    """To another body, typed by the coordinator, with an optional note."""

    to: str
    note: str = ""
    action: ClassVar[Action] = Action.REDIRECT


@dataclass(frozen=True, slots=True)
class RedirectTo:
    """To an organisation of the config (``[[organisations]]``), by its key."""

    organisation: str
    action: ClassVar[Action] = Action.REDIRECT


@dataclass(frozen=True, slots=True)
class Reassign:
    """Give it to ``executor_id`` (a new incident without an executor: its assignment)."""

    executor_id: int
    action: ClassVar[Action] = Action.REASSIGN


@dataclass(frozen=True, slots=True)
class HeadAssign:
    """The head of the department picks the executor (002 3.12.3)."""

    executor_id: int
    action: ClassVar[Action] = Action.HEAD_ASSIGN


@dataclass(frozen=True, slots=True)
class SetPriority:
    """``due``: the deadline an urgent request names (none for the others)."""

    priority: Priority
    due: datetime | None = None
    action: ClassVar[Action] = Action.SET_PRIORITY


@dataclass(frozen=True, slots=True)
class Extend:
    """Move the answer deadline to ``due``, with a reason."""

    due: datetime
    reason: str
    action: ClassVar[Action] = Action.EXTEND


@dataclass(frozen=True, slots=True)
class PlatformDue:
    """The platform's own deadline, typed by the coordinator."""

    due: datetime
    action: ClassVar[Action] = Action.PLATFORM_DUE


@dataclass(frozen=True, slots=True)
class ChangeSource:
    source: str
    action: ClassVar[Action] = Action.SOURCE


@dataclass(frozen=True, slots=True)
class ChangePolicy:
    policy: str
    action: ClassVar[Action] = Action.POLICY


@dataclass(frozen=True, slots=True)
class Recategorize:
    """The coordinator corrects the category; the department follows it."""

    category: str
    action: ClassVar[Action] = Action.CATEGORY


@dataclass(frozen=True, slots=True)
class FirstResponse:
    """The primary answer naming the deadline is published (002 3.6)."""

    action: ClassVar[Action] = Action.FIRST_RESPONSE


@dataclass(frozen=True, slots=True)
class Remind:
    action: ClassVar[Action] = Action.REMIND


@dataclass(frozen=True, slots=True)
class Merge:
    """«Объединить»: the complaint joins the problem whose lead is ``problem_id``."""

    problem_id: int
    action: ClassVar[Action] = Action.MERGE


@dataclass(frozen=True, slots=True)
class Unmerge:
    """«Разъединить»: the complaint is its own incident again."""

    action: ClassVar[Action] = Action.UNMERGE


Command = (Take | Decline | Contact | Submit | Approve | EditApprove | Return | Publish | Close
           | Reopen | Reject | Redirect | RedirectTo | Reassign | HeadAssign | SetPriority
           | Extend | PlatformDue | ChangeSource | ChangePolicy | Recategorize | FirstResponse
           | Remind | Merge | Unmerge)
