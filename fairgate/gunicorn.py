"""App factories for gunicorn's aiohttp worker (DESIGN section 6).

    gunicorn fairgate.gunicorn:waitingroom_app -c deploy/gunicorn.conf.py --bind 0.0.0.0:8080
    gunicorn fairgate.gunicorn:ticketing_app   -c deploy/gunicorn.conf.py --bind 0.0.0.0:8081

Each worker process calls the factory once and serves the app it returns. Under a process manager
the apps must share real servers, so ``REDIS_URL`` / ``DATABASE_URL`` are required here: an
embedded server per worker would give every worker its own queue. A missing or bad setting stops
the worker with one line on stderr and exit status 3, which gunicorn's arbiter treats as "worker
failed to boot" and halts on, instead of respawning workers forever.
"""

from __future__ import annotations

import sys
from typing import NoReturn

from aiohttp import web

from . import logs
from .config import ConfigError, Settings

# gunicorn.arbiter.Arbiter.WORKER_BOOT_ERROR: the arbiter stops instead of respawning.
WORKER_BOOT_ERROR = 3

REQUIRED_URL = {"waitingroom": "REDIS_URL", "ticketing": "DATABASE_URL"}


class DeployConfigError(ConfigError):
    """The environment is not fit to run an app under a process manager."""


def settings_for(app: str, env: dict[str, str] | None = None) -> tuple[Settings, str]:
    """Settings from the environment and the shared-server URL ``app`` needs.

    Raises :class:`DeployConfigError` (or :class:`ConfigError`) with a one-line message.
    """
    settings = Settings.from_env(env)
    name = REQUIRED_URL[app]
    url = settings.redis_url if name == "REDIS_URL" else settings.database_url
    if not url:
        raise DeployConfigError(
            f"{name} is required under gunicorn: every worker must use the same "
            f"{'Redis' if name == 'REDIS_URL' else 'PostgreSQL'} (embedded servers are per process)"
        )
    return settings, url


def _fail(app: str, exc: Exception) -> NoReturn:
    print(f"{app}: {exc}", file=sys.stderr, flush=True)
    raise SystemExit(WORKER_BOOT_ERROR)


def check_environment(app_uri: str) -> None:
    """Called by deploy/gunicorn.conf.py in the arbiter before any worker is forked.

    Failing here, once, gives one clean line; failing in every worker at the same moment can
    trip gunicorn into a traceback of its own while it halts.
    """
    module, _, factory = app_uri.partition(":")
    app = factory.removesuffix("_app")
    if module != __name__ or app not in REQUIRED_URL:
        return  # not one of ours: nothing to check
    try:
        settings_for(app)
    except ConfigError as exc:
        _fail(app, exc)


async def waitingroom_app() -> web.Application:
    """The waiting room on the shared Redis named by ``REDIS_URL``."""
    try:
        settings, url = settings_for("waitingroom")
    except ConfigError as exc:
        _fail("waitingroom", exc)
    from waitingroom.app import create_app  # lazily: importing fairgate must not need the apps

    logs.configure()  # one JSON line per event, next to gunicorn's own log
    return create_app(settings, url)


async def ticketing_app() -> web.Application:
    """The ticketing app on the PostgreSQL (or PgBouncer) named by ``DATABASE_URL``."""
    try:
        settings, url = settings_for("ticketing")
    except ConfigError as exc:
        _fail("ticketing", exc)
    from ticketing.app import create_app

    logs.configure()
    return create_app(settings, url)
