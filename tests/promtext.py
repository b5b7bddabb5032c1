"""Reading ``/metrics`` in tests: the samples of a Prometheus text page, by name and labels."""

from __future__ import annotations

from prometheus_client.parser import text_string_to_metric_families

Samples = dict[tuple[str, tuple[tuple[str, str], ...]], float]


def samples_of(text: str) -> Samples:
    return {(s.name, tuple(sorted(s.labels.items()))): s.value
            for family in text_string_to_metric_families(text) for s in family.samples}


def value(samples: Samples, name: str, **labels: str) -> float:
    """The sample's value, 0 when the page has none (a counter nothing has moved yet)."""
    return samples.get((name, tuple(sorted(labels.items()))), 0.0)
