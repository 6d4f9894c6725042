"""A screenshot of `nmt serve`'s web page for the docs: the service over MODEL_DIR in this process
(uvicorn on a free loopback port, in a thread), the page in headless chromium through the system
chromedriver (Debian: apt-get install chromium chromium-driver; nothing is downloaded), one
sentence typed and translated, then the whole page saved as a PNG.

    python benchmarks/screenshot_page.py runs/r21-seed1234/export
    python benchmarks/screenshot_page.py runs/r21-seed1234/export --out /tmp/page.png --sentence "Ein Hund rennt."
"""

from __future__ import annotations

import argparse
import base64
import contextlib
import shutil
import sys
from pathlib import Path

TIMEOUT = 120.0  # seconds any wait may take
WIDTH, HEIGHT = 1100, 1300


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("model_dir", metavar="MODEL_DIR", type=Path, help="an exported model (runs/<name>/export)")
    parser.add_argument("--out", type=Path, default=Path("docs/serve-page.png"), help="default: %(default)s")
    parser.add_argument("--sentence", default="Zwei junge Männer spielen Fußball auf einer Wiese.",
                        help="what is typed into the page (default: %(default)s)")
    args = parser.parse_args(argv)

    chromium, chromedriver = shutil.which("chromium"), shutil.which("chromedriver")
    if chromium is None or chromedriver is None:
        print("screenshot_page: needs chromium and chromedriver on PATH (apt-get install chromium chromium-driver)",
              file=sys.stderr)
        return 2

    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service
    from selenium.webdriver.support.ui import WebDriverWait

    from nmt.config import ServeConfig
    from nmt.serving.server import in_thread
    from nmt.serving.service import TranslationService

    service = TranslationService.load([str(args.model_dir)], ServeConfig(decoder_process=False))
    stack = contextlib.ExitStack()
    url = stack.enter_context(in_thread(service, timeout=TIMEOUT))
    driver = None
    try:
        options = webdriver.ChromeOptions()
        options.binary_location = chromium
        for flag in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu",
                     f"--window-size={WIDTH},{HEIGHT}", "--hide-scrollbars", "--lang=en-US"):
            options.add_argument(flag)
        driver = webdriver.Chrome(service=Service(executable_path=chromedriver), options=options)
        driver.set_page_load_timeout(TIMEOUT)

        def wait_for(script: str, what: str):
            return WebDriverWait(driver, TIMEOUT, poll_frequency=0.05).until(
                lambda d: d.execute_script(f"return {script};"), message=f"timed out waiting for {what}")

        driver.get(url + "/")
        wait_for('document.body.dataset.ready === "true"', "the model list to load")
        driver.find_element("id", "source").send_keys(args.sentence)
        driver.find_element("id", "translate").click()
        wait_for('document.body.dataset.translated === "1" || document.getElementById("error").textContent',
                 "the translation")
        error = driver.execute_script('return document.getElementById("error").textContent;')
        if error:
            raise RuntimeError(f"the page shows an error: {error}")
        # the whole page, also what lies below the window, down to the body's bottom margin
        width = driver.execute_script("return document.documentElement.scrollWidth;")
        height = driver.execute_script(
            "const b = document.body; return Math.ceil(b.getBoundingClientRect().bottom + window.scrollY"
            " + parseFloat(getComputedStyle(b).marginBottom));")
        shot = driver.execute_cdp_cmd("Page.captureScreenshot", {
            "format": "png", "captureBeyondViewport": True,
            "clip": {"x": 0, "y": 0, "width": width, "height": height, "scale": 1}})
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_bytes(base64.b64decode(shot["data"]))
        translation = driver.execute_script('return document.getElementById("translation").textContent;')
        print(f"{args.out}: {width}x{height}; {args.sentence!r} -> {translation!r}")
    finally:
        if driver is not None:
            driver.quit()
        stack.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
