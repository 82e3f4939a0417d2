"""mfif batch: many stacks on a Dask cluster, the same bytes as mfif fuse, resumable by content."""

from __future__ import annotations

import csv
import io
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import mfif
from mfif.batching import STATE_NAME, find_stacks
from mfif.errors import StackError

from conftest import complementary_stack

distributed = pytest.importorskip("distributed", reason="mfif batch needs dask.distributed")


def run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "mfif", *args],
        capture_output=True,
        text=True,
        env={**os.environ, "PYTHONWARNINGS": "ignore"},
    )


@pytest.fixture(scope="module")
def client():
    """A cluster of 2 workers inside the test process."""
    cluster = distributed.LocalCluster(
        n_workers=2, threads_per_worker=1, processes=False, dashboard_address=None
    )
    with cluster, distributed.Client(cluster) as client:
        yield client


def make_root(root: Path, *, broken: bool = True) -> Path:
    """Four small stacks (grey and colour, 2 to 4 frames, PNG and TIFF) and a broken one."""
    for k, (count, color, suffix) in enumerate(
        [(2, False, ".png"), (3, True, ".png"), (4, True, ".tif"), (3, False, ".jpg")]
    ):
        sources, _, _ = complementary_stack(count, color=color, height=48, width=64, seed=k)
        folder = root / f"stack{k}"
        folder.mkdir(parents=True)
        for index, source in enumerate(sources):
            mfif.save_image(folder / f"{index:02d}{suffix}", source)
        (folder / "notes.txt").write_text("not a frame")
    if broken:
        folder = root / "broken"
        folder.mkdir()
        mfif.save_image(folder / "00.png", complementary_stack(2, color=True)[0][0])
        (folder / "01.png").write_bytes(b"\x89PNG\r\n\x1a\n truncated")
    return root


def summary_rows(path: Path) -> dict[str, dict[str, str]]:
    return {row["stack"]: row for row in csv.DictReader(io.StringIO(path.read_text()))}


@pytest.mark.slow
def test_batch_equals_fuse_reports_the_broken_stack_and_resumes(tmp_path: Path, client) -> None:
    root, out = make_root(tmp_path / "root"), tmp_path / "out"
    summary = mfif.batch(root, out, client=client)
    by_name = {row.stack: row for row in summary.rows}
    assert [row.stack for row in summary.rows] == ["broken", *(f"stack{k}" for k in range(4))]
    assert by_name["broken"].status == "failed" and "01.png" in by_name["broken"].message
    assert [row.status for row in summary.rows[1:]] == ["fused"] * 4
    assert [row.frames for row in summary.rows[1:]] == [2, 3, 4, 3]
    assert all(row.peak_memory_mb > 0 and row.seconds > 0 for row in summary.rows[1:])
    for k, suffix in enumerate([".png", ".png", ".tif", ".jpg"]):
        batched = out / f"stack{k}{suffix}"
        alone = tmp_path / f"alone{k}{suffix}"
        frames = sorted(str(p) for p in (root / f"stack{k}").glob(f"*{suffix}"))
        assert run("fuse", *frames, "-o", str(alone)).returncode == 0
        assert batched.read_bytes() == alone.read_bytes()  # bit for bit, metadata included
    rows = summary_rows(out / "summary.csv")
    assert rows["broken"]["status"] == "failed" and rows["stack2"]["frames"] == "4"
    assert not (out / "broken.png").exists()

    again = mfif.batch(root, out, client=client)
    assert [row.status for row in again.rows] == ["failed"] + ["skipped"] * 4


@pytest.mark.slow
def test_resuming_goes_by_content_not_time(tmp_path: Path, client) -> None:
    root, out = make_root(tmp_path / "root", broken=False), tmp_path / "out"
    mfif.batch(root, out, client=client, method="sf")
    frame = root / "stack1" / "01.png"
    os.utime(frame, (1, 1))  # an older file time alone changes nothing
    assert mfif.batch(root, out, method="sf").counts() == {"fused": 0, "skipped": 4, "failed": 0}
    image = mfif.read_image(frame)[0]
    mfif.save_image(frame, np.clip(image + 0.1, 0, 1))  # new content
    (out / "stack3.jpg").write_bytes(b"damaged")  # a damaged output
    statuses = {
        row.stack: row.status for row in mfif.batch(root, out, client=client, method="sf").rows
    }
    assert statuses == {"stack0": "skipped", "stack1": "fused", "stack2": "skipped",
                        "stack3": "fused"}  # fmt: skip
    other = mfif.batch(root, out, client=client, method="sf", options={"block_size": 16})
    assert other.counts()["fused"] == 4  # other options, other results


