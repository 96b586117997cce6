"""The VK community chat: executors and coordinators working from VK with the same flows
as in Telegram (``handlers.flows``).

- :mod:`handlers.vk.render` draws Otklik's messages as ``messages.send`` calls (plain text,
  inline callback keyboards, files to upload) — the notifier's ``Channel`` for ``"vk"``;
- :mod:`handlers.vk.chat` turns Bots Long Poll events (``message_new``, ``message_event``)
  into calls of the flows, once per event;
- :mod:`handlers.vk.longpoll` polls the Bots Long Poll server and keeps its place;
- :mod:`handlers.vk.front` puts them together for the app (``bot.app``), which also runs
  the outbox sender for VK (``bot.vk_transport``).
"""
