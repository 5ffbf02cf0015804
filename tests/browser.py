"""Headless Chromium driven by Selenium, for the report's browser test and the README's screenshot.

Run as a script, it screenshots a page: ``python tests/browser.py results/wiki/site/index.html
docs/report-index.png`` (the README's picture of the shipped site).
"""

import contextlib
import shutil
import sys
import tempfile
from pathlib import Path

CHROMIUM, CHROMEDRIVER = shutil.which("chromium"), shutil.which("chromedriver")
#: The flags of a Chromium that starts nothing on the network: this machine's network is closed, and a report
#: must work offline.
FLAGS = ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
         "--disable-component-update", "--disable-sync", "--no-first-run", "--window-size=1400,1800")  # fmt: skip


@contextlib.contextmanager
def chromium(profile: Path):
    """A Selenium driver of Debian's chromium and chromium-driver, with a fresh profile in ``profile``."""
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in (*FLAGS, f"--user-data-dir={profile}"):
        options.add_argument(flag)
    driver = webdriver.Chrome(options=options, service=Service(CHROMEDRIVER))
    try:
        yield driver
    finally:
        driver.quit()


def screenshot(driver, page: Path, png: Path) -> Path:
    """Open ``page`` from disk and save what the window shows as ``png``."""
    driver.get(page.resolve().as_uri())
    driver.save_screenshot(str(png))
    return png


if __name__ == "__main__":
    with tempfile.TemporaryDirectory() as profile, chromium(Path(profile)) as driver:
        print(screenshot(driver, Path(sys.argv[1]), Path(sys.argv[2])))
