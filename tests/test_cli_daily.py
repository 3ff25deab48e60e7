"""The commands a listener uses daily (issue 6), in-process on a trained library: explain's
timeline/plot/clip/similar, recommend's playlist/diversity/exploration/filters, bans, forget,
history, finding tracks, and the command-line conventions (real processes where terminals,
streams or imports are the point)."""

import json
import os
import pty
import shutil
import subprocess
import sys

import numpy as np
import pytest

from prefrec.service.queries import pick_diverse
from prefrec.store import Ranked, Track
from tests.helpers import ROOT, by_style, cli, cli_json, feedback_rows, read_terminal, run_cli

_by_style = by_style


@pytest.fixture
def home(trained):
    """A private copy of the trained data dir (2 plucks liked, 2 wind skipped, one at 0:05): (home, tracks)."""
    _, home, tracks = trained
    return home, tracks


def _feedback(home):
    """(kind, path) of every feedback event, oldest first."""
    return [(kind, path) for _, path, kind, _ in feedback_rows(home)]


# -- 1. explain ----------------------------------------------------------------------------------


def test_explain_names_the_closest_rated_tracks_with_their_ratings(home):
    home, tracks = home
    seed = _by_style(tracks, "plucks")[-1]  # unrated
    data = cli_json(home, "explain", str(seed.path), "--json")
    rated = {str(t.path): kind for kind, style in (("like", "plucks"), ("skip", "wind"))
             for t in _by_style(tracks, style)[:2]}
    similar = data["similar_rated"]
    assert len(similar) == 3
    assert all(s["path"] in rated and s["rating"] == rated[s["path"]] for s in similar), similar
    assert similar[0]["rating"] == "like"  # a plucks track's nearest rated neighbour is a liked plucks track
    assert [s["similarity"] for s in similar] == sorted((s["similarity"] for s in similar), reverse=True)
    out = cli(home, "explain", str(seed.path)).stdout
    assert "closest rated tracks:" in out and "(you liked it)" in out
    assert f"rank {data['rank']} of" in out and f"score {data['score']:.3f}" in out


def test_explain_plot_draws_scores_above_the_spectrogram_with_the_best_segment_marked(home, tmp_path):
    from matplotlib.image import imread

    from prefrec.explain import BEST_COLOR

    home, tracks = home
    target = _by_style(tracks, "chiptune")[0]
    png = tmp_path / "plot.png"
    proc = cli(home, "explain", str(target.path), "--plot", str(png))
    assert "plot written to" in proc.stderr and "best segments:" in proc.stdout
    data = cli_json(home, "explain", str(target.path), "--json")
    image = imread(png)  # float RGBA [rows, cols, 4] in 0..1
    assert image.shape[:2] == (600, 1000)
    rgb = np.round(image[:, :, :3] * 255).astype(int)
    marker = np.array([int(BEST_COLOR[i:i + 2], 16) for i in (1, 3, 5)])
    hits = np.all(np.abs(rgb - marker) <= 2, axis=2)
    rows, cols = np.nonzero(hits)
    assert rows.size > 100, "the best segment is marked"
    # marked on both panels: in the upper (scores) and the lower (MFCC) half
    assert (rows < 300).sum() > 50 and (rows > 330).sum() > 50
    # two vertical edges 8 s apart on a time axis that spans the track: solving
    # x = left + t / duration * width for both edges gives a plausible plot area
    edges = np.unique(cols)
    groups = np.split(edges, np.nonzero(np.diff(edges) > 3)[0] + 1)
    assert len(groups) == 2, groups
    x1, x2 = (g.mean() for g in groups)
    best = data["best"][0]
    width = (x2 - x1) * data["duration"] / (best["end"] - best["start"])
    left = x1 - best["start"] / data["duration"] * width
    assert 0 < left < 250 and 600 < width < 1000 and left + width <= 1000, (left, width)
    # the lower panel is an image with many colours (the spectrogram), not an empty axis
    lower = rgb[380:560, int(left) + 5:int(left + width) - 5].reshape(-1, 3)
    assert len(np.unique(lower, axis=0)) > 50


