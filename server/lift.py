"""The statistics of the lift: Wilson and Newcombe intervals and the plain-language verdict.

Pure functions.  The lift is the difference of two adoption rates (treatment
minus holdout, intention to treat); its 95 % interval is Newcombe's hybrid
score interval (method 10), which combines the Wilson intervals of the rates
and behaves well for small groups and rates near 0 or 1.
"""

from __future__ import annotations

import math
from typing import Final

__all__ = ["Z95", "newcombe_diff", "points", "verdict", "wilson"]

Z95: Final = 1.959963984540054


def wilson(successes: int, n: int, z: float = Z95) -> tuple[float, float]:
    """Wilson score interval for a proportion."""
    if n == 0:
        return 0.0, 1.0
    p = successes / n
    denom = 1 + z * z / n
    centre = (p + z * z / (2 * n)) / denom
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / denom
    return max(0.0, centre - half), min(1.0, centre + half)


def newcombe_diff(a: int, n1: int, b: int, n2: int) -> tuple[float, float, float]:
    """Difference p1 - p2 with Newcombe's hybrid score 95 % interval (method 10)."""
    p1, p2 = a / n1, b / n2
    l1, u1 = wilson(a, n1)
    l2, u2 = wilson(b, n2)
    d = p1 - p2
    lo = d - math.sqrt((p1 - l1) ** 2 + (u2 - p2) ** 2)
    hi = d + math.sqrt((u1 - p1) ** 2 + (p2 - l2) ** 2)
    return d, lo, hi


def points(share: float) -> str:
    """A difference of rates in percentage points, as a person would say it."""
    value = abs(share) * 100
    return f"{value:.1f}" if value < 1 else f"{value:.0f}"


def verdict(lo: float, hi: float) -> str:
    """What the interval of a lift says, in words a change manager can repeat."""
    if lo > 0:
        return f"Nudges raised adoption by {points(lo)} to {points(hi)} points."
    if hi < 0:
        return f"Nudges lowered adoption by {points(hi)} to {points(lo)} points."
    return (
        "No evidence of an effect yet: the difference is somewhere between "
        f"{'−' if lo < 0 else '+'}{points(lo)} and {'+' if hi >= 0 else '−'}{points(hi)} points."
    )
