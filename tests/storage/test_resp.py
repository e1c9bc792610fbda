"""The service's own Redis client against a real redis-server: replies, errors, scripts,
lost connections and a server that stops answering."""

from __future__ import annotations

import asyncio
import gc

import pytest
import redis.asyncio as aioredis

from callcenter.errors import StorageUnavailable
from callcenter.storage.resp import CommandError, Reply, RespClient, Script, parse_url
from callcenter.storage.resp_connection import in_order


async def test_replies_and_pipeline_order(resp: RespClient) -> None:
    assert await resp.execute("SET", "k", "v") == b"OK"
    assert await resp.execute("GET", "k") == b"v"
    assert await resp.execute("GET", "missing") is None
    replies = await resp.pipeline(
        [("INCR", "n"), ("INCR", "n"), ("LPUSH", "l", 1, 2), ("GET", "n")]
    )
    assert replies == [1, 2, 2, b"2"]
    many = await asyncio.gather(*(resp.execute("INCR", "c") for _ in range(500)))
    assert sorted(many) == list(range(1, 501))


async def test_error_replies_raise_without_breaking_the_connection(resp: RespClient) -> None:
    await resp.execute("SET", "k", "text")
    with pytest.raises(CommandError, match="WRONGTYPE"):
        await resp.execute("LPUSH", "k", 1)
    with pytest.raises(CommandError):
        await resp.pipeline([("GET", "k"), ("INCR", "k")])
    assert await resp.execute("GET", "k") == b"text"


async def test_scripts_load_themselves_after_a_script_flush(resp: RespClient) -> None:
    script = Script("return tonumber(ARGV[1]) + 1")
    assert await resp.evalsha(script, [], [41]) == 42
    await resp.execute("SCRIPT", "FLUSH")
    assert await resp.evalsha(script, [], [1]) == 2
    await resp.execute("SCRIPT", "FLUSH")
    replies = await resp.pipeline_with_scripts([("EVALSHA", script.sha, 0, 9), ("PING",)], [script])
    assert replies == [10, b"PONG"]


async def test_a_pipeline_of_writes_runs_each_command_once(resp: RespClient) -> None:
    """Should Redis lack a script, only the commands that did not run are sent again: a
    write before or after it, and a script Redis had, are not run twice."""
    counted = Script("return redis.call('INCR', KEYS[1])")
    other = Script("return redis.call('INCR', KEYS[1]) * 10")
    await resp.evalsha(counted, ["a"], [])  # loaded (a = 1)
    await resp.execute("SCRIPT", "FLUSH")
    await resp.evalsha(counted, ["a"], [])  # loaded again (a = 2); `other` is not
    replies = await resp.pipeline_with_scripts(
        [
            ("INCR", "b"),
            ("EVALSHA", other.sha, 1, "c"),
            ("EVALSHA", counted.sha, 1, "a"),
            ("INCR", "b"),
        ],
        [other, counted],
    )
    assert replies == [1, 10, 3, 2]
    assert await resp.pipeline([("GET", "a"), ("GET", "b"), ("GET", "c")]) == [b"3", b"2", b"1"]
    with pytest.raises(CommandError, match="WRONGTYPE"):
        await resp.pipeline_with_scripts([("LPUSH", "a", 1), ("INCR", "b")], [])
    assert await resp.execute("GET", "b") == b"3"  # the command after the error ran


async def test_reconnects_after_the_server_drops_it(
    resp: RespClient, redis_client: aioredis.Redis
) -> None:
    await resp.execute("SET", "k", "v")
    await redis_client.client_kill_filter(_type="normal", skipme=True)
    # the first command may meet the dead socket; the client must recover right after
    for _ in range(3):
        try:
            assert await resp.execute("GET", "k") == b"v"
            break
        except StorageUnavailable:
            await asyncio.sleep(0.05)
    else:
        raise AssertionError("client did not reconnect")


async def test_a_server_that_stops_answering_fails_commands_instead_of_hanging(
    redis_url: str, resp: RespClient
) -> None:
    client = RespClient.from_url(redis_url, connections=1, reply_timeout=0.3)
    try:
        await client.ping()
        # Redis holds every client's commands for 1.5 s: to us it stops answering
        assert await client.execute("CLIENT", "PAUSE", 1500, "ALL") == b"OK"
        with pytest.raises(StorageUnavailable):
            await asyncio.wait_for(client.execute("PING"), 5)
        await asyncio.sleep(1.5)
        assert await client.ping()  # a fresh connection once Redis answers again
    finally:
        await client.aclose()


async def test_a_pipeline_lost_fails_whole_and_leaves_no_error_unretrieved() -> None:
    """A pipeline's replies are awaited one after the other (`in_order`): when the
    connection is lost, the first error is raised and the others' are taken too."""
    loop = asyncio.get_running_loop()
    unretrieved: list[dict[str, object]] = []
    loop.set_exception_handler(lambda _, context: unretrieved.append(context))
    try:
        futures: list[asyncio.Future[Reply]] = [loop.create_future() for _ in range(3)]
        waiting = asyncio.ensure_future(in_order(futures))
        await asyncio.sleep(0)  # it waits on the first
        for future in futures:
            future.set_exception(StorageUnavailable("connection to Redis lost"))
        with pytest.raises(StorageUnavailable):
            await waiting
        del futures, waiting, future
        gc.collect()
        await asyncio.sleep(0)
        gc.collect()
        assert unretrieved == []  # no "Future exception was never retrieved"
    finally:
        loop.set_exception_handler(None)


async def test_unreachable_server_is_a_clear_error() -> None:
    client = RespClient.from_url("redis://127.0.0.1:1/0")
    with pytest.raises(StorageUnavailable, match="cannot connect"):
        await client.ping()
    await client.aclose()


@pytest.mark.parametrize(
    ("url", "host", "port", "db", "password", "tls"),
    [
        ("redis://127.0.0.1:6380/2", "127.0.0.1", 6380, 2, None, False),
        ("redis://:s%40cret@db.local/0", "db.local", 6379, 0, "s@cret", False),
        ("rediss://user:pw@h:7000", "h", 7000, 0, "pw", True),
    ],
)
def test_parse_url(
    url: str, host: str, port: int, db: int, password: str | None, tls: bool
) -> None:
    endpoint = parse_url(url)
    assert (endpoint.host, endpoint.port, endpoint.db, endpoint.password, endpoint.tls) == (
        host,
        port,
        db,
        password,
        tls,
    )


def test_parse_unix_url_and_bad_scheme() -> None:
    assert parse_url("unix:///run/redis.sock?db=3").path == "/run/redis.sock"
    assert parse_url("unix:///run/redis.sock?db=3").db == 3
    with pytest.raises(StorageUnavailable, match="scheme"):
        parse_url("http://localhost")
