"""Ports of the speech recognisers: the `Engine` (one loaded model per process) and the
per-leg `Recognizer` it makes, the `Partial` and `Final` results they produce, and
`open_engine`, which builds the configured engine (importing its adapter only then)."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from callcenter.errors import CallcenterError

ENGINES = ("vosk", "pocketsphinx")


class EngineUnavailable(CallcenterError):
    """A speech engine that cannot start: which `engine`, what is `missing` (a package, a
    model directory, a file in it) and why."""

    def __init__(self, engine: str, missing: str, reason: str) -> None:
        super().__init__(engine, missing, reason)
        self.engine = engine
        self.missing = missing
        self.reason = reason

    def __str__(self) -> str:
        return f"speech engine {self.engine}: {self.missing}: {self.reason}"


@dataclass(frozen=True, slots=True)
class Word:
    """One recognised word; times in seconds from the start of the leg's audio."""

    word: str
    start_s: float
    end_s: float
    confidence: float  # 0..1, as the engine reports it


@dataclass(frozen=True, slots=True)
class Partial:
    """The current, still-changing hypothesis of the utterance in progress.

    `offset_s`: the leg's audio position (seconds from its start) when it was produced."""

    text: str
    offset_s: float

    def shifted(self, seconds: float) -> Partial:
        return dataclasses.replace(self, offset_s=self.offset_s + seconds)


@dataclass(frozen=True, slots=True)
class Final:
    """A finished utterance with word timings; `offset_s` as for `Partial`."""

    text: str
    words: tuple[Word, ...]
    offset_s: float

    def shifted(self, seconds: float) -> Final:
        """The same result with every time moved by `seconds` (recogniser time to leg time)."""
        if not seconds:
            return self
        words = tuple(
            dataclasses.replace(w, start_s=w.start_s + seconds, end_s=w.end_s + seconds)
            for w in self.words
        )
        return Final(self.text, words, self.offset_s + seconds)


Result = Partial | Final


class Recognizer(Protocol):
    """One leg's streaming recogniser. Used by one thread at a time, never on the event loop
    (calls take milliseconds of CPU). Times in results count the audio it was given."""

    def accept(self, pcm: bytes, *, partials: bool = True) -> list[Result]:
        """Feed PCM16 mono at the engine's rate; return the results it completes: a final at
        each utterance end, a partial when the hypothesis changed (at most one per partial
        interval of audio). `partials=False` means the caller is behind real time: skip all
        partial work the engine can skip (finals still come)."""
        ...

    def finish(self) -> list[Result]:
        """End the stream: the last final, if any speech is pending; then ready to restart."""
        ...

    def close(self) -> None:
        """Release the engine resources; the recogniser is unusable afterwards."""
        ...


class Engine(Protocol):
    """A loaded model, shared by the recognisers it makes (thread-safe `new_recognizer`)."""

    @property
    def name(self) -> str: ...

    @property
    def sample_rate(self) -> int:
        """The only rate its recognisers accept (Hz)."""
        ...

    @property
    def releases_gil(self) -> bool:
        """Whether recognisers decode without holding the GIL (so threads run in parallel)."""
        ...

    def new_recognizer(self) -> Recognizer:
        """A fresh recogniser; may take a while (call it off the event loop)."""
        ...


DEFAULT_PARTIAL_INTERVAL_S = 0.25


def open_engine(
    name: str,
    model_dir: Path | None = None,
    *,
    partial_interval_s: float = DEFAULT_PARTIAL_INTERVAL_S,
    models_dir: Path | None = None,
    model_name: str | None = None,
) -> Engine:
    """Load engine `name`; recognisers offer a partial at most every `partial_interval_s` of
    audio. Blocking (seconds): call it off the event loop.

    "vosk" loads `model_dir`; without it, given `models_dir` or `model_name`, it looks one
    up: the model `model_name` in `models_dir` (or an installed package of that name), else
    the only or first model in `models_dir`, else an installed `vosk-model-*` package (see
    `model_store.resolve_model_dir`). "pocketsphinx" uses its bundled English model unless
    `model_dir` names another.

    Raises EngineUnavailable naming the missing package, model directory or file.
    """
    if name == "vosk":
        if model_dir is None and models_dir is None and model_name is None:
            raise EngineUnavailable("vosk", "model directory", "no model directory configured")
        # Imported here: each adapter loads its engine's native library (and the model
        # store imports this module).
        from callcenter.speech.model_store import resolve_model_dir
        from callcenter.speech.vosk_engine import VoskEngine

        model_dir = resolve_model_dir(model_dir, models_dir=models_dir, name=model_name)
        return VoskEngine(model_dir, partial_interval_s=partial_interval_s)
    if name == "pocketsphinx":
        from callcenter.speech.pocketsphinx_engine import PocketSphinxEngine

        return PocketSphinxEngine(model_dir, partial_interval_s=partial_interval_s)
    raise EngineUnavailable(name, "engine", f"unknown engine; choose one of {', '.join(ENGINES)}")
