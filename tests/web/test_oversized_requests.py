"""Oversized requests against a real `callcenter serve` process: a URL or a header past our
limits gets problem+json (414, 431), a request line past the parser's gets its 400; the log
holds one line per refusal, no traceback and nothing of the request (URLs carry tokens)."""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from callcenter.simulate.server_process import server_process
from callcenter.storage.embedded import free_port
from tests.conftest import BASIC_RULES

pytestmark = pytest.mark.slow


async def raw_request(port: int, head: bytes) -> tuple[int, str, bytes]:
    """Send `head` (a request line and headers), return status, content type and body."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(head)
    async with asyncio.timeout(10):
        status_line = await reader.readline()
        headers: dict[str, str] = {}
        while (line := await reader.readline()) not in (b"\r\n", b""):
            name, _, value = line.decode().partition(":")
            headers[name.strip().lower()] = value.strip()
        body = await reader.readexactly(int(headers.get("content-length", "0")))
    writer.close()
    return int(status_line.split()[1]), headers.get("content-type", ""), body


@pytest.fixture
async def server(redis_url: str, tmp_path: Path) -> AsyncIterator[tuple[int, str, Path]]:
    """A server process: its port, its admin token and its log file."""
    port = free_port()
    log = tmp_path / "server.log"
    environ = {**os.environ, "CALLCENTER_REDIS_URL": redis_url}
    lines: list[str] = []
    with log.open("wb") as stderr:
        async with server_process(
            port=port,
            rules_dir=BASIC_RULES,
            environ=environ,
            say=lines.append,
            data_dir=tmp_path,
            log=stderr,
        ) as running:
            yield port, running.admin_token, log


async def test_oversized_requests_get_problems_and_leave_no_token_in_the_log(
    server: tuple[int, str, Path],
) -> None:
    port, token, log = server
    pad = "x" * 9000
    url = f"/media/l16?token={token}&pad={pad}"
    status, kind, body = await raw_request(port, f"GET {url} HTTP/1.1\r\nHost: x\r\n\r\n".encode())
    assert (status, kind) == (414, "application/problem+json"), body[:200]
    assert token.encode() not in body and pad.encode() not in body

    header = f"Host: x\r\nX-Pad: {pad}\r\n"
    status, kind, body = await raw_request(port, f"GET /healthz HTTP/1.1\r\n{header}\r\n".encode())
    assert (status, kind) == (431, "application/problem+json"), body[:300]

    huge = f"GET /v1/calls?token={token}&pad={'y' * (2 << 20)} HTTP/1.1\r\nHost: x\r\n\r\n".encode()
    status, _, _ = await raw_request(port, huge)
    assert status == 400  # the parser's own answer (it quotes the line back to its sender)

    # the server still serves, and its log names the refusal in one line, without the token
    status, _, _ = await raw_request(port, b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
    assert status == 200
    text = log.read_text()
    assert "malformed HTTP request from" in text, text
    assert token not in text and "Traceback" not in text
    assert len([line for line in text.splitlines() if "malformed" in line]) == 1