def test_explain_plot_writes_a_pdf_and_refuses_unknown_extensions(home, tmp_path):
    home, tracks = home
    pdf = tmp_path / "plot.pdf"
    cli(home, "explain", str(tracks[0].path), "--plot", str(pdf))
    assert pdf.read_bytes().startswith(b"%PDF-")
    svg = tmp_path / "plot.svg"
    cli(home, "explain", str(tracks[0].path), "--plot", str(svg))
    assert b"<svg" in svg.read_bytes()[:1000]
    proc = cli(home, "explain", str(tracks[0].path), "--plot", str(tmp_path / "plot.jpg"), check=False)
    assert proc.returncode == 2 and "--plot" in proc.stderr and ".png, .pdf or .svg" in proc.stderr
    assert proc.stdout == "" and not (tmp_path / "plot.jpg").exists()


def test_the_plot_marks_the_skip_labels_its_axes_and_no_two_labels_collide():
    from prefrec.explain import Segment, explanation_figure

    rng = np.random.default_rng(0)
    duration = 245.0
    windows = [(float(i), i + 8.0, float(np.clip(0.5 + 0.4 * np.sin(i / 20) + rng.normal(0, 0.05), 0, 1)))
               for i in range(int(duration) - 7)]
    spectrogram = rng.normal(-40, 10, size=(64, int(duration * 50))).astype(np.float32)
    fig = explanation_figure(windows=windows, spectrogram=spectrogram, best=Segment(31.0, 39.0, 0.9),
                             title="Artist – A Rather Long Title (Remastered Edition, 2011)", skip_at_s=84.0,
                             duration_s=duration)
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    canvas = FigureCanvasAgg(fig)
    canvas.draw()
    renderer = canvas.get_renderer()
    from matplotlib.text import Text

    texts = [t for t in fig.findobj(Text) if t.get_visible() and t.get_text().strip()]
    labels = [t.get_text() for t in texts]
    assert "you skipped at 1:24" in labels and "best 0:31–0:39 (0.90)" in labels and "level (dB)" in labels
    assert "frequency (Hz, mel scale)" in labels and "time (m:ss)" in labels and "4:00" in labels
    assert len(fig.axes) == 3  # the curve, the spectrogram and its colour bar
    boxes = [(t.get_text(), t.get_window_extent(renderer)) for t in texts]
    for i, (a, box_a) in enumerate(boxes):
        for b, box_b in boxes[i + 1:]:
            assert not box_a.overlaps(box_b), (a, b)


def test_explain_plot_without_matplotlib_says_how_to_install_it(home, tmp_path):
    home, tracks = home
    hide = tmp_path / "hide"
    hide.mkdir()
    (hide / "matplotlib.py").write_text("raise ImportError('matplotlib is hidden for this test')\n")
    env = {**os.environ, "PYTHONPATH": f"{hide}{os.pathsep}{ROOT}", "NO_COLOR": "1"}
    png = tmp_path / "plot.png"
    proc = subprocess.run([sys.executable, "-m", "prefrec", "--home", str(home), "explain",
                           str(tracks[0].path), "--plot", str(png)], capture_output=True, text=True, env=env)
    assert proc.returncode == 1
    assert "pip install 'prefrec[plot]'" in proc.stderr and "Traceback" not in proc.stderr
    assert not png.exists()


