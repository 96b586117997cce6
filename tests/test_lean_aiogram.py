"""aiogram's types and methods are built when first used (bot/lean_aiogram.py), and built the
same.

Each check runs in a fresh interpreter: what it looks at is what happens at import."""

from __future__ import annotations

import subprocess
import sys
import textwrap

CHECK = textwrap.dedent("""
    import sys
    import typing
    import bot  # noqa: F401 - installs the deferral before aiogram is imported
    import pydantic
    from aiogram import methods, types
    from aiogram.methods.base import Response

    models = [getattr(types, n) for n in types.__all__]
    models = [m for m in models if isinstance(m, type) and issubclass(m, pydantic.BaseModel)]
    assert len(models) > 300, len(models)
    built = [m.__name__ for m in models if m.__pydantic_complete__]
    assert built == [], built  # none built at import

    # every field's annotation of every type resolves in the module that declares it, as
    # pydantic will resolve it when the type is first used
    fields = 0
    for m in models:
        for owner in m.__mro__:
            module = sys.modules[owner.__module__].__dict__
            for name, annotation in owner.__dict__.get("__annotations__", {}).items():
                if name in m.model_fields:
                    if isinstance(annotation, str):
                        annotation = typing.ForwardRef(annotation)
                    typing._eval_type(annotation, module, None)
                    fields += 1
    assert fields > 1000, fields

    # the methods too: none built at import, each field's annotation resolves in its module
    calls = [getattr(methods, n) for n in methods.__all__]
    calls = [m for m in calls if isinstance(m, type) and issubclass(m, methods.TelegramMethod)
             and m is not methods.TelegramMethod]
    assert len(calls) > 150, len(calls)
    built = [m.__name__ for m in calls if m.__pydantic_complete__]
    assert built == [], built
    fields = 0
    for m in calls:
        module = sys.modules[m.__module__].__dict__
        for name, annotation in m.__dict__.get("__annotations__", {}).items():
            if name in m.model_fields:
                typing._eval_type(typing.ForwardRef(annotation) if isinstance(annotation, str)
                                  else annotation, module, None)
                fields += 1
    assert fields > 1000, fields

    update = types.Update.model_validate({
        "update_id": 7,
        "callback_query": {
            "id": "q1", "chat_instance": "c", "data": "take:5",
            "from": {"id": 11, "is_bot": False, "first_name": "Мария"},
            "message": {"message_id": 3, "date": 1700000000, "text": "Инцидент №5",
                        "chat": {"id": 11, "type": "private"},
                        "reply_markup": {"inline_keyboard": [[
                            {"text": "Взять", "callback_data": "take:5"}]]}}}})
    q = update.callback_query
    assert (q.data, q.from_user.first_name, q.message.chat.id) == ("take:5", "Мария", 11)
    assert q.message.reply_markup.inline_keyboard[0][0].callback_data == "take:5"
    assert update.event_type == "callback_query"

    sent = Response[types.Message].model_validate({"ok": True, "result": {
        "message_id": 9, "date": 1700000000, "chat": {"id": 11, "type": "private"},
        "text": "ok", "entities": [{"type": "bold", "offset": 0, "length": 2}]}})
    assert sent.result.entities[0].type == "bold"
    call = methods.SendMessage(chat_id=11, text="x", reply_markup=types.InlineKeyboardMarkup(
        inline_keyboard=[[types.InlineKeyboardButton(text="a", callback_data="b")]]))
    assert call.reply_markup.inline_keyboard[0][0].text == "a"
    assert methods.SendMessage.__pydantic_complete__  # built when first used
    try:
        methods.SendMessage(chat_id=11)
    except pydantic.ValidationError as e:
        assert "text" in str(e)
    else:
        raise AssertionError("a message without its text was accepted")
    try:
        types.Message.model_validate({"message_id": "not a number", "date": 0,
                                      "chat": {"id": 1, "type": "private"}})
    except pydantic.ValidationError as e:
        assert "message_id" in str(e)
    else:
        raise AssertionError("a wrong message was accepted")
    print("ok")
""")


def _run(code: str) -> str:
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=120, check=False)
    assert done.returncode == 0, done.stderr
    return done.stdout.strip()


def test_the_types_are_deferred_at_import_and_validate_when_used() -> None:
    assert _run(CHECK) == "ok"


def test_aiogram_imported_first_is_left_as_it_was() -> None:
    code = ("import aiogram.types as t, aiogram.methods as m, bot\n"
            "print(t.Message.__pydantic_complete__, t.Update.__pydantic_complete__,"
            " m.SendMessage.__pydantic_complete__)")
    assert _run(code) == "True True True"
