"""Typed application-state keys, shared by the app factory and the handlers."""

from __future__ import annotations

from aiohttp import web

from fairgate.redisconn import RedisClient

from .admission import Admitter
from .queue import Queue
from .snapshot import Heartbeats, Snapshots
from .storage import Scripts

REDIS_KEY: web.AppKey[RedisClient] = web.AppKey("wr_redis")
SCRIPTS_KEY = web.AppKey("wr_scripts", Scripts)
ADMITTER_KEY = web.AppKey("wr_admitter", Admitter)
SNAPSHOTS_KEY = web.AppKey("wr_snapshots", Snapshots)
HEARTBEATS_KEY = web.AppKey("wr_heartbeats", Heartbeats)
QUEUE_KEY = web.AppKey("wr_queue", Queue)
