"""How often the interpreter hands the GIL from a worker thread to the event loop, while
the server runs.

Some pure work runs in worker threads so that the event loop goes on meanwhile: the outlook
of every queue (each tick, and for `GET /v1/queues`), the shared reading for callers on
hold. At platform scale that is a few hundred milliseconds of Python at a time. A thread
holding the GIL keeps it until the interval below has passed since the loop asked for it,
and the loop asks after every wait on a socket: with Python's default (5 ms), every Redis
round trip of every request waits about that long while such work runs. At 15,000 agents
and 50,000 waiting, a sequential Redis round trip then took 5 ms at the median and 65 ms
at p99, against 0.07 and 0.12 ms otherwise (`bench/loop_contention.py`)."""

from __future__ import annotations

import sys
from collections.abc import AsyncIterator

from aiohttp import web

GIL_SWITCH_SECONDS = 0.001
# the interval is the process's: while any application runs (several do, in one process,
# in tests of several instances) it is ours; the interval from before the first is put
# back once the last has stopped
_running: list[float] = []  # the interval before, once per application running


async def switch_often(app: web.Application) -> AsyncIterator[None]:
    """A `cleanup_ctx` step: the GIL switch interval is `GIL_SWITCH_SECONDS` while the
    application (or any other) runs, and as it was before the first, after the last."""
    _running.append(sys.getswitchinterval() if not _running else _running[0])
    sys.setswitchinterval(GIL_SWITCH_SECONDS)
    try:
        yield
    finally:
        before = _running.pop()
        if not _running:
            sys.setswitchinterval(before)
