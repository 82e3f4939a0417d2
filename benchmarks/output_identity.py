"""Fingerprints of what ``mfif fuse`` writes, per method, scene and storage: run it before and
after a change that must not change behaviour, and compare the two JSON files.

Every method fuses every scene of the sets given through the command line (``mfif.cli.main``,
in this process), in memory and from disk (``MFIF_STREAM_ABOVE=0``; methods that cannot
stream run in memory both times); the sha256 of the samples of the fused PNG, the depth map
and the weight maps are recorded.

    .venv/bin/python benchmarks/output_identity.py build/synthetic/middlebury2006-depth \
        build/synthetic/davis2016-mask --out before.json
    .venv/bin/python benchmarks/output_identity.py ... --out after.json --compare before.json
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import sys
import tempfile
from pathlib import Path

import cv2
import numpy as np

from mfif.cli import main as mfif_main
from mfif.methods import create, list_methods

STORAGES = {"memory": None, "disk": "0"}


def scenes(folder: Path) -> list[tuple[str, list[Path]]]:
    """(name, sources) of each scene under ``folder`` (`mfif.data.scenes.find_scenes`: the
    ground truth and label images are not sources)."""
    from mfif.data.scenes import find_scenes

    found = find_scenes([folder])[0]
    return [(f"{folder.name}/{scene.name}", list(scene.sources)) for scene in found]


def digest(path: Path) -> str:
    """sha256 of the image's samples (not of the file: a change of PNG encoder settings
    changes the bytes, not what they hold)."""
    samples = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
    return hashlib.sha256(np.ascontiguousarray(samples).tobytes()).hexdigest()[:16]


def fingerprint(method: str, sources: list[Path], folder: Path, weights: bool) -> dict:
    """sha256 of the samples of each image ``mfif fuse`` wrote into ``folder``."""
    output = folder / "fused.png"
    command = ["fuse", *map(str, sources), "-o", str(output), "-m", method]
    if weights:
        command += ["--depth-index", str(folder / "depth.png")]
        command += ["--weights", str(folder / "weights")]
    status = mfif_main(command)
    if status != 0:
        return {"status": status}
    return {str(path.relative_to(folder)): digest(path) for path in sorted(folder.rglob("*.png"))}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("sets", nargs="+", type=Path)
    parser.add_argument("--methods", nargs="+", default=None, help="default: all but slow ones")
    parser.add_argument("--limit", type=int, default=None, help="scenes per set")
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--compare", type=Path, help="an earlier run's JSON")
    args = parser.parse_args()
    methods = args.methods or list_methods(include_external=False, include_slow=False)
    results: dict[str, dict] = {}
    for folder in args.sets:
        for scene, sources in scenes(folder)[: args.limit]:
            for method in methods:
                fuser = create(method)
                storages = {"memory": None} if fuser.needs_all_frames else STORAGES
                for storage, threshold in storages.items():
                    if threshold is None:
                        os.environ.pop("MFIF_STREAM_ABOVE", None)
                    else:
                        os.environ["MFIF_STREAM_ABOVE"] = threshold
                    with tempfile.TemporaryDirectory() as folder_name:
                        key = f"{scene} {method} {storage}"
                        results[key] = fingerprint(
                            method, sources, Path(folder_name), fuser.produces_weights
                        )
                        print(key, results[key].get("fused.png"), flush=True)
    os.environ.pop("MFIF_STREAM_ABOVE", None)
    args.out.write_text(json.dumps(results, indent=1, sort_keys=True) + "\n")
    if args.compare is None:
        return 0
    before = json.loads(args.compare.read_text())
    changed = [key for key in results if key in before and before[key] != results[key]]
    missing = [key for key in before if key not in results]
    for key in changed:
        print(f"changed: {key}: {before[key]} -> {results[key]}")
    print(f"{len(results)} runs, {len(changed)} changed, {len(missing)} not run now")
    return 1 if changed else 0


if __name__ == "__main__":
    sys.exit(main())
