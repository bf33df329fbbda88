"""Headless Chromium for the tests of the project's web pages (web chat, console, public figures)
at a phone's or a desktop's size, and the web chat page as a citizen uses it.

    driver = chromium(tmp_path / "chromium", "phone")   # the exact 390×844 viewport
    page = ChatPage(driver, stack.webchat_url)
"""
from __future__ import annotations

from pathlib import Path
from typing import Optional

from selenium import webdriver
from selenium.common.exceptions import StaleElementReferenceException
from selenium.webdriver.chrome.options import Options
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import WebDriverWait

from bot.settings import PROJECT_ROOT
from tests.support.conversation import REPORT_CODE
from tests.support.places import THUAN_HOA
from tests.support.services import CHROMEDRIVER, CHROMIUM

OUTPUT = PROJECT_ROOT / "test-output"  # screenshots, to look at
SIZES = {"phone": (390, 844), "desktop": (1280, 900)}
FLAGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
    "--window-size=430,900",  # a phone-sized window: the pages are meant for phones first
]
# Where the browser says the phone is: inside Phường Thuận Hóa, central Huế.
PIN = {"latitude": THUAN_HOA[0], "longitude": THUAN_HOA[1], "accuracy": 10}


def chromium(user_data_dir: Path, size: Optional[str] = None) -> webdriver.Chrome:
    """A headless Chromium with its own profile; with `size` (a key of SIZES, kept as
    `driver.size_name`) its viewport is exactly that (a headless window's size would include its
    frame and has a minimum width)."""
    options = Options()
    options.binary_location = CHROMIUM
    for flag in FLAGS + [f"--user-data-dir={user_data_dir}"]:
        options.add_argument(flag)
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
    if size:
        width, height = SIZES[size]
        driver.execute_cdp_cmd("Emulation.setDeviceMetricsOverride", {
            "width": width, "height": height, "deviceScaleFactor": 1, "mobile": size == "phone"})
        driver.size_name = size  # type: ignore[attr-defined]
    return driver


class ChatPage:
    """What a citizen does on the page, and what they wait for."""

    def __init__(self, driver: webdriver.Chrome, url: str, timeout: float = 60) -> None:
        self.driver = driver
        self.wait = WebDriverWait(driver, timeout, ignored_exceptions=(StaleElementReferenceException,))
        origin = url.split("/webhooks/")[0]
        driver.execute_cdp_cmd("Browser.grantPermissions", {"origin": origin, "permissions": ["geolocation"]})
        driver.execute_cdp_cmd("Emulation.setGeolocationOverride", PIN)
        driver.get(url)

    def find(self, css: str):
        return self.driver.find_element(By.CSS_SELECTOR, css)

    def _until(self, condition, what: str):
        def check(driver):
            errors = [e.text for e in driver.find_elements(By.CSS_SELECTOR, ".msg.error")]
            assert not errors, f"the page showed an error while waiting for {what}: {errors}"
            return condition(driver)

        return self.wait.until(check, f"waiting for {what}")

    def idle(self) -> None:
        self._until(lambda d: not d.find_elements(By.CSS_SELECTOR, ".composer.busy, .msg.typing"), "the reply")

    def bot_texts(self):
        return [e.text for e in self.driver.find_elements(By.CSS_SELECTOR, ".msg.bot")]

    def wait_for_bot_text(self, text: str) -> None:
        self._until(lambda d: text in self.bot_texts(), f"the assistant to say {text!r}")

    def say(self, text: str) -> None:
        box = self.find("#text")
        box.send_keys(text)
        self.find("#send").click()
        self._until(lambda d: box.get_attribute("value") == "", "the message to be sent")
        self.idle()

    def click_chip(self, title: str) -> None:
        def chip(driver):
            chips = driver.find_elements(By.CSS_SELECTOR, ".chip:not(:disabled)")
            return next((c for c in reversed(chips) if title in c.text), None)

        self._until(chip, f"a button {title!r}").click()
        self.idle()

    def map_open(self) -> bool:
        return self.find("#map-panel").is_displayed()

    def open_map(self) -> None:
        if not self.map_open():
            self.find("#location-button").click()
        # Leaflet has drawn the units once their paths are in the map.
        self._until(lambda d: len(d.find_elements(By.CSS_SELECTOR, "#map path.unit")) == 40,
                    "the map of Huế's units")

    def use_my_position(self) -> str:
        self.find("#map-here").click()
        self._until(lambda d: d.find_element(By.ID, "map-send").is_enabled(), "the browser's position")
        return self.find("#map-hint").text

    def send_pin(self) -> None:
        self.find("#map-send").click()
        self.idle()

    def upload(self, photo: Path) -> None:
        before = len(self.driver.find_elements(By.CSS_SELECTOR, ".msg.photo img"))
        self.find("#photo-input").send_keys(str(photo))
        self._until(lambda d: len(d.find_elements(By.CSS_SELECTOR, ".msg.photo img")) > before, "the thumbnail")
        self.idle()

    def report_code(self) -> str:
        message = self._until(
            lambda d: next((t for t in self.bot_texts() if REPORT_CODE.search(t)), None), "the report code"
        )
        return REPORT_CODE.search(message).group(0)

    def screenshot(self, name: str) -> Path:
        OUTPUT.mkdir(exist_ok=True)
        path = OUTPUT / name
        self.driver.save_screenshot(str(path))
        return path