def test_explain_clip_cuts_the_best_8_seconds_out_of_the_original_at_its_own_quality(home, tmp_path):
    import soundfile as sf

    home, tracks = home
    target = _by_style(tracks, "drums")[1]
    wav = tmp_path / "best.wav"
    proc = cli(home, "explain", str(target.path), "--clip", str(wav))
    assert "written to" in proc.stderr and str(wav) in proc.stderr and "original samples" in proc.stderr
    best = cli_json(home, "explain", str(target.path), "--json")["best"][0]
    clip, rate = sf.read(wav, dtype="float32", always_2d=True)
    source, source_rate = sf.read(target.path, dtype="float32", always_2d=True)
    info = sf.info(wav)
    # the source's own rate and channels (44.1 kHz FLAC), not the 22050 Hz mono of analysis
    assert info.format == "WAV" and rate == source_rate == 44100 and clip.shape[1] == source.shape[1]
    assert clip.shape[0] == round((best["end"] - best["start"]) * rate) == 8 * rate
    start = round(best["start"] * rate)
    assert np.max(np.abs(clip - source[start:start + clip.shape[0]])) < 1e-4  # 16-bit PCM: the same samples
    shift = int(0.37 * rate)  # not a whole number of beats
    other = start + shift if start + shift + clip.shape[0] <= source.shape[0] else start - shift
    assert np.max(np.abs(clip - source[other:other + clip.shape[0]])) > 0.05  # it is that segment
    flac = tmp_path / "best.flac"
    cli(home, "explain", str(target.path), "--clip", str(flac))
    assert sf.info(flac).samplerate == 44100 and np.array_equal(sf.read(flac, dtype="int16")[0],
                                                                sf.read(wav, dtype="int16")[0])


@pytest.mark.skipif(shutil.which("ffmpeg") is None, reason="needs ffmpeg")
def test_explain_clip_to_another_format_goes_through_ffmpeg_at_the_source_rate(home, tmp_path):
    import soundfile as sf

    home, tracks = home
    target = _by_style(tracks, "plucks")[3]
    ogg = tmp_path / "best.ogg"
    proc = cli(home, "explain", str(target.path), "--clip", str(ogg))
    assert "re-encoded from the original" in proc.stderr
    info = sf.info(ogg)
    assert info.samplerate == 44100 and abs(info.duration - 8.0) < 0.1
    proc = cli(home, "explain", str(target.path), "--clip", str(tmp_path / "best.xyz"), check=False)
    assert proc.returncode == 1 and "ffmpeg could not cut" in proc.stderr


def test_explain_colours_the_timeline_on_a_terminal_unless_no_color(home):
    home, tracks = home

    def on_terminal(extra_env):
        env = {k: v for k, v in os.environ.items() if k != "NO_COLOR"}
        env.update({"PYTHONPATH": str(ROOT), "TERM": "xterm-256color", **extra_env})
        main, child = pty.openpty()
        proc = subprocess.Popen([sys.executable, "-m", "prefrec", "--home", str(home), "explain",
                                 str(tracks[0].path)], stdout=child, stderr=subprocess.PIPE, env=env)
        os.close(child)
        output = read_terminal(main)
        assert proc.wait(timeout=60) == 0
        return output.decode()

    coloured = on_terminal({})
    assert "\x1b[38;5;" in coloured and "best segments:" in coloured
    plain = on_terminal({"NO_COLOR": "1"})
    assert "\x1b[" not in plain and "best segments:" in plain
    piped = cli(home, "explain", str(tracks[0].path)).stdout  # not a terminal
    assert "\x1b[" not in piped


# -- 2. recommend --------------------------------------------------------------------------------


def _track(i, artist, album):
    return Track(i, f"/m/{i}.flac", f"id{i}", f"t{i}", artist, album, 200.0, 10000, False, False)


def _capped_fairly(items, margin, *, cap=2, top=20):
    """Whether a list (best first) obeys the diversity rule: no item comes before one scoring more
    than `margin` above it, and an artist/album/folder beyond `cap` in the first `top` places only
    where every later track with room under the cap scores more than `margin` below it."""
    from prefrec.service.names import diversity_keys

    for i, a in enumerate(items):
        if any(b.score > a.score + margin for b in items[i + 1:]):
            return False
    counts = {}
    for i, r in enumerate(items[:top]):
        keys = diversity_keys(r.track)
        if any(counts.get(k, 0) >= cap for k in keys):
            room = [d for d in items[i + 1:] if all(counts.get(k, 0) < cap for k in diversity_keys(d.track))]
            if any(d.score >= r.score - margin for d in room):
                return False
        for k in keys:
            counts[k] = counts.get(k, 0) + 1
    return True


