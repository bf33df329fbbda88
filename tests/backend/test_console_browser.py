"""An IOC operator's day in the console, in headless Chromium at a phone's size and a desktop's:
sign in, filter the list, open a report, move it to in progress then resolved with a photo of the
work done, and hand another report to the agency that must act. Screenshots in test-output/."""
from __future__ import annotations

import dataclasses
import io
from typing import Iterator

import pytest
import requests
from selenium import webdriver
from selenium.common.exceptions import StaleElementReferenceException, WebDriverException
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import Select, WebDriverWait

from backend import accounts as cli
from bot.settings import DEV_API_KEY
from tests.support.browser import OUTPUT, SIZES, chromium
from tests.support.console import PASSWORD
from tests.support.images import jpeg
from tests.support.open311 import RoutingBackend
from tests.support.places import PHU_XUAN, THUAN_HOA
from tests.support.servers import BackgroundLoop

pytestmark = [pytest.mark.browser, pytest.mark.slow]

# Tiles from a port where nothing listens: the map must fall back to its pins and say so.
DEAD_TILES = "http://127.0.0.1:9/{z}/{x}/{y}.png"


@pytest.fixture
def backend(data_dir, monkeypatch) -> Iterator[str]:
    """The backend on a port of its own with an operator account and three reports; its URL."""
    monkeypatch.setattr("sys.stdin", io.StringIO(f"{PASSWORD}\n"))
    assert cli.main(["add", "ioc.lan", "--role", "operator"]) == 0
    loop = BackgroundLoop()
    server = RoutingBackend(data_dir)
    server.settings = dataclasses.replace(server.settings, map_tile_url=DEAD_TILES)
    loop.run(server.start())
    base = server.settings.effective_backend_public_url
    reports = [("moi_truong", PHU_XUAN, "Rác thải chất đống trước chợ"),
               ("moi_truong", PHU_XUAN, "Rác tràn ra đường kiệt 5"),
               ("chieu_sang", THUAN_HOA, "Đèn đường tắt cả tuần")]
    for code, (lat, lon), text in reports:
        response = requests.post(f"{base}/open311/v2/requests.json", timeout=10, data={
            "api_key": DEV_API_KEY, "service_code": code, "lat": lat, "long": lon, "description": text})
        assert response.status_code == 201, response.text
    yield base
    loop.run(server.stop())
    loop.close()


@pytest.fixture(params=list(SIZES))
def browser(request, tmp_path) -> Iterator[webdriver.Chrome]:
    driver = chromium(tmp_path / "chromium", request.param)
    yield driver
    driver.quit()


def shot(driver, step: str) -> None:
    OUTPUT.mkdir(exist_ok=True)
    driver.save_screenshot(str(OUTPUT / f"console-{driver.size_name}-{step}.png"))


def text_of(driver) -> str:
    return driver.find_element(By.TAG_NAME, "main").text


def test_an_operators_day(backend, browser, tmp_path):
    # Each form reloads the page: an element read during the reload is stale, and read again.
    # While a form's answer replaces the page, Chromium may report the old page's node as stale in
    # either of two ways; the wait polls again (a page that never comes still fails it).
    wait = WebDriverWait(browser, 20, ignored_exceptions=(StaleElementReferenceException, WebDriverException))
    find = browser.find_element
    browser.get(f"{backend}/console/")
    assert "Đăng nhập" in text_of(browser)
    find(By.NAME, "login").send_keys("ioc.lan")
    find(By.NAME, "password").send_keys(PASSWORD)
    shot(browser, "1-login")
    find(By.CSS_SELECTOR, "form.stack button").click()
    wait.until(lambda d: "Phản ánh" in d.title or "3 phản ánh" in text_of(d))
    assert "3 phản ánh" in text_of(browser)
    wait.until(lambda d: d.find_element(By.ID, "map-note").is_displayed())  # the tiles could not load
    assert len(browser.find_elements(By.CSS_SELECTOR, ".leaflet-marker-icon")) == 3
    shot(browser, "2-list")

    Select(find(By.NAME, "service_code")).select_by_value("moi_truong")
    find(By.CSS_SELECTOR, ".filters button").click()
    wait.until(lambda d: "2 phản ánh" in text_of(d))
    assert "Đèn đường tắt cả tuần" not in text_of(browser)
    shot(browser, "3-filtered")

    find(By.PARTIAL_LINK_TEXT, "PA000001").click()
    wait.until(lambda d: "Quá trình xử lý" in text_of(d))
    find(By.CSS_SELECTOR, "input[name=state][value=in_progress]").click()
    find(By.NAME, "note").send_keys("Đã cử xe thu gom đến.")
    find(By.CSS_SELECTOR, "#move button").click()
    wait.until(lambda d: "Đã cử xe thu gom đến." in text_of(d))
    assert "Đang xử lý" in find(By.TAG_NAME, "h1").text

    photo = tmp_path / "sau-xu-ly.jpg"
    photo.write_bytes(jpeg((40, 160, 60), (800, 600)))
    find(By.CSS_SELECTOR, "input[name=state][value=resolved]").click()
    find(By.NAME, "note").send_keys("Đã thu gom sạch sẽ.")
    find(By.NAME, "photo").send_keys(str(photo))
    find(By.CSS_SELECTOR, "#move button").click()
    wait.until(lambda d: "Đã thu gom sạch sẽ." in text_of(d))
    assert "Đã xử lý xong" in find(By.TAG_NAME, "h1").text
    after = find(By.CSS_SELECTOR, "img.after")
    wait.until(lambda d: d.execute_script("return arguments[0].naturalWidth", after) > 0)  # the photo is served
    assert not browser.find_elements(By.ID, "move")  # a resolved report has no next state here
    shot(browser, "4-resolved")

    browser.get(f"{backend}/console/reports/PA000002")
    Select(find(By.NAME, "agency_id")).select_by_value("hepco")
    find(By.NAME, "reason").send_keys("Rác sinh hoạt do HEPCO thu gom")
    find(By.CSS_SELECTOR, "#reassign button").click()
    wait.until(lambda d: "Chuyển cơ quan" in text_of(d) and "HEPCO thu gom" in text_of(d))
    assert "Công ty CP Môi trường và Công trình đô thị Huế (HEPCO)" in text_of(browser)
    shot(browser, "5-reassigned")
