"""Issue 11, finding 5: names carrying terminal escapes never reach the terminal raw."""

from __future__ import annotations

from pathlib import Path

import pytest

from assay.cli._safe import printable

EVIL = "\x1b]0;owned\x07\x1b[2J\x1b[31mana\x1b[0m\x9b1m\u202e"


@pytest.mark.parametrize(
    ("raw", "shown"),
    [
        (EVIL, "ana"),
        ("\x1b]8;;http://evil.example\x1b\\link\x1b]8;;\x1b\\", "link"),
        ("line one\nline\ttwo", "line one\nline\ttwo"),
        ("\x1bP+q\x1b\\ok\x7f\x00", "ok"),
        ("flood\u2066-2026\u2069", "flood-2026"),
    ],
)
def test_printable_strips_escapes_and_controls(raw: str, shown: str) -> None:
    assert printable(raw) == shown


def test_audit_log_and_errors_show_names_cleaned(cli, tmp_path: Path, samples) -> None:  # type: ignore[no-untyped-def]
    ws = tmp_path / "ws"
    cli("init", ws)
    hostile = {"ASSAY_ACTOR": f"user:{EVIL}"}
    cli("-w", ws, "ingest", samples.text(f"report{EVIL}.txt"), env=hostile)
    cli("-w", ws, "dataset", "create", f"flood{EVIL}", env=hostile, code=None)
    out = cli("-w", ws, "audit", "log").stdout
    assert "user:ana" in out and "ingest" in out
    assert not any(ch in out for ch in "\x1b\x07\x9b\u202e")
    # The JSON keeps the data as it was written (escaped, so still safe to print).
    events = cli("-w", ws, "audit", "log", "--json").json()
    assert events[1]["actor"] == f"user:{EVIL}"
    for args in (("show", f"nothing{EVIL}"), ("user", "passwd", EVIL, "--password", "x" * 9)):
        err = cli("-w", ws, *args, code=1).stderr
        assert "error: " in err and not any(ch in err for ch in "\x1b\x07\x9b\u202e")
    assert "\x1b" not in cli("-w", ws, "audit", "log", "--json").stdout


def test_markup_in_data_makes_no_hyperlink() -> None:
    import io

    from rich.table import Table

    from assay.cli._safe import SafeConsole

    out = io.StringIO()
    console = SafeConsole(file=out, force_terminal=True, width=120)
    table = Table("actor")
    table.add_row("[link=http://evil.example]user:ana[/link]")
    console.print(table)
    console.print("[bold]kept[/] [link=http://evil.example]x[/link]")
    text = out.getvalue()
    assert "user:ana" in text and "\x1b[1m" in text  # styling still works
    assert "evil.example" not in text and "\x1b]8" not in text