def test_diversity_spreads_artists_only_among_tracks_of_comparable_score():
    # 30 tracks by artist A (albums A0/A1) scoring 0.90..0.61, 30 by B0..B29 scoring 0.895..0.605
    ranked = [Ranked(0, 0.90 - i / 100, _track(i, "A", f"A{i % 2}")) for i in range(30)]
    ranked += [Ranked(0, 0.895 - i / 100, _track(100 + i, f"B{i}", f"B{i}")) for i in range(30)]
    ranked.sort(key=lambda r: -r.score)
    picked = pick_diverse(iter(ranked), 25, margin=0.1)
    assert [r.track.id for r in picked[:3]] == [0, 100, 1]  # two of A, then A waits…
    assert picked[3].track.id == 101 and _capped_fairly(picked, 0.1)
    # …but only while others within 0.1 of it remain: A's third track (0.88) comes before 0.775
    third = [i for i, r in enumerate(picked) if r.track.id == 2][0]
    assert all(r.score >= 0.88 - 0.1 for r in picked[:third])
    # disliked music is never lifted above liked music: 10 liked pads, then drums far below
    pads = [Ranked(0, 0.95 - i / 1000, _track(i, "Pads", "Pads")) for i in range(10)]
    drums = [Ranked(0, 0.09 - i / 1000, _track(100 + i, f"Drums {i}", f"Drums {i}")) for i in range(10)]
    picked = pick_diverse(iter(pads + drums), 8, margin=0.1)
    assert [r.track.artist for r in picked] == ["Pads"] * 8
    # too few artists to obey the rule: it gives way rather than shortening the list
    few = pick_diverse(iter(ranked[:10]), 10)
    assert len(few) == 10
    # albums count too, and untagged files count by folder
    mixed = [Ranked(0, 0.9, _track(1, "X", "Same")), Ranked(0, 0.89, _track(2, "Y", "same")),
             Ranked(0, 0.88, _track(3, "Z", "SAME")), Ranked(0, 0.87, _track(4, "W", "Other"))]
    assert [r.track.id for r in pick_diverse(iter(mixed), 4)] == [1, 2, 4, 3]
    loose = [Ranked(0, 0.9 - i / 100, Track(i, f"/m/{'a' if i < 3 else 'b'}/{i}.ogg", f"id{i}", f"t{i}", None, None,
                                            200.0, 10000, False, False)) for i in range(5)]
    assert [r.track.id for r in pick_diverse(iter(loose), 5)] == [0, 1, 3, 4, 2]


def test_diversity_never_promotes_a_track_over_a_clearly_better_one():
    rng = np.random.default_rng(5)
    for _ in range(200):
        n = int(rng.integers(5, 60))
        ranked = sorted((Ranked(0, float(rng.uniform()), _track(i, f"a{rng.integers(4)}", f"b{rng.integers(6)}"))
                         for i in range(n)), key=lambda r: -r.score)
        margin = float(rng.choice([0.0, 0.05, 0.1, 0.3]))
        picked = pick_diverse(iter(ranked), n, margin=margin)
        assert sorted(r.track.id for r in picked) == sorted(r.track.id for r in ranked)
        assert _capped_fairly(picked, margin + 1e-12)


def test_recommend_spreads_artists_without_lifting_low_scores(home):
    home, tracks = home
    plain = cli_json(home, "recommend", "--json", "-n", "16", "--no-diversify")
    diverse = cli_json(home, "recommend", "--json", "-n", "16")
    assert sorted(r["path"] for r in plain) == sorted(r["path"] for r in diverse)  # 16 unrated in all
    assert [r["score"] for r in plain] == sorted((r["score"] for r in plain), reverse=True)
    score_of = {r["path"]: r["score"] for r in plain}
    assert all(r["score"] == score_of[r["path"]] for r in diverse)  # the score is never re-ordered
    assert [r["rank"] for r in diverse] == list(range(1, 17))
    as_ranked = [Ranked(r["rank"], r["score"], Track(0, r["path"], r["path"], r["title"], r["artist"], r["album"],
                                                     r["duration"], 10000, False, False)) for r in diverse]
    assert _capped_fairly(as_ranked, 0.1 + 1e-6)


