"""The cache of decoded documents: equal to decoding afresh, found again after a read
larger than its limit, bounded (twice its limit plus the longest read), and a long read
decoded a slice per turn of the event loop."""

from __future__ import annotations

import asyncio

import msgspec
from hypothesis import given, settings
from hypothesis import strategies as st

from callcenter.storage.documents import DecodeCache


class Doc(msgspec.Struct, frozen=True):
    n: int


def docs(numbers: range | list[int]) -> list[bytes]:
    return [msgspec.json.encode(Doc(n)) for n in numbers]


def test_a_document_read_again_is_not_decoded_again() -> None:
    cache = DecodeCache(Doc, limit=10)
    first = cache.decode_all(docs(range(5)))
    again = cache.decode_all(docs(range(5)))
    assert first == [Doc(n) for n in range(5)]
    assert all(a is b for a, b in zip(first, again, strict=True))


def test_a_read_larger_than_the_limit_is_found_again_whole() -> None:
    """Every ticket read when more are waiting than the limit: the next read of them all
    (the next outlook) decodes none of them again, nor does a read of a few (a pass)."""
    cache = DecodeCache(Doc, limit=100)
    everything = cache.decode_all(docs(range(250)))
    again = cache.decode_all(docs(range(250)))
    assert all(a is b for a, b in zip(everything, again, strict=True))
    few = cache.decode_all(docs(range(200, 210)))
    assert all(a is b for a, b in zip(few, everything[200:210], strict=True))
    assert len(cache) == 250  # each held once: those read again moved, not copied


def test_documents_not_read_for_two_generations_are_dropped() -> None:
    cache = DecodeCache(Doc, limit=10)
    first = cache.decode_all(docs([1]))
    for start in (100, 200):  # two reads past the limit: two generations
        cache.decode_all(docs(range(start, start + 11)))
    assert cache.decode_all(docs([1]))[0] is not first[0]
    assert cache.decode_all(docs([1])) == first


def test_at_most_twice_the_limit_and_the_longest_read_are_held() -> None:
    cache = DecodeCache(Doc, limit=10)
    for start in (0, 10, 20):  # 10 held; 20 made old; 10 more young
        cache.decode_all(docs(range(start, start + 10)))
    assert len(cache) == 2 * 10 + 10


@settings(max_examples=300, deadline=None)
@given(
    reads=st.lists(st.lists(st.integers(0, 300), max_size=40), max_size=30),
    limit=st.integers(1, 20),
)
def test_it_decodes_as_afresh_and_holds_at_most_twice_the_limit_and_the_longest_read(
    reads: list[list[int]], limit: int
) -> None:
    cache = DecodeCache(Doc, limit=limit)
    longest = 0
    for numbers in reads:
        longest = max(longest, len(numbers))
        assert cache.decode_all(docs(numbers)) == [Doc(n) for n in numbers]
        assert len(cache) <= 2 * limit + longest


async def test_a_long_read_is_decoded_a_slice_per_turn_of_the_loop() -> None:
    cache = DecodeCache(Doc, limit=100)
    raws = [msgspec.json.encode(Doc(n=i)) for i in range(12)]
    turns = 0
    decoded = False

    async def others() -> None:  # a request served meanwhile, counting its turns
        nonlocal turns
        while not decoded:
            turns += 1
            await asyncio.sleep(0)

    serving = asyncio.create_task(others())
    await asyncio.sleep(0)  # it has begun
    begun = turns
    found = await cache.decode_spread(raws, slice_size=5)
    decoded = True
    await serving
    assert [doc.n for doc in found] == list(range(12))
    assert turns - begun >= 2  # it ran between the three slices
    assert await cache.decode_spread(raws[:5], slice_size=5) == found[:5]  # one slice
