"""Speed and peak memory of whole ``mfif fuse`` processes, with enfuse and focus-stack in the
same run, and the time it takes only to decode the frames (the floor).

Stacks (written once to build/speed/):

- **3 x 2 MP**: frames 2-4 of ``petteri__pcb`` at 1632x1224 (PNG), which breathe;
- **3 x 2 MP still**: one frame of ``petteri__pcb`` at 1632x1224, defocused three ways along a
  depth ramp (Gaussian σ up to 5 px), without motion: what `auto`'s cheap check passes;
- **7 x 3 MP**: ``petteri__pcb`` itself (JPEG, 2048x1536, real breathing);
- with ``--networks``: **4, 6 and 8 x 1.6 MP**: the first 4 and all 6 frames of
  ``cmcguinness__ring`` (1521x1141), and the 6 followed by copies of frames 2 and 3 (the cost
  of 8 frames; the ring has 6), for the learned methods.

Each row is the median of ``--repeats`` runs of the whole process (start-up, decoding,
alignment ``auto``, fusion, encoding) and peak resident memory of the child. The programs of a
stack run in rounds (each once per round, in turn), and the ratio to enfuse and to focus-stack
is the median of the rounds' own ratios, with their range: a slow spell of the shared machine
slows a round's programs alike. The 24 MP x 30 row is
``benchmarks/scale.py``'s.

With ``--networks`` a second table gives each network's arithmetic on the 4- and 8-frame ring
stacks: the floating-point operations its fusion executes (counted by PyTorch's
``FlopCounterMode``, tile overlaps included; a multiply-add is 2), per megapixel of the
stack, the time of the fusion alone (in-process, frames loaded, median of ``--repeats``) and
the rate achieved, against the machine's peak (2 cores x 32 float32 operations per cycle at
the nominal clock; bfloat16 doubles it).

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
import numpy as np

from mfif.cli import tune_memory
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
    found = {
        "3 x 2 MP": sorted(small.iterdir()),
        "3 x 2 MP still": still_stack(pcb[3]),
        "7 x 3 MP (pcb)": pcb,
    }
    if networks:
        ring = expand_inputs([datasets / "stacks" / "cmcguinness__ring"], exclude=["reference*"])
        found["4 x 1.6 MP (ring)"] = ring[:4]
        found["6 x 1.6 MP (ring)"] = ring
        eight = ROOT / "build" / "speed" / "ring-8"
        if not eight.is_dir():
            eight.mkdir(parents=True)
            for k, path in enumerate([*ring, ring[2], ring[3]]):
                shutil.copyfile(path, eight / f"{k}{path.suffix}")
        found["8 x 1.6 MP (ring)"] = sorted(eight.iterdir())
    return found


def still_stack(path: Path) -> list[Path]:
    """Three frames of one image without motion, each sharp on a third of a depth ramp
    (Gaussian blur growing to σ 5 px away from it)."""
    folder = ROOT / "build" / "speed" / "still-3x2mp"
    if not folder.is_dir():
        folder.mkdir(parents=True)
        image = cv2.resize(cv2.imread(str(path)), (1632, 1224), cv2.INTER_AREA).astype(np.float32)
        levels = np.stack([image] + [cv2.GaussianBlur(image, (0, 0), s) for s in (1.5, 3, 5)])
        depth = np.linspace(0, 1, image.shape[1], dtype=np.float32)[None, :, None]
        for k, focus in enumerate((1 / 6, 1 / 2, 5 / 6)):
            level = np.clip(np.abs(depth - focus) * 7.2, 0, 3) * np.ones_like(image[..., :1])
            low = np.floor(level).astype(int)
            fraction = level - low
            below = np.take_along_axis(levels, low[None].repeat(3, -1), 0)[0]
            above = np.take_along_axis(levels, np.minimum(low + 1, 3)[None].repeat(3, -1), 0)[0]
            frame = below * (1 - fraction) + above * fraction
            cv2.imwrite(str(folder / f"{k}.png"), np.clip(frame + 0.5, 0, 255).astype(np.uint8))
    return sorted(folder.iterdir())


def interleaved(commands: dict[str, list[str]], repeats: int) -> dict[str, list[tuple]]:
    """Each command run ``repeats`` times, in rounds that run every command once: a slow spell
    of the machine slows a program and its peers alike. {name: [(seconds, peak MB), ...]}."""
    runs: dict[str, list[tuple]] = {name: [] for name in commands}
    for _ in range(repeats):
        for name, command in commands.items():
            runs[name].append(child_run(command))
    return runs


def median_of(runs: list[tuple]) -> float:
    return statistics.median(seconds for seconds, _ in runs)


def peak_of(runs: list[tuple]) -> float:
    return max(peak for _, peak in runs)


def ratio(runs: list[tuple], peer_runs: list[tuple]) -> str:
    """The median of the per-round time ratios to a peer, with their range: "0.70
    (0.66-0.74)"."""
    ratios = sorted(mine / theirs for (mine, _), (theirs, _) in zip(runs, peer_runs, strict=True))
    middle = statistics.median(ratios)
    return (
        f"{middle:.2f} ({ratios[0]:.2f}-{ratios[-1]:.2f})" if len(ratios) > 1 else f"{middle:.2f}"
    )


