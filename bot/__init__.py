from bot.lean_aiogram import install as _lean_aiogram

_lean_aiogram()  # before anything of the bot imports aiogram: its types built when first used
