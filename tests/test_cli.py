"""The command line, run as a user would: real processes, exit codes, stderr."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest

import mfif

from conftest import complementary_stack, on_a_terminal, sharp_image


def run(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "mfif", *args],
        capture_output=True,
        text=True,
        cwd=cwd,
        env={**os.environ, "PYTHONWARNINGS": "ignore"},
    )


@pytest.fixture
def pair(tmp_path: Path) -> list[Path]:
    sources, _, _ = complementary_stack(2, color=True)
    names = ("A", "B")
    return [mfif.save_image(tmp_path / f"{n}.png", s) for n, s in zip(names, sources, strict=True)]


def assert_one_sentence_error(result: subprocess.CompletedProcess[str], fragment: str) -> None:
    assert result.returncode == 2, result.stderr
    assert "Traceback" not in result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("mfif: error: ") and fragment in lines[0], lines[0]


def test_fuse_writes_image_weights_and_depth(tmp_path: Path, pair: list[Path]) -> None:
    out = tmp_path / "out" / "fused.png"
    out.parent.mkdir()
    result = run(
        "fuse",
        *map(str, pair),
        "-o",
        str(out),
        "--weights",
        str(tmp_path / "w"),
        "--depth-index",
        str(tmp_path / "depth.png"),
    )
    assert result.returncode == 0, result.stderr
    fused = cv2.imread(str(out))
    assert fused.shape == (96, 128, 3)
    weights = [cv2.imread(str(p), cv2.IMREAD_UNCHANGED) for p in sorted((tmp_path / "w").iterdir())]
    assert len(weights) == 2 and weights[0].dtype == np.uint16
    total = sum(w.astype(np.int64) for w in weights)
    assert np.abs(total - 65535).max() <= 2
    depth = cv2.imread(str(tmp_path / "depth.png"), cv2.IMREAD_UNCHANGED)
    assert set(np.unique(depth)) <= {0, 1}
    # The left half is sharp in A (index 0), the right half in B (index 1).
    assert np.mean(depth[:, :50] == 0) > 0.9 and np.mean(depth[:, 78:] == 1) > 0.9


def test_fuse_accepts_a_folder_and_a_method_option(tmp_path: Path, pair: list[Path]) -> None:
    out = tmp_path / "elsewhere.tif"
    result = run(
        "fuse", str(tmp_path), "-o", str(out), "--method", "gff", "--option", "detail_radius=3"
    )
    assert result.returncode == 0, result.stderr
    assert mfif.read_image(out)[0].shape == (96, 128, 3)


def test_methods_lists_every_method_with_a_summary() -> None:
    result = run("methods")
    assert result.returncode == 0
    names = [line.split()[0] for line in result.stdout.splitlines()]
    assert names == mfif.list_methods()
    assert "(default)" in result.stdout


def test_methods_describes_the_options_of_the_methods_named() -> None:
    result = run("methods", "dfp", "GFF", "maxgrad")
    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert out.startswith("dfp: DFP") and "\ngff: guided-filtering" in out
    assert "  degradation = 'lanczos2'  (lanczos2, bicubic, box or gaussian:SIGMA)" in out
    assert "  seed = 0  (an integer from 0 to 2147483647)" in out
    assert "maxgrad: " in out and "(no options)" in out
    assert_one_sentence_error(run("methods", "dfp", "nope"), "Unknown method 'nope'")


@pytest.mark.slow
@pytest.mark.parametrize("command", [[], ["fuse"], ["methods"], ["demo"]])
def test_help(command: list[str]) -> None:
    result = run(*command, "--help")
    assert result.returncode == 0 and "usage: mfif" in result.stdout


def test_missing_file(tmp_path: Path, pair: list[Path]) -> None:
    result = run("fuse", str(pair[0]), str(tmp_path / "nope.png"), "-o", str(tmp_path / "o.png"))
    assert_one_sentence_error(result, "does not exist")


def test_corrupt_image(tmp_path: Path, pair: list[Path]) -> None:
    bad = tmp_path / "bad.jpg"
    bad.write_bytes(b"\xff\xd8\xff garbage")
    result = run("fuse", str(pair[0]), str(bad), "-o", str(tmp_path / "o.png"))
    assert_one_sentence_error(result, "is not a readable")


def test_file_that_is_not_an_image(tmp_path: Path, pair: list[Path]) -> None:
    notes = tmp_path / "notes.txt"
    notes.write_text("focus stack of a fly, 12 frames")
    result = run("fuse", str(pair[0]), str(notes), "-o", str(tmp_path / "o.png"))
    assert_one_sentence_error(result, "is not a readable")


def test_empty_folder(tmp_path: Path) -> None:
    (tmp_path / "empty").mkdir()
    result = run("fuse", str(tmp_path / "empty"), "-o", str(tmp_path / "o.png"))
    assert_one_sentence_error(result, "contains no PNG, JPEG, BMP, TIFF or camera RAW images")


def test_different_sizes(tmp_path: Path, pair: list[Path]) -> None:
    small = mfif.save_image(tmp_path / "small.png", sharp_image(50, 60, color=True))
    result = run("fuse", str(pair[0]), str(small), "-o", str(tmp_path / "o.png"))
    assert_one_sentence_error(result, "same size")


def test_grey_mixed_with_colour(tmp_path: Path, pair: list[Path]) -> None:
    grey = mfif.save_image(tmp_path / "grey.png", sharp_image(color=False))
    result = run("fuse", str(pair[0]), str(grey), "-o", str(tmp_path / "o.png"))
    assert_one_sentence_error(result, "Grey and colour images cannot be mixed")


def test_single_image(tmp_path: Path, pair: list[Path]) -> None:
    result = run("fuse", str(pair[0]), "-o", str(tmp_path / "o.png"))
    assert_one_sentence_error(result, "at least 2 images")


def test_unknown_method(tmp_path: Path, pair: list[Path]) -> None:
    result = run("fuse", *map(str, pair), "-o", str(tmp_path / "o.png"), "--method", "magic")
    assert_one_sentence_error(result, "Unknown method 'magic'")


def test_output_equal_to_an_input(tmp_path: Path, pair: list[Path]) -> None:
    before = pair[1].read_bytes()
    result = run("fuse", *map(str, pair), "-o", str(pair[1]))
    assert_one_sentence_error(result, "Refusing to overwrite the input")
    assert pair[1].read_bytes() == before


def test_output_equal_to_an_input_by_another_name(tmp_path: Path, pair: list[Path]) -> None:
    other_name = tmp_path / "." / pair[0].name
    result = run("fuse", *map(str, pair), "-o", str(other_name))
    assert_one_sentence_error(result, "Refusing to overwrite the input")


def test_weights_from_a_method_without_them(tmp_path: Path, pair: list[Path]) -> None:
    result = run(
        "fuse",
        *map(str, pair),
        "-o",
        str(tmp_path / "o.png"),
        "-m",
        "dwt",
        "--depth-index",
        str(tmp_path / "d.png"),
    )
    assert_one_sentence_error(result, "produces no weight maps")
    assert not (tmp_path / "o.png").exists()


def test_unknown_output_format(tmp_path: Path, pair: list[Path]) -> None:
    result = run("fuse", *map(str, pair), "-o", str(tmp_path / "o.gif"))
    assert_one_sentence_error(result, "must end in one of")


def test_bad_option(tmp_path: Path, pair: list[Path]) -> None:
    result = run("fuse", *map(str, pair), "-o", str(tmp_path / "o.png"), "--option", "radius")
    assert_one_sentence_error(result, "NAME=VALUE")


def test_demo_reports_psnr_and_writes_its_images(tmp_path: Path) -> None:
    result = run("demo", "--out", str(tmp_path / "demo"))
    assert result.returncode == 0, result.stderr
    lines = {line.split()[0]: line for line in result.stdout.splitlines() if "dB" in line}
    source_psnr = [float(lines[f"source-{c}"].split()[-2]) for c in "ABC"]
    fused_psnr = float(lines["fused"].split()[-2])
    assert fused_psnr > max(source_psnr) + 3.0
    written = sorted(p.name for p in (tmp_path / "demo").iterdir())
    assert written == [
        "fused-guided-decision.png",
        "ground-truth.png",
        "source-A.png",
        "source-B.png",
        "source-C.png",
    ]


def test_importing_the_command_line_is_light() -> None:
    # What `mfif` imports before main() catches Ctrl-C: a signal in that window would print
    # a traceback, so it holds no numpy, OpenCV or method.
    probe = (
        "import sys\nimport mfif.cli\n"
        "print(sorted({'numpy', 'cv2', 'mfif.api'} & set(sys.modules)))"
    )
    result = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True)
    assert result.stdout.split() == ["[]"], result.stderr


@pytest.mark.parametrize("given", [None, "2"])
def test_the_process_keeps_numpys_blas_on_one_thread_unless_told(given) -> None:
    # mfif's stages run on their own threads; OpenBLAS splitting their small products again
    # slowed registration by a fifth. A user's own setting stands.
    import os

    environment = {k: v for k, v in os.environ.items() if k != "OPENBLAS_NUM_THREADS"}
    if given is not None:
        environment["OPENBLAS_NUM_THREADS"] = given
    probe = (
        "import os\nfrom mfif.cli import tune_threads\ntune_threads()\n"
        "print(os.environ.get('OPENBLAS_NUM_THREADS'))"
    )
    result = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, env=environment
    )
    assert result.stdout.split() == [given or "1"], result.stderr


def test_interrupt_while_the_parser_is_built_says_one_sentence(monkeypatch, capsys) -> None:
    from mfif import cli

    def interrupted(arguments):
        raise KeyboardInterrupt

    monkeypatch.setattr(cli, "_build_parser", interrupted)
    assert cli.main(["methods"]) == 130
    assert capsys.readouterr().err.strip() == "mfif: interrupted"


def test_classical_path_does_not_import_torch(tmp_path: Path, pair: list[Path]) -> None:
    probe = (
        "import sys\nfrom mfif.cli import main\n"
        f"status = main(['fuse', {str(pair[0])!r}, {str(pair[1])!r}, '-o', "
        f"{str(tmp_path / 'o.png')!r}])\n"
        "print(status, 'torch' in sys.modules)"
    )
    result = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True)
    assert result.stdout.split() == ["0", "False"], result.stderr


def test_output_folder_must_exist(tmp_path: Path, pair: list[Path]) -> None:
    result = run("fuse", *map(str, pair), "-o", str(tmp_path / "no" / "such" / "out.png"))
    assert_one_sentence_error(result, "does not exist")


def test_version() -> None:
    result = run("--version")
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == f"mfif {mfif.__version__}"


def test_method_names_ignore_case(tmp_path: Path, pair: list[Path]) -> None:
    result = run("fuse", *map(str, pair), "-m", "GFF", "-o", str(tmp_path / "o.png"))
    assert result.returncode == 0, result.stderr
    assert mfif.create("Guided-Decision").name == "guided-decision"


def test_a_result_among_the_frames_is_named_and_can_be_excluded(
    tmp_path: Path, pair: list[Path]
) -> None:
    """A folder with the frames and another tool's result: the result is named in a warning,
    and ``--exclude`` leaves it out (then nothing is said)."""
    folder = tmp_path / "stack"
    folder.mkdir()
    for path in pair:
        path.rename(folder / path.name)
    cv2.imwrite(str(folder / "reference.png"), cv2.imread(str(folder / "A.png")))
    warned = run(
        "fuse", str(folder), "-o", str(tmp_path / "all.png"), "--report", str(tmp_path / "a.json")
    )
    assert warned.returncode == 0, warned.stderr
    assert "reference.png" in warned.stderr and "--exclude" in warned.stderr, warned.stderr
    assert json.loads((tmp_path / "a.json").read_text())["frames"][-1] == "reference.png"
    quiet = run(
        "fuse", str(folder), "--exclude", "reference.*", "-o", str(tmp_path / "two.png"),
        "--report", str(tmp_path / "b.json"),
    )  # fmt: skip
    assert quiet.returncode == 0 and quiet.stderr == "", quiet.stderr
    assert json.loads((tmp_path / "b.json").read_text())["frames"] == ["A.png", "B.png"]


def test_metrics_of_a_cropped_fusion_use_its_report(tmp_path: Path) -> None:
    """Alignment crops the result; without the fusion's report the sizes differ and the
    message says what to give; with it the sources are aligned and cropped as fused."""
    scene = sharp_image(160, 200, color=True, seed=8)
    moved = cv2.warpAffine(scene, np.float32([[1.02, 0, -4.5], [0, 1.02, 3.2]]), (200, 160))
    frames = [cv2.GaussianBlur(scene, (0, 0), 2.0), moved]
    paths = [mfif.save_image(tmp_path / f"{n}.png", f) for n, f in zip("AB", frames, strict=True)]
    out, report = tmp_path / "o.png", tmp_path / "r.json"
    fused = run("fuse", *map(str, paths), "-o", str(out), "--report", str(report))
    assert fused.returncode == 0, fused.stderr
    crop = json.loads(report.read_text())["crop"]
    assert crop is not None and mfif.read_image(out)[0].shape[:2] == tuple(crop[2:])
    bare = run("metrics", str(out), "--sources", *map(str, paths), "--metrics", "Q_G")
    assert_one_sentence_error(bare, "--report")
    scored = run(
        "metrics", str(out), "--sources", *map(str, paths), "--report", str(report), "--json"
    )
    assert scored.returncode == 0, scored.stderr
    assert 0 < json.loads(scored.stdout)["Q_G"] <= 1


def test_a_summary_line_on_a_terminal_and_readable_verbose_lines(
    tmp_path: Path, pair: list[Path]
) -> None:
    status, printed = on_a_terminal(
        [sys.executable, "-m", "mfif", "fuse", *map(str, pair), "-o", str(tmp_path / "o.png")]
    )
    assert status == 0, printed
    lines = printed.replace("\r", "\n").splitlines()  # a bar redraws its line with \r
    summary = [line for line in lines if line.startswith("mfif: fused 2 frames")]
    assert len(summary) == 1 and "guided-decision" in summary[0], printed
    assert "96" in summary[0] and "o.png" in summary[0], summary
    status, printed = on_a_terminal(
        [sys.executable, "-m", "mfif", "fuse", *map(str, pair), "-q", "-o", str(tmp_path / "q.png")]
    )
    assert status == 0 and "fused" not in printed, printed
    verbose = run("fuse", *map(str, pair), "-v", "-o", str(tmp_path / "v.png"))
    assert verbose.returncode == 0 and "mfif: alignment" in verbose.stderr, verbose.stderr
    assert "{" not in verbose.stderr  # lines, not the JSON of --report
