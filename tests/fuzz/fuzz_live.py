"""An aiohttp app served from a thread of its own, so a blocking HTTP client can call it."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable

from aiohttp import web

from fairgate.embedded import free_port


class ThreadedApp:
    """An aiohttp app on its own event loop in a daemon thread."""

    def __init__(self, make: Callable[[], web.Application]) -> None:
        self._make = make
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self._loop = asyncio.new_event_loop()
        self._ready = threading.Event()
        self._stop: asyncio.Event | None = None
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        asyncio.set_event_loop(self._loop)
        try:
            self._loop.run_until_complete(self._serve())
        finally:
            # Closed here, not left to the collector: an unclosed loop's self-pipe sockets
            # raise ResourceWarnings in whichever later test the collector happens to run.
            self._loop.run_until_complete(self._loop.shutdown_asyncgens())
            self._loop.close()

    async def _serve(self) -> None:
        self._stop = asyncio.Event()
        runner = web.AppRunner(self._make(), access_log=None)
        try:
            await runner.setup()
            await web.TCPSite(runner, "127.0.0.1", self.port).start()
        except BaseException as exc:  # reported to the test thread by start()
            self._error = exc
            self._ready.set()
            raise
        self._ready.set()
        await self._stop.wait()
        await runner.cleanup()

    def start(self) -> ThreadedApp:
        self._thread.start()
        self._ready.wait(60)
        if self._error is not None:
            raise self._error
        return self

    def stop(self) -> None:
        if self._stop is not None:
            self._loop.call_soon_threadsafe(self._stop.set)
        self._thread.join(30)
