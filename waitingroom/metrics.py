"""Prometheus counters of the waiting room, served by fairgate.web's ``/metrics``."""

from __future__ import annotations

from prometheus_client import Counter

JOINS = Counter("waitingroom_joins_total", "Numbers handed out", ["room"])
POLLS = Counter("waitingroom_polls_total", "Status polls answered", ["room"])
ADMISSIONS = Counter("waitingroom_admissions_total", "Visitors admitted", ["room"])
LAPSES = Counter("waitingroom_lapses_total", "Visitors skipped for not polling", ["room"])
RESTORES = Counter(
    "waitingroom_restores_total", "Visitors put back from their ticket (lapsed or lost)", ["room"]
)
