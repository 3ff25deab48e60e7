"""Files of the same recording (issue 13, point 2): a re-encoded or truncated copy is found by its
Chromaprint fingerprint during a real scan, keeps the ratings of the music, is never recommended
twice, and a rating survives converting the file and deleting the original."""

import json
import shutil
import sqlite3

import numpy as np
import pytest
import soundfile as sf

from prefrec import fingerprint
from tests.helpers import cli, cli_json, invoke

pytestmark = pytest.mark.skipif(not fingerprint.available(), reason="needs libchromaprint (Debian: libchromaprint1)")


# -- the fingerprint itself ------------------------------------------------------------------------


def test_bit_error_rate_finds_the_best_alignment_and_needs_an_overlap():
    rng = np.random.default_rng(0)
    a = [int(x) for x in rng.integers(0, 2**32, 200, dtype=np.uint64)]
    noisy = [x ^ (1 << int(rng.integers(32))) if rng.uniform() < 0.5 else x for x in a]  # ~1.6% of bits
    assert fingerprint.bit_error_rate(a, a) == 0.0
    assert fingerprint.bit_error_rate(a[5:], a) == 0.0  # shifted by 5 items (0.6 s)
    assert 0.01 < fingerprint.bit_error_rate(a, noisy) < 0.02 and fingerprint.same_recording(a, noisy)
    assert fingerprint.bit_error_rate(a[:60], a) == 0.0  # a copy cut short matches the start
    other = [int(x) for x in rng.integers(0, 2**32, 200, dtype=np.uint64)]
    assert fingerprint.bit_error_rate(a, other) > 0.4 and not fingerprint.same_recording(a, other)
    assert fingerprint.bit_error_rate(a[:10], a) == 1.0  # too short to say
    assert fingerprint.bit_error_rate(a[40:], a, max_shift=16) > 0.4  # beyond the shifts tried
    assert len(set(fingerprint.keys(a)) & set(fingerprint.keys(noisy))) >= 3
    assert not set(fingerprint.keys(a)) & set(fingerprint.keys(other))
    assert fingerprint.keys([7] * 100) == fingerprint.keys([7])  # a run of one item (silence) is one key


def test_chromaprint_hears_a_resampled_copy_as_the_same_recording_and_other_music_not():
    from prefrec.synth import render

    def fp(samples, rate):
        f = fingerprint.Fingerprinter(rate)
        for start in range(0, samples.shape[0], rate * 10):  # fed in 10 s blocks, as analysis streams
            f.feed(samples[start:start + rate * 10].astype(np.float32))
        return fingerprint.items(f.finish())

    music = render("plucks", 11, 40.0, rate=22050)
    lead_in = np.concatenate([np.zeros(22050 * 2, dtype=np.float32), music])  # 2 s of silence first
    quieter = (0.5 * music).astype(np.float32)
    other = render("plucks", 12, 40.0, rate=22050)
    a = fp(music, 22050)
    assert 200 < len(a) < 300  # about 8 items a second for FINGERPRINT_S = 30 s
    assert fingerprint.bit_error_rate(a, fp(lead_in, 22050)) < 0.05  # leading silence is skipped
    assert fingerprint.bit_error_rate(a, fp(quieter, 22050)) < 0.05
    assert fingerprint.bit_error_rate(a, fp(other, 22050)) > 0.25
    assert fingerprint.Fingerprinter(22050).finish() is None  # nothing fed: no fingerprint
    silent = fingerprint.Fingerprinter(22050)
    silent.feed(np.zeros(22050 * 5, dtype=np.float32))
    assert silent.finish() is None


# -- copies in a scanned library ---------------------------------------------------------------------


