"""How a subscription reads its connection: the confirmation, then message bodies;
replies split across reads, and anything else on the connection, are handled."""

from __future__ import annotations

import hiredis

from callcenter.storage.subscription import ChannelReplies


class _ChannelReplies:
    """The connection's parser (hiredis, as in resp_connection) and the subscription's."""

    def __init__(self) -> None:
        self._reader = hiredis.Reader()
        self._replies = ChannelReplies()

    def feed(self, data: bytes) -> list[bytes | None]:
        self._reader.feed(data)
        items: list[bytes | None] = []
        while (reply := self._reader.gets()) is not False:
            if (item := self._replies.item(reply)) is not False:
                items.append(item)
        return items


def resp(*parts: bytes) -> bytes:
    """A RESP array of bulk strings, as Redis sends pub/sub replies."""
    return b"*%d\r\n" % len(parts) + b"".join(b"$%d\r\n%s\r\n" % (len(p), p) for p in parts)


CONFIRMED = resp(b"subscribe", b"cc:bus", b"1")


def test_the_confirmation_then_every_message_in_order() -> None:
    replies = _ChannelReplies()
    data = CONFIRMED + resp(b"message", b"cc:bus", b'{"a":1}') + resp(b"message", b"cc:bus", b"{}")
    assert replies.feed(data) == [None, b'{"a":1}', b"{}"]


def test_a_reply_split_across_reads_comes_once_complete() -> None:
    replies = _ChannelReplies()
    message = resp(b"message", b"cc:bus", b'{"seq":7}')
    assert replies.feed(CONFIRMED + message[:9]) == [None]
    assert replies.feed(message[9:-1]) == []
    assert replies.feed(message[-1:]) == [b'{"seq":7}']


def test_messages_before_the_confirmation_are_dropped() -> None:
    replies = _ChannelReplies()
    early = resp(b"message", b"cc:bus", b"{}")
    assert replies.feed(early) == []
    assert replies.feed(CONFIRMED + early) == [None, b"{}"]


def test_other_replies_are_ignored() -> None:
    replies = _ChannelReplies()
    noise = b"+OK\r\n" + b":1\r\n" + resp(b"pong", b"") + resp(b"unsubscribe", b"cc:bus", b"0")
    assert replies.feed(CONFIRMED + noise + resp(b"message", b"cc:bus", b"{}")) == [None, b"{}"]
