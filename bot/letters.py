"""The answer letter of the Governor's networks (002 3.12.6): a DOCX made from the wording in
``templates/letter.toml`` with python-docx, for the executor to print, sign and scan."""

from __future__ import annotations

import tomllib
from datetime import datetime
from importlib import resources
from pathlib import Path
from typing import Any

import jinja2

# python-docx (and lxml, 10 MiB) is imported when a letter is made, not when the bot starts.

DOCX_MIME = "application/vnd.openxmlformats-officedocument.wordprocessingml.document"
PDF_MIME = "application/pdf"


def wording() -> dict[str, str]:
    raw = resources.files("templates").joinpath("letter.toml").read_text(encoding="utf-8")
    return tomllib.loads(raw)


def render_parts(context: dict[str, Any]) -> dict[str, str]:
    """Each part of the letter rendered from its jinja2 template (plain text)."""
    env = jinja2.Environment(autoescape=False, undefined=jinja2.StrictUndefined)
    return {key: env.from_string(value).render(**context).strip()
            for key, value in wording().items()}


def letter_context(*, incident: Any, text: str, executor: str, department: str,
                   at: datetime) -> dict[str, Any]:
    return {"incident": incident, "text": text, "author": incident.author or "",
            "executor": executor, "department": department, "date": at.strftime("%d.%m.%Y"),
            "number": f"{incident.id}-{at:%Y}"}


def make_letter(target: Path, *, incident: Any, text: str, executor: str, department: str,
                at: datetime) -> Path:
    """Write the letter to ``target`` (a .docx file) and return its path."""
    from docx import Document
    from docx.enum.text import WD_ALIGN_PARAGRAPH
    from docx.shared import Pt

    parts = render_parts(letter_context(incident=incident, text=text, executor=executor,
                                        department=department, at=at))
    doc = Document()
    style = doc.styles["Normal"]
    style.font.name = "Times New Roman"
    style.font.size = Pt(14)

    def paragraph(value: str, *, align: int | None = None, bold: bool = False,
                  size: int | None = None) -> None:
        p = doc.add_paragraph()
        p.alignment = WD_ALIGN_PARAGRAPH.LEFT if align is None else align
        run = p.add_run(value)
        run.bold = bold
        if size:
            run.font.size = Pt(size)

    paragraph(parts["addressee"], align=WD_ALIGN_PARAGRAPH.RIGHT, bold=True)
    paragraph(parts["addressee_note"], align=WD_ALIGN_PARAGRAPH.RIGHT, size=11)
    paragraph(parts["number"])
    paragraph(parts["title"], align=WD_ALIGN_PARAGRAPH.CENTER, bold=True)
    paragraph(parts["greeting"], align=WD_ALIGN_PARAGRAPH.CENTER)
    for piece in (text or "").split("\n"):
        if piece.strip():
            paragraph(piece.strip(), align=WD_ALIGN_PARAGRAPH.JUSTIFY)
    paragraph(parts["closing"])
    paragraph(parts["signatory"])
    paragraph(parts["signature_line"])
    paragraph(parts["executor"], size=10)
    target.parent.mkdir(parents=True, exist_ok=True)
    doc.save(str(target))
    return target


def letter_text(path: Path) -> str:
    """The letter's paragraphs as plain text (for checks and the transcript)."""
    from docx import Document

    return "\n".join(p.text for p in Document(str(path)).paragraphs)


def is_pdf(path: str | None, name: str | None, mime: str | None) -> bool:
    """A PDF by its type or name and by its first bytes (``%PDF``)."""
    if mime != PDF_MIME and not (name or "").lower().endswith(".pdf"):
        return False
    if not path:
        return False
    try:
        with open(path, "rb") as f:
            return f.read(5).startswith(b"%PDF")
    except OSError:
        return False
