"""``python -m ticketing [serve|migrate]``: run the app, or apply database migrations.

Without ``DATABASE_URL`` an embedded PostgreSQL is started (or reused) under DATA_DIR and
stopped again on exit. Configuration and start-up problems print one line, not a traceback.
"""

from __future__ import annotations

import argparse
import asyncio
import sys

import asyncpg

from fairgate.config import ConfigError, Settings
from fairgate.embedded import Backends, EmbeddedServerError, ensure_backends
from fairgate.web import serve

from .app import create_app
from .db import migrate


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="ticketing", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command")
    serve_p = sub.add_parser("serve", help="run the HTTP server (default)")
    serve_p.add_argument("--host", default=None, help="listen address (default: HOST)")
    serve_p.add_argument("--port", type=int, default=None,
                         help="listen port (default: TICKETING_PORT)")
    sub.add_parser("migrate", help="apply database migrations and exit")
    return parser


async def _migrate(database_url: str) -> list[int]:
    conn = await asyncpg.connect(database_url)
    try:
        return await migrate(conn)
    finally:
        await conn.close()


def main(argv: list[str] | None = None) -> None:
    args = _parser().parse_args(argv)
    backends: Backends | None = None
    try:
        settings = Settings.from_env()
        database_url = settings.database_url
        if database_url is None:
            backends = ensure_backends(settings.data_dir, None, None, need_redis=False)
            database_url = backends.database_url
        assert database_url is not None
        if args.command == "migrate":
            applied = asyncio.run(_migrate(database_url))
            print(f"applied migrations: {applied or 'none (up to date)'}")
        else:
            host = getattr(args, "host", None) or settings.host
            port = getattr(args, "port", None) or settings.ticketing_port
            serve(create_app(settings, database_url), host, port)
    except (ConfigError, EmbeddedServerError) as exc:
        print(f"ticketing: {exc}", file=sys.stderr)
        sys.exit(2)
    except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError) as exc:
        print(f"ticketing: cannot start: {exc.__class__.__name__}: {exc}", file=sys.stderr)
        sys.exit(1)
    finally:
        if backends is not None:
            backends.stop()


if __name__ == "__main__":
    main()
