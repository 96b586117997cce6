"""The conversations of Otklik, the same on every platform.

A front end (Telegram, VK) turns an update into a :class:`Turn` — who is writing, from which
chat, in which mode — and calls :func:`press` for a button, :func:`text` for a message,
:func:`attach` for a photo or document. The flows call the use cases and answer through
the outbox on the turn's platform; the answer to a button press (a short toast, or the
reason it was refused) is left on the turn for the front end to show its own way.

One module per part of the conversation; each button's handler is registered with
:func:`handlers.flows.turn.on` and takes the turn and the :class:`Press`.
"""

from handlers.flows.dispatch import attach, press, text
from handlers.flows.intake import intake
from handlers.flows.invitations import start
from handlers.flows.turn import Press, Turn

__all__ = ["Press", "Turn", "attach", "intake", "press", "start", "text"]
