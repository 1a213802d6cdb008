"""Peak overlap of time intervals: how many tasks ran at once, from their start/end times."""

from collections.abc import Iterable, Sequence


def peak_overlap(intervals: Iterable[Sequence[float]]) -> int:
    """The most intervals open at one moment (one ending as another starts do not overlap)."""
    edges = sorted(edge for start, end in intervals for edge in ((start, 1), (end, -1)))
    peak = current = 0
    for _, step in edges:
        current += step
        peak = max(peak, current)
    return peak
