"""
The class labeling page in a real browser: headless Chromium (the system's package, driven by
Selenium) loads the page, a person types a name and ranks three prompts with the keyboard
alone, and the comparisons file holds those three rankings under that name. .ci/run installs
chromium, chromium-driver and selenium; without them this test is skipped, saying why.
"""
import json
import shutil

import pytest

from conftest import running

webdriver = pytest.importorskip("selenium.webdriver", reason="selenium is not installed (pip install -r requirements-test.txt)")
from selenium.webdriver.chrome.service import Service   # noqa: E402  (only once selenium is known to be there)
from selenium.webdriver.common.by import By             # noqa: E402
from selenium.webdriver.common.keys import Keys         # noqa: E402
from selenium.webdriver.support.ui import WebDriverWait  # noqa: E402

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
CHROMEDRIVER = shutil.which("chromedriver")
pytestmark = pytest.mark.skipif(not (CHROMIUM and CHROMEDRIVER), reason="needs the system's chromium and chromedriver "
                                "(apt-get install chromium chromium-driver; .ci/run installs them)")


@pytest.fixture
def browser():
    options = webdriver.ChromeOptions()
    for flag in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--window-size=1000,900"):
        options.add_argument(flag)
    options.binary_location = CHROMIUM
    # the driver is given by path, so Selenium Manager never tries to download one
    driver = webdriver.Chrome(service=Service(executable_path=CHROMEDRIVER), options=options)
    yield driver
    driver.quit()


def type_keys(driver, *keys):
    """Type into whatever has the keyboard focus, as a person would: no clicks."""
    driver.switch_to.active_element.send_keys(*keys)


def wait_for_text(driver, element_id, text):
    WebDriverWait(driver, 20).until(lambda d: text in d.find_element(By.ID, element_id).text)


def test_label_three_prompts_with_the_keyboard_alone(tiny_gpt, tmp_path, browser):
    path = tmp_path / "labels.jsonl"
    name = "<i>Ada</i>"   # shown as text, never as HTML
    with running(tiny_gpt, path) as (url, _):
        browser.get(url + "/")
        type_keys(browser, name, Keys.ENTER)       # the name field has the focus when the page opens
        wait_for_text(browser, "progress", "prompt 1 of 4")
        type_keys(browser, "1 2", Keys.ENTER)      # too short: refused, and the page says why
        wait_for_text(browser, "message", "rank all 3")
        type_keys(browser, "3 1 2", Keys.ENTER)    # the refused text is selected, so this replaces it
        wait_for_text(browser, "progress", "prompt 2 of 4")
        type_keys(browser, "1 2 3", Keys.ENTER)
        wait_for_text(browser, "progress", "prompt 3 of 4")
        type_keys(browser, "2,3,1", Keys.ENTER)
        wait_for_text(browser, "agreement", "You have ranked 3")
        assert "with the gold order" in browser.find_element(By.ID, "agreement").text
        assert browser.find_element(By.ID, "who").text == name and not browser.find_elements(By.TAG_NAME, "i")
        browser.save_screenshot(str(tmp_path / "label_page.png"))
        browser.refresh()                          # a reload: the page remembers the name and where it was
        wait_for_text(browser, "progress", "prompt 4 of 4")
        browser.get(url + "/teacher")
        wait_for_text(browser, "matrix", name)
        assert "gold" in browser.find_element(By.ID, "matrix").text
    with open(path) as f:
        records = [json.loads(line) for line in f]
    assert [(r["labeler"], r["index"], r["ranking"]) for r in records] == [
        (name, 0, [2, 0, 1]), (name, 1, [0, 1, 2]), (name, 2, [1, 2, 0])]
    assert (tmp_path / "label_page.png").stat().st_size > 0
