"""The PocketSphinx engine: the English model bundled in its PyPI wheel, the zero-download
fallback for demos and tests. The only module that imports pocketsphinx.

PocketSphinx's endpointer (a VAD) cuts each leg's audio into utterances. Inside one, the
decoder streams for partials; the final decodes the whole utterance again in one pass, since
the model normalises cepstra per utterance and streaming gives clearly worse words on a
leg's first utterance. When partials are shed, the streaming pass is skipped: finals only,
at half the CPU. A decoder cannot share its model with another, so each recogniser holds one
(about 90 MB); closed recognisers give theirs back for reuse. Decoders contend for the GIL:
more than one worker thread buys nothing with this engine (processes would; it is the demo
fallback, Vosk is the production engine).
"""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

from callcenter.speech.engines import (
    DEFAULT_PARTIAL_INTERVAL_S,
    EngineUnavailable,
    Final,
    Partial,
    Result,
    Word,
)

try:
    # No type stubs and no py.typed marker in the wheel: its names are Any here.
    import pocketsphinx
except ImportError as error:
    raise EngineUnavailable(
        "pocketsphinx", "Python package 'pocketsphinx'", "not installed (pip install pocketsphinx)"
    ) from error

SAMPLE_RATE = 16000  # the bundled en-us model; 8 kHz telephone audio is resampled up
MAX_UTTERANCE_SECONDS = 20.0  # longer speech is cut into utterances of this length
_BYTES_PER_SECOND = SAMPLE_RATE * 2


def _bundled_model() -> tuple[Path, Path, Path]:
    base = Path(pocketsphinx.get_model_path()) / "en-us"
    return base / "en-us", base / "en-us.lm.bin", base / "cmudict-en-us.dict"


def _model_files(model_dir: Path | None) -> tuple[Path, Path, Path]:
    """(acoustic model dir, language model, dictionary); `model_dir` laid out as the bundled
    model: an acoustic-model subdirectory (holding `mdef`), one `*.lm.bin`, one `*.dict`.

    Raises EngineUnavailable naming what is missing."""
    if model_dir is None:
        files = _bundled_model()
    elif not model_dir.is_dir():
        raise EngineUnavailable("pocketsphinx", str(model_dir), "no such model directory")
    else:
        files = (
            _find(model_dir, "*/mdef").parent,
            _find(model_dir, "*.lm.bin"),
            _find(model_dir, "*.dict"),
        )
    for path in files:
        if not path.exists():
            raise EngineUnavailable("pocketsphinx", str(path), "missing from the model")
    return files


def _find(model_dir: Path, pattern: str) -> Path:
    found = sorted(model_dir.glob(pattern))
    if not found:
        raise EngineUnavailable("pocketsphinx", str(model_dir / pattern), "missing")
    return found[0]


def _is_filler(word: str) -> bool:
    return word.startswith(("<", "[", "++"))


def _base_word(word: str) -> str:
    """'hour(2)' (an alternative pronunciation) -> 'hour'."""
    return word.split("(", 1)[0]


