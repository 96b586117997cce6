"""The web board's pages (jinja2, ``*.html``): a package only so that the wheel names it as one
(see pyproject.toml); :mod:`bot.board.routes` reads the files."""
