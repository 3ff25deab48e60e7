"""Output that cannot be hijacked: tags and file names holding escape sequences (ESC, OSC, CSI),
carriage returns, bells and NULs are printed escaped by every text output, and an M3U playlist
never lets a file name start a line of its own."""

from __future__ import annotations

import shutil
import unicodedata

import pytest

from tests.helpers import cli, db_rows

# A clear-screen, a window title (OSC ... BEL), a hyperlink, a colour, a carriage return that
# would overwrite the line, a NUL, a C1 CSI, and a right-to-left override.
EVIL_NAME = "evil \x1b[2J\x1b]0;pwned\x07 \r\u202etxt.flac"
EVIL_TAGS = {"title": "Red \x1b[31mAlert\x1b[0m\rOVERWRITTEN\x00 Study",
             "artist": "\x1b]8;;https://example.invalid\x07Link\x1b]8;;\x07 Artist",
             "album": "Album \x9b2J\x1bc Sessions"}
NEWLINE_NAME = "two\nlines.flac"


def write_synth(path, style, tags):
    """A 12 s generated track of `style` at `path` (FLAC) with `tags`."""
    import soundfile as sf
    from mutagen.flac import FLAC

    from prefrec.synth import render

    path.parent.mkdir(parents=True, exist_ok=True)
    sf.write(path, render(style, 97, 12.0), 22050, format="FLAC")
    meta = FLAC(path)
    for key, value in tags.items():
        meta[key] = value
    meta.save()


def raw_controls(text: str) -> list[str]:
    """Control characters (other than the newline ending each line) and bidi overrides in `text`."""
    return sorted({repr(c) for c in text if c != "\n" and (unicodedata.category(c) == "Cc" or c in "\u202a\u202b"
                                                           "\u202c\u202d\u202e\u2066\u2067\u2068\u2069")})


@pytest.fixture(scope="module")
def evil_library(scanned_library, tmp_path_factory):
    """The test library plus three files with hostile names and tags, analysed and ranked, one of
    the two evil ones liked: (home, the liked evil file, the file with a line break in its name)."""
    music, home, tracks = scanned_library
    base = tmp_path_factory.mktemp("evil")
    evil_music, evil_home = base / "music", base / "home"
    shutil.copytree(home, evil_home)
    evil = evil_music / EVIL_NAME
    # three different recordings (ratings follow a recording: a copy of a rated one counts as rated)
    for path, style, tags in ((evil, "pads", EVIL_TAGS), (evil.with_name("2 " + EVIL_NAME), "drums", EVIL_TAGS),
                              (evil_music / NEWLINE_NAME, "chiptune", {})):  # the first is rated below
        write_synth(path, style, tags)
    (evil_music / "broken \x1b[2J\r.mp3").write_text("<html>not audio</html>\n" * 40)
    cli(evil_home, "scan", "--no-train", music, evil_music)
    cli(evil_home, "like", str(evil))
    cli(evil_home, "like", str(music / "Nylon Strings" / "Plucks Sessions 2" / "02 Plucks Study 2.flac"))
    cli(evil_home, "skip", str(music / "North Shore" / "Wind Sessions 1" / "01 Wind Study 1.flac"))
    cli(evil_home, "train", env={"PREFREC_TRAIN_MAX_EPOCHS": "2"})
    return evil_home, evil, evil_music / NEWLINE_NAME


@pytest.mark.parametrize("args", [
    ["recommend", "-n", "30"], ["recommend", "--explore", "0.5"], ["explain", "EVIL"], ["explain", "NEWLINE"],
    ["history"], ["status"], ["similar", "EVIL", "-n", "30"], ["similar", "NEWLINE", "-n", "30"], ["like", "EVIL"],
    ["forget", "EVIL"], ["ban", "EVIL"], ["ban", "--artist", "link artist"],
    ["like", "red"],  # ambiguous: the candidates (both evil tracks) are listed
    ["like", "no such \x1b]0;title\x07 song\r"],  # unknown: what was typed is echoed back
    ["explain", "EVIL", "--plot", "/nonexistent/\x1b[2J.png"],
])
def test_tags_and_names_with_control_characters_are_printed_escaped(evil_library, tmp_path, args):
    home, evil, newline = evil_library
    private = tmp_path / "home"
    shutil.copytree(home, private)
    argv = [str(evil) if a == "EVIL" else str(newline) if a == "NEWLINE" else a for a in args]
    ran = cli(private, *argv, check=False)
    assert ran.returncode in (0, 1, 2)
    assert raw_controls(ran.stdout) == [] and raw_controls(ran.stderr) == [], (ran.stdout, ran.stderr)
    shown = ran.stdout + ran.stderr
    if args[0] in ("recommend", "similar", "history") or args[-1] == "red":
        assert "\\x1b" in shown  # the evil track was listed, escaped
    if args[0] == "status":
        assert "broken \\x1b[2J\\x0d.mp3" in shown


def test_json_output_escapes_them_too(evil_library):
    home, evil, _ = evil_library
    for args in (["recommend", "--json", "-n", "30"], ["explain", str(evil), "--json"], ["history", "--json"],
                 ["status", "--json"], ["similar", str(evil), "--json"]):
        ran = cli(home, *args)
        assert raw_controls(ran.stdout) == []
        assert EVIL_NAME in ran.stdout.encode().decode("unicode_escape", errors="ignore") or "\\u001b" in ran.stdout


def test_an_m3u_playlist_never_lets_a_file_name_start_a_line(evil_library):
    home, evil, newline = evil_library
    ran = cli(home, "recommend", "--m3u", "-n", "30")
    entries = [line for line in ran.stdout.splitlines() if not line.startswith("#")]
    # a line feed or a carriage return in a name would start an entry of its own: left out, and said so
    assert ran.stderr.count("left out of the playlist") == 2
    assert "two\\x0alines.flac (its name has a line break)" in ran.stderr
    assert "2 evil \\x1b[2J\\x1b]0;pwned\\x07 \\x0d" in ran.stderr
    (present,), = db_rows(home, "SELECT count(DISTINCT identity) FROM tracks WHERE gone = 0")
    assert len(entries) == present - 3 - 2  # every unrated track but the two
    assert all(line.startswith("/") and line.endswith(".flac") for line in entries)
    assert raw_controls(ran.stdout) == []
