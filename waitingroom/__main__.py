"""``python -m waitingroom [serve] [--host H] [--port P] [--workers N]``: run the waiting room.

With no ``REDIS_URL`` it starts (or reuses) the embedded Redis under ``DATA_DIR`` and stops it
again on exit if it started it. ``--workers N`` serves the port from N processes
(fairgate.supervisor): they share the Redis, so numbers, snapshots and the admission rate are the
same as with one. Configuration and start-up problems print one line, no traceback.
"""

from __future__ import annotations

import argparse
import sys

from fairgate.config import ConfigError, Settings
from fairgate.embedded import EmbeddedServerError, ensure_backends
from fairgate.supervisor import prepare_metrics, serve_workers


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="waitingroom", description="Run the waiting room.")
    sub = parser.add_subparsers(dest="command")
    run = sub.add_parser("serve", help="serve HTTP (the default)")
    for p in (parser, run):
        p.add_argument("--host", default=None, help="address to listen on (default: HOST)")
        p.add_argument("--port", type=int, default=None,
                       help="port (default: WAITINGROOM_PORT)")
        p.add_argument("--workers", type=int, default=1,
                       help="processes sharing the port through SO_REUSEPORT (default: 1)")
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    if args.workers < 1:
        parser.error("--workers must be at least 1")
    try:
        settings = Settings.from_env()
        settings.extra_float("WR_DEBOUNCE_MS", 0)  # bad tuning values fail now, in one line
        for name in ("WR_SNAPSHOT_MS", "WR_HEARTBEAT_MS", "WR_LAPSE_S", "WR_RESTORE_PAUSE_MS"):
            settings.extra_float(name, 0)
        host = args.host or settings.host
        port = settings.waitingroom_port if args.port is None else args.port
        if args.workers > 1 and port == 0:
            raise ConfigError("--workers needs a fixed port: with port 0 each would get its own")
        backends = ensure_backends(
            settings.data_dir, settings.redis_url, None, need_postgres=False
        )
    except (ConfigError, EmbeddedServerError) as exc:
        print(f"waitingroom: {exc}", file=sys.stderr)
        return 2
    metrics_dir = prepare_metrics("waitingroom", args.workers)
    # Imported only now: prometheus_client picks its storage (files or memory) at import.
    from fairgate.web import serve

    from .app import create_app

    def serve_one() -> int:
        try:
            serve(create_app(settings, backends.redis_url or ""), host, port,
                  reuse_port=args.workers > 1)
        except OSError as exc:
            print(f"waitingroom: cannot listen: {exc}", file=sys.stderr)
            return 1
        return 0

    try:
        print(f"waitingroom listening on http://{host}:{port}", flush=True)
        return serve_workers("waitingroom", args.workers, serve_one, metrics_dir)
    finally:
        backends.stop()


if __name__ == "__main__":
    sys.exit(main())
