"""`nmt serve`'s web page in a real headless browser: Debian's chromium driven by selenium through
the system chromedriver (never selenium-manager, which would try to download one). The page
loads the model list, translates what is typed, and shows the same translation as
`nmt translate`, the n-best table, the attention heat map, and the server's error line."""

from __future__ import annotations

import math
import shutil

import pytest

from nmt.commands.main import main
from nmt.serving.service import TranslationService
from serving import serve_config, TIMEOUT, post, request, running

pytestmark = pytest.mark.slow

SENTENCE = "abc def ghij"
WINDOW = (1100, 1300)


@pytest.fixture(scope="module")
def browser():
    chromium, chromedriver = shutil.which("chromium"), shutil.which("chromedriver")
    if chromium is None or chromedriver is None:
        found = {"chromium": chromium, "chromedriver": chromedriver}
        missing = " and ".join(name for name, path in found.items() if path is None)
        pytest.skip(f"the web page test needs a headless browser: {missing} not found on PATH "
                    f"(Debian: apt-get install chromium chromium-driver)")
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = chromium
    for flag in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu",
                 f"--window-size={WINDOW[0]},{WINDOW[1]}"):
        options.add_argument(flag)
    driver = webdriver.Chrome(service=Service(executable_path=chromedriver), options=options)
    try:
        driver.set_page_load_timeout(TIMEOUT)
        yield driver
    finally:
        driver.quit()


@pytest.fixture(scope="module")
def url(tiny_model_dir):
    with running(TranslationService.load([f"toy={tiny_model_dir}"], serve_config())) as base:
        yield base


def wait_for(driver, script: str, what: str):
    """Poll `script` (a JS expression) in the page until it is truthy; its value."""
    from selenium.webdriver.support.ui import WebDriverWait

    return WebDriverWait(driver, TIMEOUT, poll_frequency=0.05).until(
        lambda d: d.execute_script(f"return {script};"), message=f"timed out waiting for {what}")


def open_page(driver, url: str) -> None:
    driver.get(url + "/")
    wait_for(driver, 'document.body.dataset.ready === "true"', "the model list to load")


def text_of(driver, selector: str) -> str:
    return driver.find_element("css selector", selector).get_property("textContent")


def cli_translation(model_dir, sentence: str, tmp_path) -> str:
    infile, outfile = tmp_path / "in.txt", tmp_path / "out.txt"
    infile.write_text(sentence + "\n", encoding="utf-8")
    main(["translate", str(model_dir), "-i", str(infile), "-o", str(outfile), "-q"])
    lines = outfile.read_text(encoding="utf-8").splitlines()
    assert len(lines) == 1
    return lines[0]


def test_page_translates_like_the_cli_with_nbest_and_heatmap(browser, url, tiny_model_dir, tmp_path):
    _, _, models = request(url, "GET", "/v1/models")
    beam = models[0]["search"]["beam_size"]
    open_page(browser, url)
    assert browser.find_element("id", "beam").get_property("value") == str(beam)
    assert not browser.find_element("id", "key-label").is_displayed()  # no API key on this server

    browser.find_element("id", "source").send_keys(SENTENCE)
    browser.find_element("id", "translate").click()
    wait_for(browser, 'document.body.dataset.translated === "1"', "the translation")

    assert text_of(browser, "#error") == ""
    translation = text_of(browser, "#translation")
    assert translation and translation == cli_translation(tiny_model_dir, SENTENCE, tmp_path)

    rows = browser.find_elements("css selector", "#nbest tbody tr")
    assert len(rows) == min(3, beam)
    for rank, row in enumerate(rows, 1):
        cells = [cell.get_property("textContent") for cell in row.find_elements("tag name", "td")]
        assert cells[0] == str(rank) and math.isfinite(float(cells[1]))
    assert rows[0].find_elements("tag name", "td")[2].get_property("textContent") == translation

    status, _, body = post(url, "/v1/translate", {"sentences": [SENTENCE], "beam_size": beam, "attention": True})
    assert status == 200
    attention = body["translations"][0]["attention"]
    heat_rows = browser.find_elements("css selector", "#heatmap tbody tr")
    assert len(heat_rows) == len(attention["target"]) > 0
    assert [r.find_element("tag name", "th").get_property("textContent") for r in heat_rows] == attention["target"]
    head = browser.find_elements("css selector", "#heatmap thead th")
    assert [th.get_property("textContent") for th in head[1:]] == attention["source"]


def test_page_shows_the_servers_error_line(browser, url):
    open_page(browser, url)
    browser.find_element("id", "source").send_keys(SENTENCE)
    beam = browser.find_element("id", "beam")
    beam.clear()
    beam.send_keys("100")
    browser.find_element("id", "translate").click()
    message = wait_for(browser, 'document.getElementById("error").textContent', "the error line")
    assert message == "beam_size: 100 is more than this server's max_beam 16"
    assert text_of(browser, "#translation") == "" and "translated" not in browser.execute_script(
        "return Object.keys(document.body.dataset);")
    assert browser.find_element("id", "translate").is_enabled()


def test_page_asks_for_the_api_key_and_then_sends_it(browser, tiny_model_dir):
    from selenium.webdriver.common.keys import Keys

    service = TranslationService.load([f"toy={tiny_model_dir}"], serve_config(api_key="s3cret"))
    with running(service) as base:
        browser.get(base + "/")
        message = wait_for(browser, 'document.getElementById("error").textContent', "the 401 error line")
        assert message.startswith("authorization:")
        assert browser.find_element("id", "key-label").is_displayed()
        browser.find_element("id", "api-key").send_keys("s3cret", Keys.TAB)  # `change` reloads the models
        wait_for(browser, 'document.body.dataset.ready === "true"', "the model list to load with the key")
        assert text_of(browser, "#error") == ""
        browser.find_element("id", "source").send_keys(SENTENCE)
        browser.find_element("id", "translate").click()
        wait_for(browser, 'document.body.dataset.translated === "1"', "the translation with the key")
        assert text_of(browser, "#translation") != "" and text_of(browser, "#error") == ""