def decode_seconds(paths: list[Path], repeats: int) -> float:
    """Reading the frames, as mfif does (in-process, its decoding threads)."""

    def read() -> None:
        with load_frames(paths):
            pass

    return median_seconds(read, repeats)


def arithmetic(method: str, paths: list[Path], repeats: int) -> tuple[float, float, str]:
    """(GFLOP per megapixel of the stack, seconds of the fusion alone, precision)."""
    import torch
    from torch.utils.flop_counter import FlopCounterMode

    import mfif

    fuser = mfif.create(method)
    with load_frames(paths) as frames:
        stack = frames.materialise()
    # The counter sees only its own thread: counted with the tiles run one after another.
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        with FlopCounterMode(display=False) as counter:
            fuser.fuse(stack)
    finally:
        torch.set_num_threads(threads)
    pixels = stack.images.shape[1] * stack.images.shape[2] / 1e6
    seconds = median_seconds(lambda: fuser.fuse(stack), repeats)
    precision = "bfloat16" if getattr(fuser, "_bfloat16", False) else "float32"
    return counter.get_total_flops() / 1e9 / pixels, seconds, precision


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--networks", action="store_true", help="also the learned methods")
    parser.add_argument("--methods", help="comma-separated (default: every classical method)")
    args = parser.parse_args()
    # The in-process rows (decoding only, the networks' arithmetic) get memory as the `mfif`
    # process does: untuned, the first reads of pcb fault fresh pages in (1.2 s, not 0.15).
    tune_memory()
    classical = [m for m in list_methods(include_external=False, include_slow=False)
                 if m not in NETWORKS and not m.endswith("-paper")]  # fmt: skip
    methods = args.methods.split(",") if args.methods else classical
    print("| stack | method | seconds | peak MB | x enfuse | x focus-stack |")
    print("|---|---|---|---|---|---|")
    with tempfile.TemporaryDirectory() as scratch:
        for label, paths in stacks(require_shared(), args.networks).items():
            frames = list(map(str, paths))
            commands = {}
            if shutil.which("enfuse"):
                commands["enfuse"] = ["enfuse", *ENFUSE_FLAGS, f"--output={scratch}/e.tif", *frames]
            if shutil.which("focus-stack"):
                commands["focus-stack"] = ["focus-stack", *frames, f"--output={scratch}/f.jpg"]
            peers = list(commands)
            for method in [*methods, *(NETWORKS if args.networks and "ring" in label else ())]:
                commands[method] = [MFIF, "fuse", *frames, "-m", method, "-o", f"{scratch}/o.png"]
            runs = interleaved(commands, args.repeats)
            for name in peers:
                seconds, peak = median_of(runs[name]), peak_of(runs[name])
                print(f"| {label} | {name} | {seconds:.2f} | {peak:.0f} | | |")
            floor = decode_seconds(paths, args.repeats)
            print(f"| {label} | decoding only (mfif.load_frames) | {floor:.2f} | | | |")
            for method in [name for name in commands if name not in peers]:
                ratios = [ratio(runs[method], runs[p]) if p in runs else "–"
                          for p in ("enfuse", "focus-stack")]  # fmt: skip
                print(
                    f"| {label} | {method} | {median_of(runs[method]):.2f} "
                    f"| {peak_of(runs[method]):.0f} | {' | '.join(ratios)} |"
                )
    if args.networks:
        print_arithmetic(stacks(require_shared(), True), args.repeats)


def print_arithmetic(found: dict[str, list[Path]], repeats: int) -> None:
    peak = 2 * 32 * nominal_ghz()  # GFLOP/s, float32, 2 cores
    print(f"\nNetworks' arithmetic (peak {peak:.0f} GFLOP/s float32, twice that in bfloat16):\n")
    print("| stack | method | GFLOP per MP | fusion s | GFLOP/s | precision | share of peak |")
    print("|---|---|---|---|---|---|---|")
    for label in ("4 x 1.6 MP (ring)", "8 x 1.6 MP (ring)"):
        paths = found[label]
        height, width = cv2.imread(str(paths[0])).shape[:2]
        megapixels = height * width / 1e6
        for method in NETWORKS:
            gflop, seconds, precision = arithmetic(method, paths, repeats)
            rate = gflop * megapixels / seconds
            top = peak * (2 if precision == "bfloat16" else 1)
            print(
                f"| {label} | {method} | {gflop:.0f} | {seconds:.2f} | {rate:.0f} | {precision} "
                f"| {rate / top:.0%} |"
            )


def nominal_ghz() -> float:
    """The CPU clock /proc/cpuinfo reports (GHz), 2.5 when it reports none."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("cpu MHz"):
                return float(line.split(":")[1]) / 1000
    except OSError:
        pass
    return 2.5


if __name__ == "__main__":
    main()