@pytest.fixture(scope="module")
def copies(tmp_path_factory):
    """Four tracks (two pieces of plucks, two of drums), an ogg re-encode of the first, and an ogg
    copy of the second cut short mid-file: six files, too few to pretrain on (fast), scanned:
    (music dir, home dir, tracks, re-encode, cut copy)."""
    from prefrec.synth import write_library

    base = tmp_path_factory.mktemp("copies")
    music, home = base / "music", base / "home"
    tracks = write_library(music, ["plucks", "drums"], 2, seed=5, min_s=20, max_s=30)
    (music / "converted").mkdir()
    reencoded = music / "converted" / "first.ogg"
    samples, rate = sf.read(tracks[0].path, dtype="float32")
    sf.write(reencoded, samples, rate, format="OGG", subtype="VORBIS")
    whole = base / "second.ogg"
    samples, rate = sf.read(tracks[1].path, dtype="float32")
    sf.write(whole, samples, rate, format="OGG", subtype="VORBIS")
    cut = music / "converted" / "second-cut.ogg"
    cut.write_bytes(whole.read_bytes()[: whole.stat().st_size * 6 // 10])
    cli(home, "scan", str(music))
    return music, home, tracks, reencoded, cut


@pytest.fixture
def lib(copies, tmp_path):
    music, home, tracks, reencoded, cut = copies
    private = tmp_path / "home"
    shutil.copytree(home, private)
    return music, private, tracks, reencoded, cut


def _listed(home, *args):
    return {i["path"]: i for i in cli_json(home, "list", "--json", *args)}


def test_a_scan_groups_a_reencoded_and_a_truncated_copy_with_their_originals_and_nothing_else(lib):
    music, home, tracks, reencoded, cut = lib
    listed = _listed(home)
    assert len(listed) == 6
    assert listed[str(reencoded)]["copies"] == listed[str(tracks[0].path)]["copies"] == 1
    assert listed[str(cut)]["copies"] == listed[str(tracks[1].path)]["copies"] == 1
    assert listed[str(cut)]["duration"] < listed[str(tracks[1].path)]["duration"] - 5
    assert all(listed[str(t.path)]["copies"] == 0 for t in tracks[2:])  # other music (even of one style) is other
    assert cli_json(home, "status", "--json")["copies"] == 2
    # searching names each piece of music once
    found = cli_json(home, "search", "--json", tracks[0].title)
    assert [i["path"] for i in found].count(str(tracks[0].path)) + [i["path"] for i in found].count(
        str(reencoded)) == 1


def test_a_rating_follows_the_music_to_its_other_files_and_survives_converting(lib):
    music, home, tracks, reencoded, cut = lib
    cli(home, "like", str(tracks[0].path))
    cli(home, "skip", str(tracks[2].path))
    listed = _listed(home)
    assert listed[str(reencoded)]["rating"] == "like"  # the ogg copy counts as liked
    proc = cli(home, "like", str(reencoded))
    assert "already liked through another file of it" in proc.stderr
    proc = cli(home, "skip", str(reencoded))
    assert "reverses your earlier like of it" in proc.stderr
    cli(home, "like", str(reencoded))
    cli(home, "train")
    recs = cli_json(home, "recommend", "--json", "-n", "20")
    paths = [r["path"] for r in recs]
    assert str(reencoded) not in paths and str(tracks[0].path) not in paths  # rated music is not recommended
    # the second piece of music once, as its whole file, never as the copy cut short
    assert str(tracks[1].path) in paths and str(cut) not in paths
    assert len(paths) == len(set(paths)) == 2  # 4 pieces of music in 6 files, 2 rated
    # the original is converted away: the like stays with the ogg
    tracks[0].path.rename(tracks[0].path.with_suffix(".bak"))
    try:
        cli(home, "scan", str(music))
        assert _listed(home)[str(reencoded)]["rating"] == "like"
        cli(home, "train")
        status = cli_json(home, "status", "--json")
        assert status["likes"] == 1 and status["model"]["rated_tracks"] == 2
        assert str(reencoded) not in [r["path"] for r in cli_json(home, "recommend", "--json")]
        code, out, _ = invoke(home, "explain", str(reencoded))
        assert code == 0 and "you liked it" in out
    finally:
        tracks[0].path.with_suffix(".bak").rename(tracks[0].path)


def test_forgetting_a_copy_withdraws_the_rating_of_every_file_and_bans_follow_the_music(lib):
    music, home, tracks, reencoded, cut = lib
    cli(home, "like", str(tracks[0].path))
    proc = cli(home, "forget", str(reencoded))
    assert "forgot that you liked it" in proc.stderr
    assert _listed(home)[str(tracks[0].path)]["rating"] is None
    cli(home, "ban", str(cut))
    starter = [r["path"] for r in cli_json(home, "recommend", "--json", "-n", "20")]
    assert str(tracks[1].path) not in starter and str(cut) not in starter  # banned through its copy
    cli(home, "unban", str(tracks[1].path))  # lifted through the other file
    starter = [r["path"] for r in cli_json(home, "recommend", "--json", "-n", "20")]
    assert str(tracks[1].path) in starter and str(cut) not in starter


def test_a_library_scanned_before_fingerprints_gets_them_on_the_next_scan(lib):
    music, home, tracks, reencoded, cut = lib
    conn = sqlite3.connect(home / "prefrec.sqlite")
    conn.execute("DELETE FROM recordings")
    conn.execute("DELETE FROM fingerprint_keys")
    conn.commit()
    conn.close()
    assert cli_json(home, "status", "--json")["copies"] == 0
    report = json.loads(cli(home, "scan", "--json", str(music)).stdout)
    assert report["analysed"] == 6 and cli_json(home, "status", "--json")["copies"] == 2
    assert json.loads(cli(home, "scan", "--json", str(music)).stdout)["analysed"] == 0
