"""ARI's REST client through the REST clients' retry loop, against a loopback server that
answers as told: a 503 or a refused connection is sent again, a few times; a 500 (ARI's
"Allocation failed") is its answer, not repeated; the error carries ARI's message."""

from __future__ import annotations

import aiohttp
import pytest
from aiohttp import web
from pytest_aiohttp import AiohttpServer

from callcenter.backoff import Backoff
from callcenter.gateways.asterisk.ari_rest import AriError, AriRest
from callcenter.storage.embedded import free_port

QUICK = Backoff(0.001, 0.005)


@pytest.fixture
async def answers(aiohttp_server: AiohttpServer) -> tuple[str, list[int], list[str]]:
    """(base URL, statuses to answer in turn (then 204), the paths asked)."""
    statuses: list[int] = []
    asked: list[str] = []

    async def answer(request: web.Request) -> web.Response:
        asked.append(request.path)
        status = statuses.pop(0) if statuses else 204
        if status == 204:
            return web.Response(status=204)
        return web.json_response({"error": "Allocation failed"}, status=status)

    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", answer)
    server = await aiohttp_server(app, host="127.0.0.1")
    return f"http://127.0.0.1:{server.port}", statuses, asked


async def test_an_overloaded_asterisk_is_asked_again(
    answers: tuple[str, list[int], list[str]],
) -> None:
    url, statuses, asked = answers
    statuses += [503, 503]
    async with aiohttp.ClientSession() as session:
        await AriRest(session, url, "u", "p", backoff=QUICK).answer("c1")
    assert asked == ["/ari/channels/c1/answer"] * 3


async def test_an_internal_error_is_its_answer_not_repeated(
    answers: tuple[str, list[int], list[str]],
) -> None:
    url, statuses, asked = answers
    statuses.append(500)
    async with aiohttp.ClientSession() as session:
        with pytest.raises(AriError) as caught:
            await AriRest(session, url, "u", "p", backoff=QUICK).answer("c1")
    assert (caught.value.status, caught.value.message) == (500, "Allocation failed")
    assert len(asked) == 1


async def test_an_unreachable_asterisk_is_tried_a_few_times_then_raised() -> None:
    url = f"http://127.0.0.1:{free_port()}"  # nothing listens there
    async with aiohttp.ClientSession() as session:
        with pytest.raises(AriError) as caught:
            await AriRest(session, url, "u", "p", backoff=QUICK).answer("c1")
    assert caught.value.status == 0 and "cannot connect" in caught.value.message
