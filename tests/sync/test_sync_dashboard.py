"""The command dashboard in a real headless Chromium (Debian chromium + chromedriver, driven
by selenium), at a phone's window size: login, then today's picture of the compound."""

from __future__ import annotations

import shutil
from collections.abc import Iterator

import httpx
import pytest
from sync_testkit import CentralServer, Kiosk

from kiosk.core.model import Direction
from kiosk.core.screening import ReadingSource, make_reading
from kiosk.server import admin

pytest_plugins = ["sync_testkit"]

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
DRIVER = shutil.which("chromedriver")


@pytest.fixture
def browser() -> Iterator[object]:
    if CHROMIUM is None or DRIVER is None:
        pytest.skip("chromium and chromium-driver are not installed (scripts/bootstrap)")
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in ("--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                 "--disable-background-networking", "--disable-component-update",
                 "--no-first-run", "--window-size=390,844"):
        options.add_argument(flag)
    driver = webdriver.Chrome(service=Service(executable_path=DRIVER), options=options)
    driver.set_page_load_timeout(20)
    driver.implicitly_wait(5)  # a form post navigates; find_element waits for the new page
    yield driver
    driver.quit()


def test_staff_sign_in_and_see_counts_fevers_denials_who_is_out_and_devices(
        central: CentralServer, kiosks: list[Kiosk], browser, tmp_path):
    from selenium.webdriver.common.by import By

    gate1, gate2 = kiosks
    gate1.check("R1", "out")
    hot = [make_reading(t, source=ReadingSource.MANUAL) for t in (38.2, 38.4)]
    gate1.gate.check("R3", hot, direction=Direction.OUT)  # re-measured: confirmed fever
    gate2.check("NOPE", "in")
    gate2.check("R2", "out")  # same household as R1 on the same day: a conflict after sync
    gate1.sync()
    gate2.sync()
    admin.add_user(central.engine, "组长", "correct horse battery")

    # without a session the API and pages give nothing away
    assert httpx.get(central.url + "/", follow_redirects=False).status_code == 303

    browser.get(central.url + "/")
    assert browser.current_url.endswith("/login")
    browser.find_element(By.NAME, "user").send_keys("组长")
    browser.find_element(By.NAME, "password").send_keys("wrong password")
    browser.find_element(By.CSS_SELECTOR, "button[type=submit]").click()
    assert "Wrong user or password" in browser.find_element(By.CLASS_NAME, "warn").text

    browser.find_element(By.NAME, "user").send_keys("组长")
    browser.find_element(By.NAME, "password").send_keys("correct horse battery")
    browser.find_element(By.CSS_SELECTOR, "button[type=submit]").click()

    def section(name: str) -> str:
        return browser.find_element(By.ID, name).text

    assert "gate-1" in section("counts") and "gate-2" in section("counts")
    assert "38.4" in section("fevers")
    assert "No valid pass" in section("denials")
    assert "R1" in section("out") and "R2" in section("out")
    assert section("devices").count("none") >= 2  # no missing sequence numbers
    assert "quota_conflict" in section("findings")
    # fits a phone: no horizontal scrolling of the page itself
    width = browser.execute_script("return document.documentElement.scrollWidth")
    browser.save_screenshot(str(tmp_path / "dashboard.png"))
    assert width <= browser.execute_script("return window.innerWidth"), tmp_path

    browser.find_element(By.LINK_TEXT, "退出 / Sign out").click()
    assert browser.current_url.endswith("/login")
    browser.get(central.url + "/")
    assert browser.current_url.endswith("/login")
