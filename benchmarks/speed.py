"""Speed and peak memory of whole ``mfif fuse`` processes, with enfuse and focus-stack in the
same run, and the time it takes only to decode the frames (the floor).

Stacks (written once to build/speed/):

- **3 x 2 MP**: frames 2-4 of ``petteri__pcb`` at 1632x1224 (PNG);
- **7 x 3 MP**: ``petteri__pcb`` itself (JPEG, 2048x1536, real breathing);
- with ``--networks``: **4 x 1.6 MP** and **6 x 1.6 MP**, the first 4 and all 6 frames of
  ``cmcguinness__ring`` (1521x1141), for the learned methods.

Each row is the median of ``--repeats`` runs of the whole process (start-up, decoding,
alignment ``auto``, fusion, encoding), peak resident memory of the child, and the ratio to
enfuse and to focus-stack measured in the same run. The 24 MP x 30 row is
``benchmarks/scale.py``'s.

    .venv/bin/python benchmarks/speed.py [--repeats 3] [--networks] [--methods a,b]
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import sys
import tempfile
from pathlib import Path

import cv2

from mfif.io import expand_inputs, load_frames
from mfif.methods import list_methods

from _common import ENFUSE_FLAGS, child_run, median_seconds, require_shared

ROOT = Path(__file__).resolve().parents[1]
MFIF = str(Path(sys.executable).with_name("mfif"))
NETWORKS = ("msa-siamese", "ufa-fuse", "udpnet")


def stacks(datasets: Path, networks: bool) -> dict[str, list[Path]]:
    pcb = expand_inputs([datasets / "stacks" / "petteri__pcb"], exclude=["reference*"])
    small = ROOT / "build" / "speed" / "pcb-3x2mp"
    if not small.is_dir():
        small.mkdir(parents=True)
        for k, path in enumerate(pcb[2:5]):
            image = cv2.imread(str(path))
            cv2.imwrite(str(small / f"{k}.png"), cv2.resize(image, (1632, 1224), cv2.INTER_AREA))
    found = {"3 x 2 MP": sorted(small.iterdir()), "7 x 3 MP (pcb)": pcb}
    if networks:
        ring = expand_inputs([datasets / "stacks" / "cmcguinness__ring"], exclude=["reference*"])
        found["4 x 1.6 MP (ring)"] = ring[:4]
        found["6 x 1.6 MP (ring)"] = ring
    return found


def timed(command: list[str], repeats: int) -> tuple[float, float]:
    runs = [child_run(command) for _ in range(repeats)]
    return statistics.median(r[0] for r in runs), max(r[1] for r in runs)


def decode_seconds(paths: list[Path], repeats: int) -> float:
    """Reading the frames, as mfif does (in-process, its decoding threads)."""

    def read() -> None:
        with load_frames(paths):
            pass

    return median_seconds(read, repeats)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--networks", action="store_true", help="also the learned methods")
    parser.add_argument("--methods", help="comma-separated (default: every classical method)")
    args = parser.parse_args()
    classical = [m for m in list_methods(include_external=False, include_slow=False)
                 if m not in NETWORKS and not m.endswith("-paper")]  # fmt: skip
    methods = args.methods.split(",") if args.methods else classical
    print("| stack | method | seconds | peak MB | x enfuse | x focus-stack |")
    print("|---|---|---|---|---|---|")
    with tempfile.TemporaryDirectory() as scratch:
        for label, paths in stacks(require_shared(), args.networks).items():
            frames = list(map(str, paths))
            peers = {}
            if shutil.which("enfuse"):
                peers["enfuse"] = timed(
                    ["enfuse", *ENFUSE_FLAGS, f"--output={scratch}/e.tif", *frames], args.repeats
                )
            if shutil.which("focus-stack"):
                peers["focus-stack"] = timed(
                    ["focus-stack", *frames, f"--output={scratch}/f.jpg"], args.repeats
                )
            for name, (seconds, peak) in peers.items():
                print(f"| {label} | {name} | {seconds:.2f} | {peak:.0f} | | |")
            floor = decode_seconds(paths, args.repeats)
            print(f"| {label} | decoding only (mfif.load_frames) | {floor:.2f} | | | |")
            chosen = [*methods, *(NETWORKS if args.networks and "ring" in label else ())]
            for method in chosen:
                command = [MFIF, "fuse", *frames, "-m", method, "-o", f"{scratch}/o.png"]
                seconds, peak = timed(command, args.repeats)
                ratios = [
                    f"{seconds / peers[p][0]:.2f}" if p in peers else "–"
                    for p in ("enfuse", "focus-stack")
                ]
                print(f"| {label} | {method} | {seconds:.2f} | {peak:.0f} | {' | '.join(ratios)} |")


if __name__ == "__main__":
    main()
