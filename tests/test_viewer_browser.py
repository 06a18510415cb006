"""The web viewer (GET /) in a real headless browser: Debian's chromium driven by selenium through
/usr/bin/chromedriver. Upload a 16-bit PNG slice of the MNI152 template, enter the API token, pick a
patient, press Enhance, and wait for the enhanced image: its natural size must be 2× the input's and the α
the page shows must be the one the API gives for that patient's vitals.

With MEDRAY_SCREENSHOT=1 the page is saved to benchmarks/results/viewer.png."""
import os
import re
import shutil
from pathlib import Path

import pytest
import requests

from benchmarks.fuzz_mutators import load_seeds
from tests.test_serve_http import AUTH, TOKEN, app  # noqa: F401 — the serve tests' module fixture

CHROMIUM, CHROMEDRIVER = "/usr/bin/chromium", "/usr/bin/chromedriver"
SCREENSHOT = Path(__file__).parents[1] / "benchmarks" / "results" / "viewer.png"
pytestmark = [
    pytest.mark.slow,  # deploys the Serve app for this module
    pytest.mark.skipif(not (os.access(CHROMIUM, os.X_OK) and os.access(CHROMEDRIVER, os.X_OK)),
                       reason=f"needs Debian's chromium and chromedriver ({CHROMIUM}, {CHROMEDRIVER}; "
                              "scripts/setup installs them)"),
]


@pytest.fixture
def browser(tmp_path):
    webdriver = pytest.importorskip("selenium.webdriver", reason="selenium is not installed in .venv")
    from selenium.webdriver.chrome.service import Service

    opts = webdriver.ChromeOptions()
    opts.binary_location = CHROMIUM
    for flag in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync",
                 "--disable-dev-shm-usage", "--window-size=1100,1250", f"--user-data-dir={tmp_path / 'profile'}"):
        opts.add_argument(flag)
    # An explicit driver path: selenium-manager (which may go to the network) is never consulted.
    drv = webdriver.Chrome(service=Service(executable_path=CHROMEDRIVER), options=opts)
    try:
        yield drv
    finally:
        drv.quit()  # stops chromedriver and the browser it started
        shutil.rmtree(tmp_path / "profile", ignore_errors=True)


def test_viewer_upload_pick_patient_enhance(app, browser, tmp_path):  # noqa: F811
    from PIL import Image
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import Select, WebDriverWait

    png = next(s for s in load_seeds() if s.kind == "png")
    path = tmp_path / "mni_slice.png"
    path.write_bytes(png.data)
    width, height = Image.open(path).size

    wait = WebDriverWait(browser, 90, poll_frequency=0.25)
    browser.get(app["url"] + "/")
    assert browser.title == "medray viewer"
    token = browser.find_element(By.ID, "token")
    token.send_keys(TOKEN)
    browser.execute_script("arguments[0].dispatchEvent(new Event('change'))", token)  # → loadPatients()
    wait.until(lambda d: "P-calm" in [o.get_attribute("value") for o in
                                      d.find_elements(By.CSS_SELECTOR, "#patient option")])
    Select(browser.find_element(By.ID, "patient")).select_by_value("P-calm")
    wait.until(lambda d: "α these vitals give" in d.find_element(By.ID, "vitals").text)
    assert "62" in browser.find_element(By.ID, "vitals").text  # P-calm's heart rate from the Kafka stream

    browser.find_element(By.ID, "file").send_keys(str(path))
    go = browser.find_element(By.ID, "go")
    wait.until(lambda d: go.is_enabled())
    go.click()
    natural = "return [arguments[0].complete, arguments[0].naturalWidth, arguments[0].naturalHeight]"
    wait.until(lambda d: d.find_element(By.ID, "status").text in ("done",) or
               "err" in d.find_element(By.ID, "status").get_attribute("class"))
    assert browser.find_element(By.ID, "status").text == "done", browser.find_element(By.ID, "status").text
    after = browser.find_element(By.ID, "after")
    wait.until(lambda d: d.execute_script(natural, after)[1] > 0)
    assert browser.execute_script(natural, after)[1:] == [2 * width, 2 * height]
    assert browser.execute_script(natural, browser.find_element(By.ID, "before"))[1:] == [width, height]

    meta = browser.find_element(By.ID, "meta").text
    shown = re.match(r"α ([0-9.]+) \((\w+)\)", meta)
    assert shown, meta
    expected = requests.get(f"{app['url']}/v1/vitals/P-calm", headers=AUTH, timeout=10).json()["alpha"]
    assert shown[2] == "vitals" and float(shown[1]) == pytest.approx(expected, abs=1e-5)
    if os.environ.get("MEDRAY_SCREENSHOT") == "1":
        SCREENSHOT.parent.mkdir(parents=True, exist_ok=True)
        assert browser.save_screenshot(str(SCREENSHOT))
