-- The command menu each Telegram chat was last given (bot/usecases/onboarding.py), with the
-- bot that gave it: a start sends a person's menu only when it changed, not every menu on
-- every restart. Forgotten when the chat is found unreachable.
CREATE TABLE command_menus (
    chat_id INTEGER PRIMARY KEY,
    menu    TEXT NOT NULL
);
