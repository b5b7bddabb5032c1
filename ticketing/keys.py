"""Typed application state keys, defined once for every module of the ticketing app."""

from __future__ import annotations

import aiohttp
import asyncpg
from aiohttp import web

from .departures import Departures
from .events import EventCache
from .gate import VerifiedSessions
from .stream import SeatHub
from .tuning import Tuning

POOL_KEY = web.AppKey("tk_pool", asyncpg.Pool)
# The seat map's pool: a replica's when TK_READ_DATABASE_URL is set, else POOL_KEY's own.
READ_POOL_KEY = web.AppKey("tk_read_pool", asyncpg.Pool)
DATABASE_URL_KEY = web.AppKey("tk_database_url", str)
EVENTS_KEY = web.AppKey("tk_events", EventCache)
HUB_KEY = web.AppKey("tk_hub", SeatHub)
HTTP_KEY = web.AppKey("tk_http", aiohttp.ClientSession)
DEPARTURES_KEY = web.AppKey("tk_departures", Departures)
TUNING_KEY = web.AppKey("tk_tuning", Tuning)
SESSIONS_KEY = web.AppKey("tk_sessions", VerifiedSessions)
