"""Ticketing knobs read from ``TK_*`` environment variables (Settings.extra)."""

from __future__ import annotations

from dataclasses import dataclass

from fairgate.config import Settings


@dataclass(frozen=True)
class Tuning:
    # Longest a buyer waits for another buyer's seat lock before a 409 with Retry-After.
    lock_timeout_ms: int = 2000
    # Longest a request waits for a pooled connection before answering 503.
    acquire_timeout_s: float = 5.0
    # How often expired holds are swept, and how many seats one sweep transaction frees.
    sweep_interval_s: float = 1.0
    sweep_batch: int = 500
    # Seat changes arriving within this window go out as one SSE message per event.
    stream_coalesce_s: float = 0.25
    # A comment line this often keeps proxies from closing an idle stream.
    stream_heartbeat_s: float = 15.0
    # Telling the waiting room a visitor left must never hold up a buyer's answer.
    waitingroom_timeout_s: float = 2.0
    # A retry with the same Idempotency-Key is recognised for this long.
    idempotency_ttl_s: float = 24 * 3600.0
    # Seat ids accepted in one hold request, whatever the event's own limit.
    max_seats_per_request: int = 50

    @classmethod
    def from_settings(cls, settings: Settings) -> Tuning:
        d = cls()
        return cls(
            lock_timeout_ms=max(1, int(settings.extra_float("TK_LOCK_TIMEOUT_MS",
                                                            d.lock_timeout_ms))),
            acquire_timeout_s=settings.extra_float("TK_ACQUIRE_TIMEOUT_S", d.acquire_timeout_s),
            sweep_interval_s=max(0.05, settings.extra_float("TK_SWEEP_INTERVAL_S",
                                                            d.sweep_interval_s)),
            sweep_batch=max(1, int(settings.extra_float("TK_SWEEP_BATCH", d.sweep_batch))),
            stream_coalesce_s=settings.extra_float("TK_STREAM_COALESCE_MS",
                                                   d.stream_coalesce_s * 1000) / 1000,
            stream_heartbeat_s=max(1.0, settings.extra_float("TK_STREAM_HEARTBEAT_S",
                                                             d.stream_heartbeat_s)),
            waitingroom_timeout_s=settings.extra_float("TK_WAITINGROOM_TIMEOUT_S",
                                                       d.waitingroom_timeout_s),
            idempotency_ttl_s=settings.extra_float("TK_IDEMPOTENCY_TTL_S", d.idempotency_ttl_s),
        )
