"""``otklik deadline`` in-process: the Governor's 18:00 at least four hours ahead, the config
found by itself, and the shortened pre-holiday days a deadline runs through."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.cli import main

ROOT = Path(__file__).resolve().parent.parent
EXAMPLE = (ROOT / "config.example.toml").read_text(encoding="utf-8")


def deadline(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, list[str], str]:
    code = main(["deadline", *args])
    out, err = capsys.readouterr()
    return code, out.splitlines(), err


@pytest.fixture
def elsewhere(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A working directory without otklik.toml."""
    monkeypatch.chdir(tmp_path)
    return tmp_path


def test_governor_post_at_17_59_is_due_tomorrow_at_18(
        elsewhere: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = deadline(capsys, "--policy", "governor", "--at", "2026-11-20 17:59")
    assert code == 0, err
    assert out == ["first_response: —", "answer: 2026-11-21 18:00"]
    assert "built-in policies" in err
    # Four hours or more before 18:00: the same day.
    code, out, _ = deadline(capsys, "--policy", "governor", "--at", "2026-11-20 14:00")
    assert out == ["first_response: —", "answer: 2026-11-20 18:00"]


def test_otklik_toml_in_the_working_directory_is_used(
        elsewhere: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (elsewhere / "otklik.toml").write_text(
        EXAMPLE.replace('min_time = "4h"', 'min_time = "1h"', 1), encoding="utf-8")
    code, out, err = deadline(capsys, "--policy", "governor", "--at", "2026-11-20 16:30")
    assert code == 0, err
    assert out == ["first_response: —", "answer: 2026-11-20 18:00"]
    assert "built-in" not in err
    # --config still wins.
    code, out, _ = deadline(capsys, "--config", str(ROOT / "config.example.toml"),
                            "--policy", "governor", "--at", "2026-11-20 16:30")
    assert out == ["first_response: —", "answer: 2026-11-21 18:00"]


def test_a_deadline_across_a_shortened_day_says_so(
        elsewhere: Path, capsys: pytest.CaptureFixture[str]) -> None:
    # Monday 2 November 2026 16:00: 1 working hour on Monday, then Tuesday the 3rd, the day
    # before Unity Day, which ends at 16:00 instead of 17:00: 7 more hours end at 15:00.
    code, out, err = deadline(capsys, "--policy", "incident_management",
                              "--at", "2026-11-02 16:00")
    assert code == 0, err
    assert out == ["first_response: 2026-11-02 17:00", "answer: 2026-11-03 15:00",
                   "shortened: 2026-11-03 (until 16:00)"]
    # A fast track of 4 working hours from Tuesday 14:00: 2 on Tuesday, 2 on Thursday.
    code, out, _ = deadline(capsys, "--policy", "incident_management", "--priority",
                            "fast_track", "--at", "2026-11-03 14:00")
    assert out == ["first_response: 2026-11-03 15:00", "answer: 2026-11-05 10:00",
                   "shortened: 2026-11-03 (until 16:00)"]
    # The ПОС day, 08:30–17:30, ends at 16:30: 6.5 hours on Tuesday, 1.5 on Thursday.
    code, out, _ = deadline(capsys, "--policy", "pos", "--at", "2026-11-03 10:00")
    assert out == ["first_response: —", "answer: 2026-11-05 10:00",
                   "shortened: 2026-11-03 (until 16:30)"]


def test_no_shortened_line_when_the_clock_does_not_run_through_one(
        elsewhere: Path, capsys: pytest.CaptureFixture[str]) -> None:
    # Registered after the short Tuesday has ended: the clock starts on Thursday.
    code, out, _ = deadline(capsys, "--policy", "incident_management",
                            "--at", "2026-11-03 16:30")
    assert out == ["first_response: 2026-11-05 09:00", "answer: 2026-11-05 16:00"]
    # The Governor's networks are worked every day, in full.
    code, out, _ = deadline(capsys, "--policy", "governor", "--at", "2026-11-03 15:00")
    assert out == ["first_response: —", "answer: 2026-11-04 18:00"]
    # 30 December 2026 comes before a transferred day off, not a holiday: a full day.
    code, out, _ = deadline(capsys, "--policy", "incident_management",
                            "--at", "2026-12-30 09:00")
    assert out == ["first_response: 2026-12-30 10:00", "answer: 2026-12-30 17:00"]


def test_bad_input_to_deadline_is_explained(
        elsewhere: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = deadline(capsys, "--policy", "nope", "--at", "2026-11-20 16:00")
    assert code == 2 and out == [] and "unknown policy 'nope'" in err and "governor" in err
    code, out, err = deadline(capsys, "--policy", "governor", "--at", "20.11.2026")
    assert code == 2 and out == [] and "YYYY-MM-DD HH:MM" in err
    (elsewhere / "otklik.toml").write_text("timezone = 1\n", encoding="utf-8")
    code, out, err = deadline(capsys, "--policy", "governor", "--at", "2026-11-20 16:00")
    assert code == 2 and out == [] and "otklik.toml" in err
