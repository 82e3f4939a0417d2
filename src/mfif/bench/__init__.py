"""`mfif bench`: every method on every scene, metrics, ranks, and CSV / markdown / HTML reports."""

from ..data.scenes import Scene, find_scenes
from .ranks import average_ranks
from .runner import DEFAULT_METRICS, Record, run_benchmark

__all__ = ["DEFAULT_METRICS", "Record", "Scene", "average_ranks", "find_scenes", "run_benchmark"]
