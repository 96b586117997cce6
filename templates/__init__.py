"""All wording of Otklik: jinja2 message templates (``*.html``) and ``texts.toml``.

A package only so that it is installed with the code (see pyproject.toml); ``bot.templates``
reads the files.
"""
