"""Phrase patterns of the sentiment lexicon ("on hold for .. hour*"): compiled from their text
and matched against an utterance's words."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class PatternElement:
    """One pattern position: a word set, a prefix, any one word, or a gap of 0..`gap`."""

    words: frozenset[str] = frozenset()
    prefix: str = ""
    gap: int = 0

    def accepts(self, token: str) -> bool:
        if self.words:
            return token in self.words
        return token.startswith(self.prefix)  # "" (the `*` element) accepts any word


@dataclass(frozen=True, slots=True)
class Phrase:
    """A compiled pattern and the valence its match adds."""

    pattern: str
    elements: tuple[PatternElement, ...]
    weight: float

    def match(self, tokens: Sequence[str], start: int) -> int:
        """End index of a match starting at `start` (shortest gaps first), or -1."""
        return _match(self.elements, 1, tokens, start + 1)


def _match(elements: tuple[PatternElement, ...], k: int, tokens: Sequence[str], i: int) -> int:
    if k == len(elements):
        return i
    element = elements[k]
    if element.gap:
        for skip in range(min(element.gap, len(tokens) - i) + 1):
            end = _match(elements, k + 1, tokens, i + skip)
            if end >= 0:
                return end
        return -1
    if i >= len(tokens) or not element.accepts(tokens[i]):
        return -1
    return _match(elements, k + 1, tokens, i + 1)


def compile_pattern(pattern: str, gap_words: int) -> tuple[PatternElement, ...]:
    """The elements of `pattern`: words (`a|b`), prefixes (`hour*`), any word (`*`) and
    gaps (`..`, up to `gap_words` words). Raises ValueError saying what is wrong with it."""
    elements: list[PatternElement] = []
    for part in pattern.split():
        if part == "..":
            elements.append(PatternElement(gap=gap_words))
        elif part.endswith("*"):
            if not re.fullmatch(r"[a-z0-9']*", part[:-1]):
                raise ValueError(f"bad prefix {part!r}")
            elements.append(PatternElement(prefix=part[:-1]))
        else:
            words = part.split("|")
            if not all(re.fullmatch(r"[a-z0-9']+", word) for word in words):
                raise ValueError(f"bad word {part!r}: lowercase letters, digits, ' and |")
            elements.append(PatternElement(words=frozenset(words)))
    if not elements or not elements[0].words:
        raise ValueError("must start with a word or word|word")
    if elements[-1].gap:
        raise ValueError("cannot end with '..'")
    return tuple(elements)
