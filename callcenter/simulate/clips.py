"""The callers' voices: 8 kHz mu-law WAV clips (read and written here without `wave`,
which knows only PCM), the shipped demo clips by mood, and their synthesis with flite
(used by `scripts/make_demo_audio` only)."""

from __future__ import annotations

import struct
import subprocess
import tempfile
import wave
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

from callcenter.media.codecs import pcm16_to_ulaw

SAMPLE_RATE = 8000
FRAME_SAMPLES = 160  # 20 ms, the frame Twilio Media Streams and the L16 socket carry
MULAW_SILENCE = b"\xff"  # mu-law code of 0
WAVE_FORMAT_MULAW = 7
PAUSE_SECONDS = 1.0  # between the sentences of a clip: each becomes its own utterance

# What the demo callers say after a greeting, two sentences a clip, by mood: lines that
# flite speaks and the bundled PocketSphinx model hears well enough for their mood to
# survive transcription (the angry ones carry cues the sentiment lexicon knows: "on hold
# for an hour", "cancel"). The greeting comes first because a leg's first utterance is
# heard worst (the recogniser's normalisation is still settling).
GREETING = "hello"
LINES: dict[str, tuple[tuple[str, str], ...]] = {
    "angry": (
        ("i have been on hold for an hour this is terrible", "i want to cancel my account"),
        (
            "this is ridiculous i am very angry",
            "i am still waiting for my refund this is unacceptable",
        ),
    ),
    "neutral": (
        ("hello i am calling about my bill", "i have a question about my order"),
        ("i would like to change my address", "i moved to a new apartment"),
    ),
    "happy": (
        ("thank you so much that was really helpful", "i really appreciate your help"),
        ("you were very helpful thank you", "excellent thank you for your help"),
    ),
}
MOODS = tuple(LINES)


class ClipError(Exception):
    def __init__(self, path: str, reason: str) -> None:
        super().__init__(path, reason)
        self.path = path
        self.reason = reason

    def __str__(self) -> str:
        return f"{self.path}: {self.reason}"


@dataclass(frozen=True, slots=True)
class Clip:
    """One caller line: its name (`angry-1`), mood and 8 kHz mu-law audio."""

    name: str
    mood: str
    mulaw: bytes

    @property
    def seconds(self) -> float:
        return len(self.mulaw) / SAMPLE_RATE

    def frames(self) -> list[bytes]:
        """20 ms frames; the last is padded with silence."""
        data = self.mulaw
        if len(data) % FRAME_SAMPLES:
            data += MULAW_SILENCE * (FRAME_SAMPLES - len(data) % FRAME_SAMPLES)
        return [data[i : i + FRAME_SAMPLES] for i in range(0, len(data), FRAME_SAMPLES)]


def encode_mulaw_wav(mulaw: bytes) -> bytes:
    """A WAVE file (format 7, mu-law, 8 kHz mono, with the `fact` chunk it requires)."""
    fmt = struct.pack("<HHIIHHH", WAVE_FORMAT_MULAW, 1, SAMPLE_RATE, SAMPLE_RATE, 1, 8, 0)
    body = b"WAVE"
    body += b"fmt " + struct.pack("<I", len(fmt)) + fmt
    body += b"fact" + struct.pack("<II", 4, len(mulaw))
    body += b"data" + struct.pack("<I", len(mulaw)) + mulaw + (b"\x00" if len(mulaw) % 2 else b"")
    return b"RIFF" + struct.pack("<I", len(body)) + body


def decode_mulaw_wav(data: bytes, name: str) -> bytes:
    """The mu-law samples of an 8 kHz mono mu-law WAVE file; raises ClipError otherwise."""
    if len(data) < 12 or data[:4] != b"RIFF" or data[8:12] != b"WAVE":
        raise ClipError(name, "not a RIFF/WAVE file")
    fmt, samples = _format_and_samples(data)
    if fmt is None or samples is None:
        raise ClipError(name, "no fmt or data chunk")
    tag, channels, rate = fmt[0], fmt[1], fmt[2]
    if (tag, channels, rate) != (WAVE_FORMAT_MULAW, 1, SAMPLE_RATE):
        raise ClipError(
            name, f"expected mu-law 8 kHz mono, got format {tag}, {channels} ch, {rate} Hz"
        )
    return samples


def _format_and_samples(data: bytes) -> tuple[tuple[int, ...] | None, bytes | None]:
    """The fields of the (last) `fmt ` chunk of a RIFF/WAVE file and its (last) `data`
    chunk, when it has them."""
    offset, fmt, samples = 12, None, None
    while offset + 8 <= len(data):
        kind, size = data[offset : offset + 4], struct.unpack_from("<I", data, offset + 4)[0]
        chunk = data[offset + 8 : offset + 8 + size]
        if kind == b"fmt " and size >= 16:
            fmt = struct.unpack_from("<HHIIHH", chunk)
        elif kind == b"data":
            samples = chunk
        offset += 8 + size + size % 2
    return fmt, samples


def read_clip(path: Path, mood: str) -> Clip:
    """Raises ClipError for a missing or unreadable file."""
    try:
        data = path.read_bytes()
    except OSError as error:
        raise ClipError(str(path), f"cannot read: {error.strerror or error}") from None
    return Clip(name=path.stem, mood=mood, mulaw=decode_mulaw_wav(data, str(path)))


def shipped_clips() -> dict[str, list[Clip]]:
    """The demo clips in the package (`audio/<mood>-<n>.wav`), by mood."""
    folder = resources.files("callcenter.simulate").joinpath("audio")
    clips: dict[str, list[Clip]] = {mood: [] for mood in MOODS}
    for mood, lines in LINES.items():
        for index in range(1, len(lines) + 1):
            name = f"{mood}-{index}.wav"
            data = folder.joinpath(name).read_bytes()
            clips[mood].append(Clip(f"{mood}-{index}", mood, decode_mulaw_wav(data, name)))
    return clips


def synthesise(text: str) -> bytes:
    """8 kHz PCM16 of `text` spoken by flite (Debian package `flite`).

    Raises ClipError if flite is missing or fails."""
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "line.wav"
        try:
            subprocess.run(["flite", "-t", text, "-o", str(path)], check=True, capture_output=True)
        except (OSError, subprocess.CalledProcessError) as error:
            raise ClipError("flite", f"cannot synthesise {text!r}: {error}") from None
        with wave.open(str(path)) as audio:
            if (audio.getframerate(), audio.getsampwidth(), audio.getnchannels()) != (8000, 2, 1):
                raise ClipError("flite", "expected 8 kHz 16-bit mono output")
            pcm: bytes = audio.readframes(audio.getnframes())
            return pcm


def make_clip(sentences: tuple[str, ...]) -> bytes:
    """The greeting and the sentences, flite-spoken, a pause after each, as mu-law."""
    pause = b"\x00\x00" * int(SAMPLE_RATE * PAUSE_SECONDS)
    lead = b"\x00\x00" * int(SAMPLE_RATE * 0.3)
    pcm = lead + b"".join(synthesise(text) + pause for text in (GREETING, *sentences))
    return pcm16_to_ulaw(pcm)


def write_demo_clips(folder: Path) -> list[tuple[Path, int]]:
    """Synthesise every demo line into `folder`; returns (path, bytes) per file written."""
    folder.mkdir(parents=True, exist_ok=True)
    written = []
    for mood, lines in LINES.items():
        for index, sentences in enumerate(lines, start=1):
            path = folder / f"{mood}-{index}.wav"
            data = encode_mulaw_wav(make_clip(sentences))
            path.write_bytes(data)
            written.append((path, len(data)))
    return written
