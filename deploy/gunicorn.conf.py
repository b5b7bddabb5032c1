"""gunicorn settings for both apps; the app and the address come from the command line:

    gunicorn fairgate.gunicorn:waitingroom_app -c deploy/gunicorn.conf.py --bind 0.0.0.0:8080
    gunicorn fairgate.gunicorn:ticketing_app   -c deploy/gunicorn.conf.py --bind 0.0.0.0:8081

One event loop per worker process; a worker holds thousands of idle polling connections, so the
worker count follows CPU cores, not concurrent visitors.
"""

import importlib.util
import multiprocessing
import os

# uvloop when it is installed (it is on Linux, see setup.cfg), the asyncio loop otherwise.
worker_class = (
    "aiohttp.GunicornUVLoopWebWorker"
    if importlib.util.find_spec("uvloop") is not None
    else "aiohttp.GunicornWebWorker"
)

# WEB_CONCURRENCY is gunicorn's own convention for the worker count; default: one per core.
workers = int(os.environ.get("WEB_CONCURRENCY") or multiprocessing.cpu_count())

# Kept above HAProxy's idle timeouts (deploy/haproxy.cfg) so the proxy, not the app, closes an
# idle keep-alive connection; the other way round a reused connection can race a close (502).
keepalive = 75

# A worker that blocks its loop this long is killed and replaced (the heartbeat is the loop).
timeout = 30
# On SIGTERM, requests in flight get this long; seat streams end at once (on_shutdown).
graceful_timeout = 20

# Per-request access logs cost more than the polls they describe; the apps log one line per
# event and expose request latency on /metrics.
accesslog = None
errorlog = "-"
loglevel = "info"

# Every worker imports the app after fork: each opens its own Redis and PostgreSQL pools.
preload_app = False

# gunicorn 24+ opens a control socket under $HOME by default; two gunicorns on one host (both
# apps) would fight over it, and the image's home is read-only in Kubernetes. Older versions
# ignore the name.
control_socket_disable = True


def on_starting(server: object) -> None:
    """Check the environment once in the arbiter, before forking workers that would all fail;
    with several workers, give their Prometheus counters a fresh shared directory so /metrics
    of any worker answers the sum (prometheus-client multiprocess mode)."""
    from fairgate.gunicorn import check_environment
    from fairgate.supervisor import prepare_metrics

    check_environment(getattr(server.app, "app_uri", None) or "")
    server.metrics_dir = prepare_metrics("gunicorn", server.cfg.workers)


def child_exit(server: object, worker: object) -> None:
    from fairgate.supervisor import forget_process

    forget_process(worker.pid)


def on_exit(server: object) -> None:
    import shutil

    if getattr(server, "metrics_dir", None):
        shutil.rmtree(server.metrics_dir, ignore_errors=True)
