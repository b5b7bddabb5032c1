"""``python -m ticketing [serve|migrate]``: run the app, or apply database migrations.

Without ``DATABASE_URL`` an embedded PostgreSQL is started (or reused) under DATA_DIR and
stopped again on exit. ``serve --workers N`` serves the port from N processes
(fairgate.supervisor). Configuration and start-up problems print one line, not a traceback.
"""

from __future__ import annotations

import argparse
import asyncio
import sys

import asyncpg

from fairgate.config import ConfigError, Settings
from fairgate.embedded import Backends, EmbeddedServerError, ensure_backends
from fairgate.supervisor import prepare_metrics, serve_workers


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="ticketing", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command")
    serve_p = sub.add_parser("serve", help="run the HTTP server (default)")
    serve_p.add_argument("--host", default=None, help="listen address (default: HOST)")
    serve_p.add_argument("--port", type=int, default=None,
                         help="listen port (default: TICKETING_PORT)")
    serve_p.add_argument("--workers", type=int, default=1,
                         help="processes sharing the port through SO_REUSEPORT (default: 1)")
    sub.add_parser("migrate", help="apply database migrations and exit")
    return parser


async def _migrate(database_url: str) -> list[int]:
    # Imported here: ticketing.db loads prometheus_client, which must see the metrics setting.
    from .db import migrate

    conn = await asyncpg.connect(database_url)
    try:
        return await migrate(conn)
    finally:
        await conn.close()


def _serve(settings: Settings, database_url: str, args: argparse.Namespace) -> int:
    workers = getattr(args, "workers", 1)
    host = getattr(args, "host", None) or settings.host
    port = getattr(args, "port", None)
    if port is None:  # (not ``or``: --port 0, any free port, is a port)
        port = settings.ticketing_port
    if workers > 1 and port == 0:
        raise ConfigError("--workers needs a fixed port: with port 0 each would get its own")
    metrics_dir = prepare_metrics("ticketing", workers)
    # Imported only now: prometheus_client picks its storage (files or memory) at import.
    from fairgate.web import serve

    from .app import create_app

    def serve_one() -> int:
        try:
            serve(create_app(settings, database_url), host, port, reuse_port=workers > 1)
        except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError) as exc:
            print(f"ticketing: cannot start: {exc.__class__.__name__}: {exc}", file=sys.stderr)
            return 1
        return 0

    return serve_workers("ticketing", workers, serve_one, metrics_dir)


def main(argv: list[str] | None = None) -> None:
    parser = _parser()
    args = parser.parse_args(argv)
    if getattr(args, "workers", 1) < 1:
        parser.error("--workers must be at least 1")
    backends: Backends | None = None
    code = 0
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
            code = _serve(settings, database_url, args)
    except (ConfigError, EmbeddedServerError) as exc:
        print(f"ticketing: {exc}", file=sys.stderr)
        code = 2
    except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError) as exc:
        print(f"ticketing: cannot start: {exc.__class__.__name__}: {exc}", file=sys.stderr)
        code = 1
    finally:
        if backends is not None:
            backends.stop()
    if code:
        sys.exit(code)


if __name__ == "__main__":
    main()
