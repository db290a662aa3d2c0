"""The report pages in a real browser (headless Chromium through chromedriver and selenium).

A tiny class is graded for real (``tests/fixtures/pages_class.py``): hostile markup printed by a
notebook, raised in an exception message and used as file names. The test opens feedback pages
and the summary, takes screenshots (under tmp_path), and checks that every image rendered, that
the console is clean, and that none of the payloads ran: the title is the page's own, no element
a payload would add exists, no link has a ``javascript:`` URL, and clicking through the summary's
links reaches the hostile submissions' pages. A last test shows the Content-Security-Policy on
its own: a page that carried the payloads unescaped still runs none of them.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from autograder.grade.store import Store
from autograder.report.html_page import CONTENT_SECURITY_POLICY
from autograder.report.pages import feedback_file_name, write_pages
from tests.fixtures.pages_class import (
    IMG_PAYLOAD,
    JS_PAYLOAD,
    NAME_IMG,
    NAME_JS,
    PICTURES_ID,
    SCRIPT_PAYLOAD,
    shared_graded_class,
    tiny_manifest,
)

CHROMIUM = Path("/usr/bin/chromium")
CHROMEDRIVER = Path("/usr/bin/chromedriver")

pytestmark = pytest.mark.skipif(
    not (CHROMIUM.exists() and CHROMEDRIVER.exists()),
    reason="headless Chromium is not installed (Debian packages chromium and chromium-driver; "
           ".ci/run installs them)",
)

# What a payload would do if it ran: set one of these titles or add one of these elements.
PWNED_TITLES = ("PWNED-script", "PWNED-js", "PWNED-name", "PWNED-jsname")
PWNED_IDS = ("pwned-img", "pwned-js")


@pytest.fixture(scope="module")
def pages(tmp_path_factory):
    out = tmp_path_factory.mktemp("browser") / "out"
    shutil.copytree(shared_graded_class(tmp_path_factory), out)
    similarity = {"identical": [["correct", NAME_JS]],
                  "near": [{"a": NAME_IMG, "b": "partial", "similarity": 0.97}]}
    with Store(out / "results.sqlite") as store:
        written = write_pages(out, store, tiny_manifest(), similarity=similarity, elapsed_s=3.5)
    return out, written


@pytest.fixture(scope="module")
def browser():
    webdriver = pytest.importorskip("selenium.webdriver")
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    for arg in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                "--window-size=1280,1000", "--disable-extensions", "--no-first-run"):
        options.add_argument(arg)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(service=Service(executable_path=str(CHROMEDRIVER)), options=options)
    driver.set_page_load_timeout(30)
    try:
        yield driver
    finally:
        driver.quit()


def _open(driver, path: Path) -> list[dict]:
    """Load a page; returns the console messages logged while it loaded."""
    driver.get_log("browser")  # drop what earlier pages logged
    driver.get(path.resolve().as_uri())
    return driver.get_log("browser")


def _screenshot(driver, path: Path) -> Path:
    """A screenshot of the whole page (the window grown to the page's height, bounded)."""
    height = driver.execute_script("return document.documentElement.scrollHeight")
    # (the window is taller than its viewport by the browser frame: 200 px covers it)
    driver.set_window_size(1280, max(600, min(int(height) + 200, 6000)))
    driver.save_screenshot(str(path))
    driver.set_window_size(1280, 1000)
    return path


def _images(driver) -> list[dict]:
    return driver.execute_script(
        "return Array.from(document.images).map(i => ({alt: i.alt, complete: i.complete, "
        "width: i.naturalWidth, height: i.naturalHeight}))")


def _assert_nothing_ran(driver, title: str) -> None:
    assert driver.title == title
    for sid in PWNED_IDS:
        assert driver.execute_script(f"return document.getElementById('{sid}')") is None, sid
    links = driver.execute_script(
        "return Array.from(document.querySelectorAll('[href],[src]'))"
        ".map(e => e.getAttribute('href') || e.getAttribute('src'))")
    assert not [link for link in links if link.strip().lower().startswith("javascript:")]
    assert driver.execute_script("return document.scripts.length") == 0


def _errors(logs: list[dict]) -> list[dict]:
    return [entry for entry in logs if entry.get("level") == "SEVERE"]


def test_feedback_page_with_pictures_renders(pages, browser, tmp_path):
    out, written = pages
    logs = _open(browser, written["feedback"][PICTURES_ID])
    shot = _screenshot(browser, tmp_path / "feedback_pictures.png")
    images = _images(browser)
    # a curve, a convergence curve, a heat map, the large arrays' panels (the small ones are a
    # table, the hidden case's arrays are withheld)
    assert len(images) == 4, images
    for image in images:
        assert image["complete"] and image["width"] > 100 and image["height"] > 100, image
    assert browser.find_elements("css selector", "td.bad"), "the small arrays table marks the mismatch"
    assert not _errors(logs), logs
    _assert_nothing_ran(browser, f"Feedback: {PICTURES_ID}")
    assert shot.stat().st_size > 10_000


def test_summary_renders_and_its_links_open_the_hostile_pages(pages, browser, tmp_path):
    out, written = pages
    logs = _open(browser, written["summary"])
    _screenshot(browser, tmp_path / "summary.png")
    images = _images(browser)
    assert len(images) == 3  # total, q1, q2
    for image in images:
        assert image["complete"] and image["width"] > 100 and image["height"] > 100, image
    assert not _errors(logs), logs
    _assert_nothing_ran(browser, "Class summary: tiny")
    body = browser.find_element("tag name", "body").text
    assert NAME_IMG in body and NAME_JS in body  # shown as text
    # follow the summary's own link of each hostile id: it opens that submission's page
    for sid in (NAME_IMG, NAME_JS):
        browser.get(written["summary"].resolve().as_uri())
        link = next(a for a in browser.find_elements("css selector", "table a") if a.text == sid)
        link.click()
        assert browser.current_url.endswith(feedback_file_name(sid).replace("%", "%25"))
        _assert_nothing_ran(browser, f"Feedback: {sid}")
        assert f"Feedback: {sid}" in browser.find_element("tag name", "h1").text


@pytest.mark.parametrize("sid", ["prints_markup", "raises_markup", NAME_IMG, NAME_JS])
def test_hostile_pages_run_no_payload(pages, browser, tmp_path, sid):
    out, written = pages
    logs = _open(browser, written["feedback"][sid])
    assert not _errors(logs), logs
    _assert_nothing_ran(browser, f"Feedback: {sid}")
    text = browser.find_element("tag name", "body").text
    if sid == "prints_markup":  # the printed markup is shown as the text it is
        assert SCRIPT_PAYLOAD in text and IMG_PAYLOAD in text and JS_PAYLOAD in text
        _screenshot(browser, tmp_path / "prints_markup.png")
    if sid == "raises_markup":
        assert "ValueError: " + IMG_PAYLOAD in text


def test_csp_alone_stops_markup_that_escaped(browser, tmp_path):
    """The second wall: a page with the project's CSP and the payloads left raw runs none."""
    page = tmp_path / "raw.html"
    page.write_text(
        f'<!DOCTYPE html><html><head><meta http-equiv="Content-Security-Policy" '
        f'content="{CONTENT_SECURITY_POLICY}"><title>raw</title></head><body>'
        f"{SCRIPT_PAYLOAD}{IMG_PAYLOAD}<img id='remote' src='http://127.0.0.1:9/x.png'>"
        f"</body></html>", encoding="utf-8")
    logs = _open(browser, page)
    assert browser.title == "raw"
    assert browser.execute_script("return document.getElementById('pwned-img')") is None
    # the blocks are what the console reports
    assert any("Content Security Policy" in entry.get("message", "") for entry in logs), logs
    remote = browser.execute_script("return document.getElementById('remote').naturalWidth")
    assert remote == 0