def test_explore_mixes_in_the_least_certain_tracks_marked_as_such(home):
    home, _ = home
    everything = cli_json(home, "recommend", "--json", "-n", "100", "--no-diversify")
    recs = cli_json(home, "recommend", "--json", "-n", "8", "--explore", "0.25", "--no-diversify")
    explore = [r for r in recs if r["explore"]]
    base = [r for r in recs if not r["explore"]]
    assert len(recs) == 8 and len(explore) == 2
    assert [r["path"] for r in base] == [r["path"] for r in everything[:6]]  # the best 6 by score
    rest = [r for r in everything if r["path"] not in {b["path"] for b in base}]
    most_unsure = sorted(rest, key=lambda r: -r["spread"])[:2]
    assert {r["path"] for r in explore} == {r["path"] for r in most_unsure}
    assert all(not r["explore"] for r in recs[:2])  # spread through the list, not on top
    # spread is the std of the window scores explain shows; score stays their mean
    windows = [w["score"] for w in cli_json(home, "explain", explore[0]["path"], "--json")["windows"]]
    assert explore[0]["spread"] == pytest.approx(float(np.std(windows)), abs=1e-4)
    assert explore[0]["score"] == pytest.approx(float(np.mean(windows)), abs=1e-4)
    text = cli(home, "recommend", "-n", "8", "--explore", "0.25").stdout
    assert text.count("[explore: the model is unsure]") == 2
    m3u = cli(home, "recommend", "-n", "8", "--explore", "0.25", "--m3u").stdout.splitlines()
    assert sum(line.startswith("# explore") for line in m3u) == 2
    bad = cli(home, "recommend", "--explore", "1.5", check=False)
    assert bad.returncode == 2 and bad.stdout == ""


