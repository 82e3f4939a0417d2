"""DFP's time and peak memory against input size and scale on 2 cores: the whole `mfif fuse -m
dfp` process on a Lytro pair resized to each size, with enfuse on the same files in the same
run (the peer), each run alone in a child process.

    .venv/bin/python benchmarks/dfp_speed.py --sizes 128 256 512 --scales 1 2
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

import cv2

from _common import ENFUSE_FLAGS, child_run, real_stacks, require_enfuse, require_shared


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", nargs="+", type=int, default=[128, 256, 512])
    parser.add_argument("--scales", nargs="+", type=int, default=[1, 2])
    args = parser.parse_args()
    datasets = require_shared()
    enfuse = require_enfuse()
    _, paths = real_stacks(datasets, "lytro")[0]
    mfif_command = str(Path(sys.executable).with_name("mfif"))
    print(f"Lytro pair {paths[0].parent.name} resized; 2 CPU cores; whole processes\n")
    print("| input | scale | output | dfp s | dfp peak RSS, MB | enfuse s (×1) | ratio |")
    print("|---|---|---|---|---|---|---|")
    with tempfile.TemporaryDirectory() as folder:
        for side in args.sizes:
            resized = []
            for k, path in enumerate(paths):
                image = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
                resized.append(Path(folder) / f"{side}-{k}.png")
                cv2.imwrite(str(resized[-1]), cv2.resize(image, (side, side), cv2.INTER_AREA))
            peer, _ = child_run(
                [enfuse, *ENFUSE_FLAGS, f"--output={folder}/e.tif", *map(str, resized)]
            )
            for scale in args.scales:
                seconds, megabytes = child_run(
                    [mfif_command, "fuse", "-m", "dfp", "--option", f"scale={scale}",
                     "--align", "none", *map(str, resized), "-o", f"{folder}/out.png"]
                )  # fmt: skip
                output = side * scale
                print(
                    f"| {side}² | ×{scale} | {output}² | {seconds:.1f} | {megabytes:.0f} | "
                    f"{peer:.2f} | {seconds / peer:.0f} |",
                    flush=True,
                )


if __name__ == "__main__":
    main()
