"""The HTML benchmark report in a real browser (headless Chromium driven by selenium): its
tables, error maps and A/B view, clicked and read back, and a screenshot.

Needs ``pip install selenium`` and Debian's ``chromium`` and ``chromium-driver``; skipped with
the reason where they are absent (CI installs them after the main test run).
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

import mfif

from conftest import complementary_stack

pytestmark = pytest.mark.browser

CHROMEDRIVER = shutil.which("chromedriver")
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")


def _report(tmp_path: Path) -> Path:
    """A benchmark of two methods on two scenes with a ground truth, as mfif bench writes it."""
    for number in range(2):
        sources, truth, _ = complementary_stack(2, color=True, seed=number)
        folder = tmp_path / "data" / "toy" / f"scene{number}"
        folder.mkdir(parents=True)
        for name, source in zip("AB", sources, strict=True):
            mfif.save_image(folder / f"{name}.png", source)
        mfif.save_image(folder / "GT.png", truth)
    out = tmp_path / "out"
    command = [sys.executable, "-m", "mfif", "bench", str(tmp_path / "data"), "--out", str(out),
               "--methods", "guided-decision,sf", "--metrics", "PSNR,SSIM"]  # fmt: skip
    result = subprocess.run(command, capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    return out / "report.html"


def test_the_report_works_in_a_browser(tmp_path: Path) -> None:
    webdriver = pytest.importorskip("selenium.webdriver", reason="needs pip install selenium")
    if CHROMEDRIVER is None or CHROMIUM is None:
        pytest.skip("needs Chromium: apt-get install chromium chromium-driver")
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import Select

    report = _report(tmp_path)
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for argument in ("--headless=new", "--no-sandbox", "--disable-gpu", "--window-size=1400,1600"):
        options.add_argument(argument)
    driver = webdriver.Chrome(service=webdriver.ChromeService(CHROMEDRIVER), options=options)
    try:
        driver.get(report.as_uri())
        assert driver.find_elements(By.CSS_SELECTOR, "td.best")  # the best values in bold
        assert "mfif " in driver.find_element(By.CSS_SELECTOR, ".provenance").text
        assert len(driver.find_elements(By.CSS_SELECTOR, "img[alt='error ×8']")) == 4
        view = driver.find_elements(By.CSS_SELECTOR, ".ab")[0]
        assert view.get_attribute("data-state") == "guided-decision|sf|50|4"  # drawn on load
        Select(view.find_element(By.CSS_SELECTOR, ".b-select")).select_by_visible_text(
            "ground truth"
        )
        view.find_element(By.CSS_SELECTOR, ".swap").click()
        assert view.get_attribute("data-state") == "ground truth|guided-decision|50|4"
        shown = view.find_element(By.CSS_SELECTOR, ".a-img")
        assert shown.get_attribute("src").startswith("data:image/jpeg;base64,")
        assert driver.execute_script("return arguments[0].naturalWidth", shown) > 0
        assert driver.save_screenshot(str(tmp_path / "report.png"))
        assert (tmp_path / "report.png").stat().st_size > 10_000
    finally:
        driver.quit()