class PocketSphinxRecognizer:
    """One leg: endpointer, streaming decoder for partials, one-pass decode for finals."""

    def __init__(self, engine: PocketSphinxEngine, decoder: Any, partial_interval_s: float) -> None:
        self._engine = engine
        self._decoder: Any = decoder
        self._partial_every = max(1, round(partial_interval_s * SAMPLE_RATE))  # samples
        self._frame_rate = int(decoder.config["frate"])
        self._logmath: Any = decoder.logmath
        self._reset()

    def _reset(self) -> None:
        self._endpointer: Any = pocketsphinx.Endpointer(sample_rate=SAMPLE_RATE)
        self._pending = bytearray()  # less than one endpointer frame
        self._utterance = bytearray()  # speech of the utterance in progress
        self._in_utterance = False
        self._streaming = False  # the decoder follows this utterance (for partials)
        self._utterance_start_s = 0.0
        self._samples = 0
        self._next_partial = self._partial_every
        self._last_partial = ""

    def _live(self) -> Any:
        if self._decoder is None:
            raise RuntimeError("recognizer used after close()")
        return self._decoder

    def _position(self) -> float:
        return self._samples / SAMPLE_RATE

    def accept(self, pcm: bytes, *, partials: bool = True) -> list[Result]:
        decoder = self._live()
        self._samples += len(pcm) // 2
        self._pending += pcm
        size = self._endpointer.frame_bytes
        results: list[Result] = []
        while len(self._pending) >= size:
            frame = bytes(self._pending[:size])
            del self._pending[:size]
            results += self._speech(self._endpointer.process(frame), partials=partials)
        if partials and self._streaming and self._samples >= self._next_partial:
            self._next_partial = self._samples + self._partial_every
            hypothesis = decoder.hyp()
            text = hypothesis.hypstr if hypothesis is not None else ""
            if text and text != self._last_partial:
                self._last_partial = text
                results.append(Partial(text, self._position()))
        return results

    def _speech(self, speech: bytes | None, *, partials: bool) -> list[Result]:
        """Take the endpointer's output for one frame: speech bytes, or None for silence."""
        if speech is None:
            return []
        if not self._in_utterance:
            self._in_utterance = True
            self._utterance_start_s = float(self._endpointer.speech_start)
            self._streaming = partials
            if partials:
                self._decoder.start_utt()
        self._utterance += speech
        if self._streaming:
            if partials:
                self._decoder.process_raw(speech)
            else:  # behind real time: give up this utterance's partials, keep its final
                self._decoder.end_utt()
                self._streaming = False
        if not self._endpointer.in_speech:
            return self._end_utterance()
        if len(self._utterance) >= MAX_UTTERANCE_SECONDS * _BYTES_PER_SECOND:
            next_start = self._utterance_start_s + len(self._utterance) / _BYTES_PER_SECOND
            results = self._end_utterance()
            # Still in speech: the next frames open a new utterance where this one stopped.
            self._in_utterance = True
            self._utterance_start_s = next_start
            self._streaming = False
            return results
        return []

    def _end_utterance(self) -> list[Result]:
        decoder = self._decoder
        if self._streaming:
            decoder.end_utt()
        audio = bytes(self._utterance)
        start_s = self._utterance_start_s
        self._utterance.clear()
        self._in_utterance = self._streaming = False
        self._last_partial = ""
        decoder.start_utt()
        decoder.process_raw(audio, full_utt=True)
        decoder.end_utt()
        hypothesis = decoder.hyp()
        if hypothesis is None or not hypothesis.hypstr:
            return []
        words = tuple(
            Word(
                _base_word(segment.word),
                start_s + segment.start_frame / self._frame_rate,
                start_s + (segment.end_frame + 1) / self._frame_rate,
                min(1.0, float(self._logmath.exp(segment.prob))),
            )
            for segment in decoder.seg()
            if not _is_filler(segment.word)
        )
        return [Final(hypothesis.hypstr, words, self._position())]

    def finish(self) -> list[Result]:
        self._live()
        results: list[Result] = []
        if self._endpointer.in_speech:
            # end_stream flushes the speech the endpointer still holds; it wants >= 1 sample.
            tail = bytes(self._pending) or b"\x00\x00"
            results += self._speech(self._endpointer.end_stream(tail), partials=False)
        if self._in_utterance:
            results += self._end_utterance()
        self._reset()
        return results

    def close(self) -> None:
        decoder, self._decoder = self._decoder, None
        if decoder is None:
            return
        if self._streaming:
            decoder.end_utt()
        self._engine.give_back(decoder)


class PocketSphinxEngine:
    """PocketSphinx with the bundled US English model (or `model_dir` laid out the same way).

    Loads one decoder at once (about a quarter second) to check the model; more are made as
    recognisers need them and idle ones are reused, at most `max_idle_decoders` kept.
    Raises EngineUnavailable naming what is missing.
    """

    name = "pocketsphinx"
    releases_gil = False  # measured: two decoding threads run slower than one

    def __init__(
        self,
        model_dir: Path | None = None,
        *,
        partial_interval_s: float = DEFAULT_PARTIAL_INTERVAL_S,
        max_idle_decoders: int = 2,
    ) -> None:
        acoustic, language, dictionary = _model_files(model_dir)
        self._acoustic = str(acoustic)
        self._partial_interval_s = partial_interval_s
        self._options: dict[str, str | int | bool] = {
            "hmm": str(acoustic),
            "lm": str(language),
            "dict": str(dictionary),
            "samprate": SAMPLE_RATE,
            "loglevel": "FATAL",  # it logs every utterance to stderr otherwise
            # The flat-lexicon second pass changed no word of our test lines, and it holds
            # the GIL for ~150 ms at each utterance end, stalling the event loop.
            "fwdflat": False,
        }
        self._max_idle = max_idle_decoders
        self._idle: list[Any] = []
        self._lock = threading.Lock()  # recognisers are made and closed on worker threads
        self._idle.append(self._new_decoder())

    @property
    def sample_rate(self) -> int:
        return SAMPLE_RATE

    def _new_decoder(self) -> Any:
        try:
            return pocketsphinx.Decoder(**self._options)
        except (RuntimeError, ValueError) as error:
            raise EngineUnavailable(
                "pocketsphinx", self._acoustic, f"cannot load the model: {error}"
            ) from error

    def new_recognizer(self) -> PocketSphinxRecognizer:
        with self._lock:
            decoder = self._idle.pop() if self._idle else None
        if decoder is None:
            decoder = self._new_decoder()
        return PocketSphinxRecognizer(self, decoder, self._partial_interval_s)

    def give_back(self, decoder: Any) -> None:
        """Return a decoder (not in an utterance) for the next recogniser."""
        with self._lock:
            if len(self._idle) < self._max_idle:
                self._idle.append(decoder)