def test_recommend_filters_by_artist_album_and_duration(home):
    home, tracks = home
    everything = cli_json(home, "recommend", "--json", "-n", "100")
    nylon = cli_json(home, "recommend", "--json", "-n", "100", "--artist", "NYLON")
    assert nylon and {r["artist"] for r in nylon} == {"Nylon Strings"}
    assert len(nylon) == sum(r["artist"] == "Nylon Strings" for r in everything)
    album = everything[0]["album"]
    by_album = cli_json(home, "recommend", "--json", "-n", "100", "--album", album.lower())
    assert by_album and {r["album"] for r in by_album} == {album}
    durations = sorted(r["duration"] for r in everything)
    cut = (durations[len(durations) // 2 - 1] + durations[len(durations) // 2]) / 2
    long = cli_json(home, "recommend", "--json", "-n", "100", "--min-duration", f"{cut:.4f}")
    short = cli_json(home, "recommend", "--json", "-n", "100", "--max-duration", f"{cut:.4f}")
    assert long and all(r["duration"] >= cut for r in long)
    assert short and all(r["duration"] <= cut for r in short)
    assert len(long) + len(short) == len(everything)
    assert len(cli_json(home, "recommend", "--json", "-n", "100", "--max-duration", "0:30")) == len(everything)
    assert cli_json(home, "recommend", "--json", "--min-duration", "1:00") == []
    none = cli(home, "recommend", "--artist", "no such artist")
    assert none.stdout == "" and "filters" in none.stderr
    assert cli(home, "recommend", "--min-duration", "abc", check=False).returncode == 2


def test_m3u_is_a_valid_extended_playlist(home):
    home, _ = home
    recs = cli_json(home, "recommend", "--json", "-n", "5")
    lines = cli(home, "recommend", "--m3u", "-n", "5").stdout.splitlines()
    assert lines[0] == "#EXTM3U"
    entries = []
    for i, line in enumerate(lines[1:], start=1):
        if line.startswith("#EXTINF:"):
            seconds, name = line[len("#EXTINF:"):].split(",", 1)
            entries.append((int(seconds), name, lines[i + 1]))
        else:
            assert line.startswith("#") or (lines[i - 1].startswith("#EXTINF:") and os.path.isabs(line))
    assert [(round(r["duration"]), f"{r['artist']} - {r['title']}", r["path"]) for r in recs] == entries


# -- 3. control ----------------------------------------------------------------------------------


def test_ban_artist_album_and_track_keep_them_out_until_unbanned(home):
    home, tracks = home
    paths = lambda: {r["path"] for r in cli_json(home, "recommend", "--json", "-n", "100")}  # noqa: E731
    before = paths()
    proc = cli(home, "ban", "--artist", "pixel")  # part of a name, any case
    assert proc.stdout == "" and "banned artist" in proc.stderr
    chip = {str(t.path) for t in _by_style(tracks, "chiptune")}
    assert chip <= before and not chip & paths()
    drums = _by_style(tracks, "drums")
    cli(home, "ban", "--album", drums[0].album)
    cli(home, "ban", "Plucks Study 5")
    after = paths()
    assert not {str(t.path) for t in drums if t.album == drums[0].album} & after
    assert not any("Plucks Study 5" in p for p in after)
    listed = cli_json(home, "ban", "--json")
    assert [(b["kind"], b["name"]) for b in listed] == [("artist", "Pixel Fox"), ("album", drums[0].album),
                                                        ("track", "Nylon Strings – Plucks Study 5")]
    assert "banned (artist Pixel Fox)" in cli(home, "explain", str(_by_style(tracks, "chiptune")[0].path)).stdout
    cli(home, "unban", "--artist", "Pixel Fox")
    cli(home, "unban", "--album", drums[0].album)
    cli(home, "unban", "Plucks Study 5")
    assert paths() == before and cli_json(home, "ban", "--json") == []
    again = cli(home, "unban", "--artist", "Pixel Fox", check=False)
    assert again.returncode == 1 and "not banned" in again.stderr


def test_ban_names_must_be_known_and_unambiguous(home):
    home, _ = home
    unknown = cli(home, "ban", "--artist", "nobody at all", check=False)
    assert unknown.returncode == 1 and "no artist" in unknown.stderr
    ambiguous = cli(home, "ban", "--album", "sessions", check=False)
    assert ambiguous.returncode == 2 and "1. Chiptune Sessions 1" in ambiguous.stderr
    both = cli(home, "ban", "Plucks Study 5", "--artist", "Pixel Fox", check=False)
    assert both.returncode == 2
    assert cli_json(home, "ban", "--json") == []


def test_forget_withdraws_a_rating_as_an_event_and_history_lists_it(home):
    home, tracks = home
    liked = _by_style(tracks, "plucks")[0]
    before = cli_json(home, "status", "--json")
    proc = cli(home, "forget", str(liked.path))
    assert proc.stdout == "" and "forgot that you liked it" in proc.stderr
    rows = _feedback(home)
    assert len(rows) == 5 and rows[-1] == ("forget", str(liked.path))  # appended, nothing deleted
    status = cli_json(home, "status", "--json")
    assert status["likes"] == before["likes"] - 1 and status["model"]["stale"]
    assert str(liked.path) in {r["path"] for r in cli_json(home, "recommend", "--json", "-n", "100")}
    again = cli(home, "forget", str(liked.path))
    assert "nothing to forget" in again.stderr and len(_feedback(home)) == 5
    events = cli_json(home, "history", "--json", "-n", "3")
    assert [e["kind"] for e in events] == ["forget", "skip", "skip"]
    assert events[0]["path"] == str(liked.path) and events[0]["title"] == liked.title
    assert events[1]["at"] is None and events[2]["at"] == 5.0
    text = cli(home, "history").stdout.splitlines()
    assert len(text) == 5 and "forget" in text[0] and "at 0:05" in text[2] and "cli" in text[0]
    assert "(withdrawn)" in text[-1] and [e["withdrawn"] for e in events] == [False, False, False]


# -- 4. finding tracks ---------------------------------------------------------------------------


def test_words_match_case_and_accent_insensitively_across_title_artist_album_and_file(home, tmp_path):
    from prefrec.store import Store

    home, tracks = home
    target = _by_style(tracks, "wind")[3]
    with Store(home / "prefrec.sqlite") as store:  # give it an accented title, as tags may
        store.record_analysed([{**_row(store, str(target.path)), "title": "Wínd Étude Ñ"}])
    proc = cli(home, "skip", "wind etude n")
    assert "Wínd Étude Ñ" in proc.stderr
    cli(home, "like", "ÉTUDE north SHORE")  # title + artist words, other case and accents
    cli(home, "like", "chiptune sessions 2 study 4")  # album words + title
    assert [k for k, _ in _feedback(home)[-3:]] == ["skip", "like", "like"]
    assert _feedback(home)[-2][1] == str(target.path)
    ambiguous = cli(home, "like", "chiptune study", check=False)
    assert ambiguous.returncode == 2 and ambiguous.stdout == ""
    assert "  1. Pixel Fox – Chiptune Study" in ambiguous.stderr


def _row(store, path):
    cols = ["path", "identity", "title", "artist", "album", "duration_s", "n_frames", "truncated", "size",
            "mtime_ns", "feature_version"]
    values = store.conn.execute(f"SELECT {', '.join(cols)} FROM tracks WHERE path = ?", (path,)).fetchone()
    return dict(zip(cols, values))


def test_shell_completion_is_installable_and_completes_commands(tmp_path):
    env = {**os.environ, "PYTHONPATH": str(ROOT), "HOME": str(tmp_path)}
    # typer detects the shell from the parent process; `; true` keeps bash from exec-ing python
    script = subprocess.run(["bash", "-c", f"'{sys.executable}' -m prefrec --show-completion; true"],
                            capture_output=True, text=True, env=env)
    assert "complete " in script.stdout and "_PREFREC_COMPLETE" in script.stdout, script.stderr
    install = subprocess.run(["bash", "-c", f"'{sys.executable}' -m prefrec --install-completion; true"],
                             capture_output=True, text=True, env=env)
    assert "completion installed" in install.stdout, install.stderr
    assert "prefrec" in (tmp_path / ".bashrc").read_text()
    done = subprocess.run([sys.executable, "-m", "prefrec"], capture_output=True, text=True,
                          env={**env, "_PREFREC_COMPLETE": "complete_bash", "COMP_WORDS": "prefrec hist",
                               "COMP_CWORD": "1"})
    assert done.stdout.split() == ["history"]


# -- 5. conventions ------------------------------------------------------------------------------


def test_every_command_has_help_with_an_example_and_exit_codes_are_documented():
    from prefrec.cli import app

    names = [c.name or c.callback.__name__ for c in app.registered_commands]
    assert {"ban", "unban", "forget", "history", "explain", "recommend"} <= set(names)
    for name in names:
        ran = cli(None, name, "--help")
        assert f"Example: prefrec {name}" in ran.stdout, (name, ran.stdout)
    top = run_cli(None, "--help")  # the console script's own exit and output
    assert "Exit codes: 0 success; 1 error" in " ".join(top.stdout.split())
    readme = (ROOT / "README.md").read_text()
    assert "| 2 |" in readme and "| 130 |" in readme


def test_data_goes_to_stdout_messages_to_stderr(home):
    home, tracks = home
    like = run_cli(home, "like", str(_by_style(tracks, "drums")[4].path))
    assert like.stdout == "" and "liked" in like.stderr
    recs = run_cli(home, "recommend", "--json")
    json.loads(recs.stdout)
    assert recs.stderr == ""
    history = run_cli(home, "history", "-n", "1")
    assert "like" in history.stdout and history.stderr == ""
    usage = run_cli(home, "recommend", "--bogus", check=False)
    assert usage.returncode == 2 and usage.stdout == "" and "--bogus" in usage.stderr


def test_verbose_shows_a_traceback_otherwise_one_line(home):
    home, _ = home
    quiet = cli(home, "explain", "no such track at all", check=False)
    assert quiet.returncode == 1 and "Traceback" not in quiet.stderr
    assert quiet.stderr.strip().splitlines() == ["prefrec: no track matches 'no such track at all'; try other "
                                                 "words or a path (`prefrec search WORDS` browses the library)"]
    loud = cli(home, "-v", "explain", "no such track at all", check=False)
    assert loud.returncode == 1 and "Traceback" in loud.stderr and "UnknownTrack" in loud.stderr
