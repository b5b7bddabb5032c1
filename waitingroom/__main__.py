"""``python -m waitingroom [serve] [--host H] [--port P]``: run the waiting room.

With no ``REDIS_URL`` it starts (or reuses) the embedded Redis under ``DATA_DIR`` and stops it
again on exit if it started it. Configuration and start-up problems print one line, no traceback.
"""

from __future__ import annotations

import argparse
import sys

from fairgate.config import ConfigError, Settings
from fairgate.embedded import EmbeddedServerError, ensure_backends
from fairgate.web import serve

from .app import create_app


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="waitingroom", description="Run the waiting room.")
    sub = parser.add_subparsers(dest="command")
    run = sub.add_parser("serve", help="serve HTTP (the default)")
    for p in (parser, run):
        p.add_argument("--host", default=None, help="address to listen on (default: HOST)")
        p.add_argument("--port", type=int, default=None,
                       help="port (default: WAITINGROOM_PORT)")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        settings = Settings.from_env()
        settings.extra_float("WR_DEBOUNCE_MS", 0)  # bad tuning values fail now, in one line
        for name in ("WR_SNAPSHOT_MS", "WR_HEARTBEAT_MS", "WR_LAPSE_S"):
            settings.extra_float(name, 0)
        backends = ensure_backends(
            settings.data_dir, settings.redis_url, None, need_postgres=False
        )
    except (ConfigError, EmbeddedServerError) as exc:
        print(f"waitingroom: {exc}", file=sys.stderr)
        return 2
    try:
        host = args.host or settings.host
        port = settings.waitingroom_port if args.port is None else args.port
        print(f"waitingroom listening on http://{host}:{port}", flush=True)
        serve(create_app(settings, backends.redis_url or ""), host, port)
    except OSError as exc:
        print(f"waitingroom: cannot listen: {exc}", file=sys.stderr)
        return 1
    finally:
        backends.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
