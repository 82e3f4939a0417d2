"""`mfif bench`: every method on every scene, metrics, ranks, and CSV / markdown / HTML reports."""

from .ranks import average_ranks
from .runner import DEFAULT_METRICS, Record, run_benchmark
from .scenes import Scene, find_scenes

__all__ = ["DEFAULT_METRICS", "Record", "Scene", "average_ranks", "find_scenes", "run_benchmark"]
