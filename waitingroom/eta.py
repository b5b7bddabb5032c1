"""Expected waits with a range, from the measured admission rate and the no-show ratio.

A visitor with ``a`` people ahead waits until the room has spent ``a * (1 - q) + 1`` admissions,
where ``q`` is the share of called visitors who are skipped because they stopped polling (they
cost no admission). Dividing by the admission rate gives the estimate. The range widens it by

* the count: how many of the people ahead turn out to be no-shows is a binomial draw, so its
  spread (``Z`` standard deviations) is taken both ways;
* the rate: a measured rate is trusted to within ``RATE_SPREAD``, the knob alone (nothing measured
  yet) to within ``UNMEASURED_SPREAD``; the fastest possible rate is never below the knob, which
  covers a full room whose sessions end early and a knob raised less than a minute ago;
* the clock: admission happens at ticks and is seen at the next snapshot, ``slack_s`` either way.

In a ``random`` room the order is a lottery: with ``w`` present visitors waiting and nobody new
arriving, a visitor is equally likely to be drawn at any point of the next ``w`` admissions, so
the estimate is half the time to empty the queue and the range runs from the start to the end of
it. New arrivals join the same lottery and lengthen everyone's wait; the range does not foresee
them.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

# Standard deviations of the no-show count taken each way (about a 95 % band).
Z = 2.0
# Relative spread of a measured rate, and of the knob when nothing was measured yet.
RATE_SPREAD = 0.10
UNMEASURED_SPREAD = 0.20


@dataclass(slots=True)  # one per poll: a frozen dataclass's __init__ costs several times more
class Estimate:
    """An expected wait in whole seconds and the range the actual wait should fall in."""

    eta_s: int
    low_s: int
    high_s: int

    @property
    def range_s(self) -> list[int]:
        return [self.low_s, self.high_s]


@dataclass(frozen=True, slots=True)
class Rate:
    """Admissions per minute to predict with, and the slowest and fastest believable."""

    expected: float
    low: float
    high: float


def rate_band(
    knob: float, measured: float | None, *, active: int, max_active: int, session_ttl: int,
) -> Rate | None:
    """The admission rate a waiting visitor can count on; None while nobody is admitted.

    The measured rate knows about a full ``max_active``; the knob knows about a change the last
    minute has not seen yet. While every slot is taken, people get in only as sessions end,
    which at the latest happens after ``session_ttl``.
    """
    if knob <= 0:
        return None
    rate = float(knob)
    if measured is not None and measured > 0:
        rate = min(rate, measured)
    if active >= max_active:
        rate = min(rate, max_active * 60 / session_ttl)
    spread = RATE_SPREAD if measured else UNMEASURED_SPREAD
    return Rate(rate, rate * (1 - spread), max(rate * (1 + spread), float(knob)))


def _whole(seconds: float) -> int:
    """Nearest whole second (halves up): the estimate is a middle, not a bound."""
    return math.floor(seconds + 0.5)


class FifoWaits:
    """:func:`fifo_wait` for one no-show ratio, rate band and slack: what depends on the room
    alone is worked out once, and each visitor of a room snapshot costs a few multiplications.
    """

    __slots__ = ("_per_eta", "_per_high", "_per_low", "_present", "_slack_s", "_variance")

    def __init__(self, noshow: float, rate: Rate, *, slack_s: float = 0.0) -> None:
        q = min(max(noshow, 0.0), 0.95)
        self._present = 1 - q  # the share of the people ahead who will cost an admission
        self._variance = Z * Z * q * (1 - q)  # of the no-show count, per person ahead, Z² times
        self._per_eta = 60 / rate.expected
        self._per_low = 60 / rate.high
        self._per_high = 60 / rate.low
        self._slack_s = slack_s

    def __call__(self, ahead: int) -> Estimate:
        """The wait of a visitor with ``ahead`` people before them."""
        return Estimate(*self.bounds(ahead))

    def bounds(self, ahead: int) -> tuple[int, int, int]:
        """The :class:`Estimate`'s fields (eta, low, high), without building one: the status
        poll's path calls this. Comparisons instead of min()/max() calls, which cost several
        times more."""
        needed = ahead * self._present + 1
        spread = math.sqrt(ahead * self._variance)
        eta = math.floor(needed * self._per_eta + 0.5)  # _whole(), without the call
        fewest = needed - spread if needed - spread > 1.0 else 1.0
        low = math.floor(fewest * self._per_low - self._slack_s)
        high = math.ceil((needed + spread) * self._per_high + self._slack_s)
        if low > eta:
            low = eta
        return eta, low if low > 0 else 0, high if high > eta else eta


def fifo_wait(ahead: int, noshow: float, rate: Rate, *, slack_s: float = 0.0) -> Estimate:
    """Wait of a visitor with ``ahead`` people before them in a first-come room."""
    return FifoWaits(noshow, rate, slack_s=slack_s)(ahead)


def lottery_wait(waiting: int, noshow: float, rate: Rate, *, slack_s: float = 0.0) -> Estimate:
    """Wait of a visitor among ``waiting`` people (themselves included) in a random room."""
    q = min(max(noshow, 0.0), 0.95)
    present = max(1.0, waiting * (1 - q))
    eta = _whole((present + 1) / 2 * 60 / rate.expected)
    high = math.ceil(present * 60 / rate.low + slack_s)
    return Estimate(eta, 0, max(high, eta))


def drain_wait(queue_length: int, noshow: float, rate: Rate | None) -> Estimate | None:
    """How long until the last person now in line is admitted (the operator's preview)."""
    if queue_length <= 0:
        return Estimate(0, 0, 0)
    if rate is None:
        return None
    return fifo_wait(queue_length - 1, noshow, rate)