@pytest.mark.slow
def test_csv_of_stacks_and_outputs(tmp_path: Path, client) -> None:
    root = make_root(tmp_path / "root", broken=False)
    table = root / "stacks.csv"
    table.write_text("stack,output\nstack0,first.tif\nstack2/*.tif,deep/second.png\n")
    out = tmp_path / "out"
    summary = mfif.batch(table, out, client=client, align="none")
    assert [row.status for row in summary.rows] == ["fused", "fused"]
    assert mfif.read_image(out / "first.tif")[0].shape == (48, 64)
    assert mfif.read_image(out / "deep" / "second.png")[0].shape == (48, 64, 3)


def test_stack_discovery(tmp_path: Path) -> None:
    root = make_root(tmp_path / "root", broken=False)
    (root / "stack0" / "reference.png").write_bytes((root / "stack0" / "00.png").read_bytes())
    (root / ".hidden").mkdir()
    jobs = find_stacks(root, root / "results", exclude=["reference.*"])
    assert [job.name for job in jobs] == ["stack0", "stack1", "stack2", "stack3"]
    assert [len(job.inputs) for job in jobs] == [2, 3, 4, 3]
    assert [Path(job.output).name for job in jobs][2:] == ["stack2.tif", "stack3.jpg"]
    assert len(find_stacks(root, root / "results", suffix="tif")[0].inputs) == 3
    with pytest.raises(StackError, match="holds images, not stack folders"):
        find_stacks(root / "stack1", tmp_path / "out")
    (tmp_path / "empty").mkdir()
    with pytest.raises(StackError, match="holds no stack"):
        find_stacks(tmp_path / "empty", tmp_path / "out")
    table = tmp_path / "twice.csv"
    table.write_text("stack,output\nroot/stack0,a.png\nroot/stack1,a.png\n")
    with pytest.raises(StackError, match="would both write"):
        find_stacks(table, tmp_path / "out")


def test_bad_settings_fail_before_any_work(tmp_path: Path) -> None:
    root = make_root(tmp_path / "root", broken=False)
    with pytest.raises(mfif.UnknownMethodError):
        mfif.batch(root, tmp_path / "out", method="no-such-method")
    with pytest.raises(mfif.OptionError, match="no option 'blocks'"):
        mfif.batch(root, tmp_path / "out", blocks=3)
    assert not (tmp_path / "out" / STATE_NAME).exists()


@pytest.mark.slow
def test_cli_batch_on_a_local_cluster_of_processes(tmp_path: Path) -> None:
    root, out = make_root(tmp_path / "root"), tmp_path / "out"
    result = run("batch", str(root), "--out", str(out), "--workers", "2", "-m", "gff")
    assert result.returncode == 3, result.stderr
    assert "5 stacks: 4 fused, 0 unchanged, 1 failed" in result.stdout
    failures = [line for line in result.stderr.splitlines() if line.startswith("mfif: ")]
    assert len(failures) == 1 and failures[0].startswith("mfif: broken: "), result.stderr
    assert "Traceback" not in result.stderr
    assert sorted(p.name for p in out.iterdir() if not p.name.startswith(".")) == [
        "stack0.png", "stack1.png", "stack2.tif", "stack3.jpg", "summary.csv",
    ]  # fmt: skip
    again = run("batch", str(root), "--out", str(out), "-m", "gff")
    assert "4 unchanged, 1 failed" in again.stdout and again.returncode == 3


def test_cli_batch_bad_root_is_one_sentence(tmp_path: Path) -> None:
    result = run("batch", str(tmp_path / "missing"), "--out", str(tmp_path / "out"))
    assert result.returncode == 2
    assert result.stderr.strip().count("\n") == 0 and "neither a folder" in result.stderr


@pytest.mark.slow
def test_upscaled_batch(tmp_path: Path, client) -> None:
    root, out = make_root(tmp_path / "root", broken=False), tmp_path / "out"
    summary = mfif.batch(root, out, client=client, method="sf", upscale=2, degradation="box")
    assert summary.counts()["fused"] == 4
    assert mfif.read_image(out / "stack1.png")[0].shape == (96, 128, 3)
    with pytest.raises(mfif.OptionError, match="upscaling factor"):
        mfif.batch(root, out, client=client, degradation="box")
