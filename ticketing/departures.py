"""Telling the waiting room that a visitor is done, so their admission slot is reused at once.

Fire and forget: the buyer's answer never waits for the waiting room, and a failure there only
means the slot frees itself later, at the admission's session_ttl.
"""

from __future__ import annotations

import asyncio
import logging
from urllib.parse import quote

import aiohttp

from fairgate.config import Settings

log = logging.getLogger(__name__)


class Departures:
    """Background ``DELETE .../active/{visitor}`` calls, tracked so shutdown can finish them."""

    def __init__(self, http: aiohttp.ClientSession, settings: Settings, timeout_s: float) -> None:
        self._http = http
        self._base = settings.waitingroom_url
        self._token = settings.admin_token
        self._timeout = aiohttp.ClientTimeout(total=timeout_s)
        self._tasks: set[asyncio.Task[None]] = set()

    def visitor_left(self, room: str, visitor: str) -> None:
        """Schedule the call; returns at once."""
        task = asyncio.get_running_loop().create_task(self._tell(room, visitor))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _tell(self, room: str, visitor: str) -> None:
        url = (
            f"{self._base}/admin/api/rooms/{quote(room, safe='')}"
            f"/active/{quote(visitor, safe='')}"
        )
        try:
            async with self._http.delete(
                # The departure header marks a routine call (logged, not audited there).
                url, headers={"Authorization": f"Bearer {self._token}",
                              "X-Fairgate-Departure": "1"},
                timeout=self._timeout
            ) as resp:
                if resp.status not in (200, 204, 404):
                    log.warning("waiting room answered %d to visitor-left for room %s",
                                resp.status, room)
        except (aiohttp.ClientError, TimeoutError) as exc:
            log.warning("could not tell the waiting room that a visitor left room %s: %s",
                        room, exc.__class__.__name__)

    async def drain(self, timeout_s: float) -> None:
        """Give calls in flight a moment to finish at shutdown, then cancel the rest."""
        pending = set(self._tasks)
        if not pending:
            return
        _done, still = await asyncio.wait(pending, timeout=timeout_s)
        for task in still:
            task.cancel()
        if still:
            await asyncio.gather(*still, return_exceptions=True)
