"""Progress (`mfif.progress`): drawn on a terminal once work lasts, never off one."""

from __future__ import annotations

import subprocess
import sys

from conftest import on_a_terminal

LOOP = (
    "import time\n"
    "from mfif.progress import progress_bar\n"
    "for _ in progress_bar(range(4), label='demo', unit='step'):\n"
    "    time.sleep({pause})\n"
)


def test_a_lasting_loop_shows_its_bar_with_an_eta() -> None:
    status, printed = on_a_terminal([sys.executable, "-c", LOOP.format(pause=0.3)])
    assert status == 0, printed
    assert "mfif demo" in printed and "step" in printed and "<" in printed, printed  # ETA


def test_a_short_loop_shows_nothing() -> None:
    status, printed = on_a_terminal([sys.executable, "-c", LOOP.format(pause=0.01)])
    assert status == 0 and "mfif demo" not in printed, printed


def test_nothing_off_a_terminal_and_tqdm_not_imported() -> None:
    code = LOOP.format(pause=0.2) + "import sys\nprint('tqdm' in sys.modules)\n"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode == 0 and result.stderr == "", result.stderr
    assert result.stdout.strip() == "False"
