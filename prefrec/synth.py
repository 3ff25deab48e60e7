"""Synthetic music in distinct styles, for the demo, the tests and the benchmarks.

Each style is a family of tracks that share instrumentation and rhythm but differ in key, tempo,
melody and length, so a model has to learn the style, not memorise a track. Deterministic for a
given seed. Pure numpy; `write_library` writes tagged FLAC files with soundfile and mutagen.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

RATE = 44100  # written at CD rate so analysis really resamples


def _note_hz(semitones_from_a4: float) -> float:
    return 440.0 * 2.0 ** (semitones_from_a4 / 12.0)


def _envelope(n: int, attack_s: float, decay_s: float, rate: int) -> np.ndarray:
    t = np.arange(n) / rate
    attack = np.clip(t / max(attack_s, 1e-4), 0.0, 1.0)
    return attack * np.exp(-t / max(decay_s, 1e-4))


def _harmonic(freq: float, n: int, rate: int, partials: tuple[float, ...], phase: float = 0.0) -> np.ndarray:
    t = np.arange(n) / rate
    out = np.zeros(n)
    for k, amp in enumerate(partials, start=1):
        if freq * k < rate / 2:
            out += amp * np.sin(2 * np.pi * freq * k * t + phase * k)
    return out


def _place(track: np.ndarray, sound: np.ndarray, start: int) -> None:
    end = min(len(track), start + len(sound))
    if start < end:
        track[start:end] += sound[: end - start]


SCALE = (0, 2, 3, 5, 7, 8, 10, 12)


def pads(rng: np.random.Generator, seconds: float, rate: int) -> np.ndarray:
    """Slow sustained chords with soft attacks and a gentle tremolo."""
    n = int(seconds * rate)
    out = np.zeros(n)
    root = rng.integers(-14, -4)
    chord_s = rng.uniform(2.5, 4.5)
    for start_s in np.arange(0, seconds, chord_s):
        degree = SCALE[rng.integers(0, 7)]
        length = int(min(chord_s * 1.3, seconds - start_s) * rate)
        chord = np.zeros(length)
        for interval in (0, 3 + rng.integers(0, 2), 7):
            chord += _harmonic(_note_hz(root + degree + interval), length, rate, (1.0, 0.4, 0.2, 0.1),
                               rng.uniform(0, 6.28))
        env = np.clip(np.arange(length) / (0.8 * rate), 0, 1) * np.clip((length - np.arange(length)) / (0.6 * rate), 0, 1)
        _place(out, chord * env, int(start_s * rate))
    t = np.arange(n) / rate
    return out * (1 + 0.2 * np.sin(2 * np.pi * rng.uniform(3, 6) * t))


def drums(rng: np.random.Generator, seconds: float, rate: int) -> np.ndarray:
    """A drum kit: kick, snare and hi-hats on a steady beat, no pitched instruments."""
    n = int(seconds * rate)
    out = np.zeros(n)
    beat = 60.0 / rng.uniform(95, 150)
    kick_n, snare_n, hat_n = int(0.25 * rate), int(0.18 * rate), int(0.05 * rate)
    t = np.arange(kick_n) / rate
    kick = np.sin(2 * np.pi * (45 * t + 90 * (1 - np.exp(-t * 30)) / 30)) * np.exp(-t * 12)
    snare_base = rng.standard_normal(snare_n) * np.exp(-np.arange(snare_n) / rate * 25)
    hat_base = np.diff(rng.standard_normal(hat_n + 1)) * np.exp(-np.arange(hat_n) / rate * 80)
    pattern = rng.integers(0, 2, 8)
    for i, start_s in enumerate(np.arange(0, seconds, beat / 2)):
        pos = int(start_s * rate)
        step = i % 8
        if step in (0, 4) or (pattern[step] and step % 2 == 0):
            _place(out, kick * 0.9, pos)
        if step in (2, 6):
            _place(out, snare_base * rng.uniform(0.4, 0.6), pos)
        _place(out, hat_base * rng.uniform(0.15, 0.3), pos)
    return out


def chiptune(rng: np.random.Generator, seconds: float, rate: int) -> np.ndarray:
    """Fast square-wave arpeggios over a square bass, like an 8-bit game."""
    n = int(seconds * rate)
    out = np.zeros(n)
    step_s = 60.0 / rng.uniform(130, 180) / 2
    root = rng.integers(-5, 5)
    for i, start_s in enumerate(np.arange(0, seconds, step_s)):
        length = int(step_s * rate)
        t = np.arange(length) / rate
        degree = SCALE[(i * 2 + rng.integers(0, 3)) % 8]
        lead = np.sign(np.sin(2 * np.pi * _note_hz(root + degree + 12) * t)) * 0.25
        bass = np.sign(np.sin(2 * np.pi * _note_hz(root - 24 + (0 if (i // 8) % 2 == 0 else 5)) * t)) * 0.2
        _place(out, (lead + bass) * np.exp(-t * 4), int(start_s * rate))
    return out


def plucks(rng: np.random.Generator, seconds: float, rate: int) -> np.ndarray:
    """Plucked-string melody: bright attacks that decay quickly, with space between notes."""
    n = int(seconds * rate)
    out = np.zeros(n)
    root = rng.integers(-12, 0)
    note_s = 60.0 / rng.uniform(70, 110)
    for start_s in np.arange(0, seconds, note_s):
        if rng.random() < 0.2:
            continue
        length = int(min(1.5, seconds - start_s) * rate)
        freq = _note_hz(root + SCALE[rng.integers(0, 8)])
        tone = _harmonic(freq, length, rate, (1.0, 0.6, 0.45, 0.3, 0.2, 0.12, 0.08))
        _place(out, tone * _envelope(length, 0.003, rng.uniform(0.25, 0.45), rate) * 0.5, int(start_s * rate))
    return out


def wind(rng: np.random.Generator, seconds: float, rate: int) -> np.ndarray:
    """Ambient wind: noise through a slowly sweeping resonant band, over a low drone."""
    n = int(seconds * rate)
    noise = rng.standard_normal(n)
    spectrum = np.fft.rfft(noise)
    freqs = np.fft.rfftfreq(n, 1 / rate)
    centre = rng.uniform(500, 1500)
    spectrum *= np.exp(-0.5 * ((np.log(np.maximum(freqs, 1)) - np.log(centre)) / 0.5) ** 2)
    band = np.fft.irfft(spectrum, n)
    band /= np.abs(band).max() + 1e-9
    t = np.arange(n) / rate
    swell = 0.5 + 0.5 * np.sin(2 * np.pi * rng.uniform(0.05, 0.15) * t + rng.uniform(0, 6.28))
    drone = _harmonic(_note_hz(rng.integers(-36, -28)), n, rate, (1.0, 0.5, 0.25))
    return band * swell * 0.6 + drone * 0.15


STYLES = {"pads": pads, "drums": drums, "chiptune": chiptune, "plucks": plucks, "wind": wind}
ARTISTS = {"pads": "Glass Choir", "drums": "Iron Kit", "chiptune": "Pixel Fox",
           "plucks": "Nylon Strings", "wind": "North Shore"}


def render(style: str, seed: int, seconds: float, *, rate: int = RATE) -> np.ndarray:
    """One track of `style`: float32 [seconds * rate] peak-normalised to 0.8, with a little noise."""
    rng = np.random.default_rng(seed)
    audio = STYLES[style](rng, seconds, rate)
    audio += rng.standard_normal(len(audio)) * 0.003
    fade = min(len(audio) // 4, int(0.05 * rate))
    audio[:fade] *= np.linspace(0, 1, fade)
    audio[len(audio) - fade :] *= np.linspace(1, 0, fade)
    return (audio / (np.abs(audio).max() + 1e-9) * 0.8).astype(np.float32)


@dataclass(frozen=True)
class SynthTrack:
    path: Path
    style: str
    title: str
    artist: str
    album: str
    seconds: float


def write_library(folder: Path, styles: list[str], per_style: int, *, seed: int = 0,
                  min_s: float = 30.0, max_s: float = 60.0, rate: int = RATE) -> list[SynthTrack]:
    """Write `per_style` tagged FLAC tracks of each style into folder/<artist>/<album>/.

    Returns the tracks written, in a deterministic order.
    """
    import soundfile as sf
    from mutagen.flac import FLAC

    rng = np.random.default_rng(seed)
    written = []
    for s_index, style in enumerate(styles):
        artist = ARTISTS[style]
        for i in range(per_style):
            album = f"{style.title()} Sessions {1 + i % 2}"
            title = f"{style.title()} Study {i + 1}"
            seconds = float(rng.uniform(min_s, max_s))
            track_seed = int(seed * 100003 + s_index * 1009 + i)
            path = Path(folder) / artist / album / f"{i + 1:02d} {title}.flac"
            path.parent.mkdir(parents=True, exist_ok=True)
            sf.write(path, render(style, track_seed, seconds, rate=rate), rate, format="FLAC")
            tags = FLAC(path)
            tags["title"], tags["artist"], tags["album"] = title, artist, album
            tags.save()
            written.append(SynthTrack(path, style, title, artist, album, seconds))
    return written


# -- two-instrument clips (seed 003, experiment 2: does the model hear order?) --------------------

def _flute_note(freq: float, n: int, rate: int, rng: np.random.Generator) -> np.ndarray:
    """A breathy sustained note: soft attack, vibrato, weak upper harmonics, a little air noise."""
    t = np.arange(n) / rate
    vibrato = 1.0 + 0.006 * np.sin(2 * np.pi * 5.5 * t)
    phase = 2 * np.pi * freq * np.cumsum(vibrato) / rate
    tone = np.sin(phase) + 0.15 * np.sin(2 * phase) + 0.05 * np.sin(3 * phase)
    env = np.clip(t / 0.12, 0, 1) * np.clip((n - np.arange(n)) / (0.08 * rate), 0, 1)
    return (tone + 0.04 * rng.standard_normal(n)) * env


def _guitar_note(freq: float, n: int, rate: int, rng: np.random.Generator) -> np.ndarray:
    """A plucked string: instant attack, fast decay, many harmonics that fade faster than the root."""
    t = np.arange(n) / rate
    out = np.zeros(n)
    for k in range(1, 12):
        if freq * k < rate / 2:
            out += (0.8 ** k) * np.sin(2 * np.pi * freq * k * t + rng.uniform(0, 6.28)) * np.exp(-t * (2.0 + 0.8 * k))
    return out * np.clip(t / 0.003, 0, 1)


INSTRUMENTS = {"A": _flute_note, "B": _guitar_note}


def instrument_clip(sequence: str, seed: int, *, gap_s: float = 1.2, note_s: float = 2.0,
                    start_s: float = 1.0, seconds: float = 8.0, rate: int = 22050) -> np.ndarray:
    """An 8 s clip of single notes, e.g. sequence "AB": instrument A (flute-like) from start_s for
    note_s, then `gap_s` of silence, then instrument B (plucked string). "" gives near-silence.
    Pitches are drawn per clip from a scale, so only the instruments and their order are constant.
    Returns float32 [seconds * rate] at `rate` Hz, peak 0.8 (plus faint noise)."""
    rng = np.random.default_rng(seed)
    n = int(seconds * rate)
    audio = rng.standard_normal(n) * 0.002
    note = int(note_s * rate)
    at = int(start_s * rate)
    for name in sequence:
        freq = _note_hz(float(SCALE[rng.integers(0, len(SCALE))]) + rng.integers(-12, 1))
        _place(audio, INSTRUMENTS[name](freq, note, rate, rng), at)
        at += note + int(round(gap_s * rate))
    return (audio / (np.abs(audio).max() + 1e-9) * 0.8).astype(np.float32)
