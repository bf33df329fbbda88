"""An admin's loop in the console, in headless Chromium at a phone's size and a desktop's.

Against the real admins' service (`python -m bot.admin.server`, on this test's data and a copy of the
training files): messages the assistant did not understand, stored as the Rasa server stores them,
are labelled one with its address picked by selecting it in the text, two in bulk, one discarded;
the training file gets the example, the dashboard and the audit log show it, and an operator is
refused. The training page's progress and decision are shown against the stand-in of the service:
a real retraining trains for half a minute and loads a Rasa server (tests/admin/test_retrain.py).
Screenshots in test-output/."""
from __future__ import annotations

import dataclasses
import io
import subprocess
import sys
from pathlib import Path
from typing import Iterator

import pytest
from selenium import webdriver
from selenium.common.exceptions import StaleElementReferenceException, WebDriverException
from selenium.webdriver.common.action_chains import ActionChains
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import Select, WebDriverWait

from backend import accounts as cli
from bot.settings import PROJECT_ROOT
from tests.admin.conftest import training_dir  # noqa: F401  (a fixture: the copy of the training files)
from tests.support.admin_standin import TOKEN, AdminStandin
from tests.support.browser import OUTPUT, SIZES, chromium
from tests.support.console import PASSWORD
from tests.support.open311 import RoutingBackend
from tests.support.servers import BackgroundLoop, free_port
from tests.support.stack import child_env
from tests.support.tracker_store import store_said
from tools.processes import start_group, stop_group, wait_until_up

pytestmark = [pytest.mark.browser, pytest.mark.slow]

LAMP = "đèn đường kiệt 45 Nguyễn Huệ tối om"
ADDRESS = "kiệt 45 Nguyễn Huệ"


@pytest.fixture
def loop() -> Iterator[BackgroundLoop]:
    background = BackgroundLoop()
    yield background
    background.close()


@pytest.fixture
def admin_service(data_dir, training_dir, tmp_path, loop) -> Iterator[str]:  # noqa: F811
    """The real admins' service on this test's data, with what citizens wrote already stored."""
    unsure = [(LAMP, "nlu_fallback", 0.2, None, "telegram"), (LAMP, "nlu_fallback", 0.25, None, "zalo"),
              ("den duong kiet 45 nguyen hue toi om", "nlu_fallback", 0.3, None, "telegram"),
              ("rác ở chợ Đông Ba bốc mùi", "report_issue", 0.3, "moi_truong", "telegram"),
              ("rác ở chợ Đông Ba bốc mùi", "report_issue", 0.35, "moi_truong", "web"),
              ("rác tràn ra đường kiệt 5", "report_issue", 0.4, "moi_truong", "zalo"),
              ("cho hỏi giá vé tàu ra Hà Nội", "out_of_scope", 0.9, None, "web")]
    for text, intent, confidence, category, channel in unsure:
        loop.run(store_said(data_dir, text, intent, confidence, category=category, category_confidence=0.3,
                            channel=channel, previous="Chào bạn! Bạn muốn phản ánh điều gì?"))
    # Understood: counted on the dashboard, never in the inbox.
    for text, intent, category in (("xin chào", "greet", None), ("đường Lê Lợi có ổ gà lớn", "report_issue",
                                                                 "giao_thong"), ("cảm ơn nhé", "thank", None)):
        loop.run(store_said(data_dir, text, intent, 0.97, category=category, category_confidence=0.9))
    port = free_port()
    (tmp_path / "models").mkdir()
    env = {"ADMIN_API_TOKEN": TOKEN, "ADMIN_PORT": str(port), "DATA_DIR": str(data_dir),
           "TRAINING_DIR": str(training_dir), "MODELS_DIR": str(tmp_path / "models")}
    with open(tmp_path / "admin.log", "w") as log:
        process = start_group([sys.executable, "-m", "bot.admin.server"], cwd=PROJECT_ROOT, env=child_env(env),
                              stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    try:
        assert wait_until_up(f"{url}/health", [process], 90), (tmp_path / "admin.log").read_text()
        yield url
    finally:
        stop_group(process)


def serve_backend(loop: BackgroundLoop, data_dir: Path, admin_url: str, monkeypatch) -> Iterator[str]:
    """The backend with an admin and an operator account, calling the admins' service at `admin_url`."""
    for login, role in (("admin.minh", "admin"), ("ioc.lan", "operator")):
        monkeypatch.setattr("sys.stdin", io.StringIO(f"{PASSWORD}\n"))
        assert cli.main(["add", login, "--role", role]) == 0
    server = RoutingBackend(data_dir)
    server.settings = dataclasses.replace(server.settings, admin_url=admin_url, admin_api_token=TOKEN,
                                          map_tile_url=None)
    loop.run(server.start())
    yield server.settings.effective_backend_public_url
    loop.run(server.stop())


@pytest.fixture
def backend(loop, data_dir, admin_service, monkeypatch) -> Iterator[str]:
    yield from serve_backend(loop, data_dir, admin_service, monkeypatch)


@pytest.fixture
def standin(loop) -> Iterator[AdminStandin]:
    service = loop.run(AdminStandin().start())
    service.polls_to_finish = 4  # the server-rendered page looks once, the page's script three times
    yield service
    loop.run(service.stop())


@pytest.fixture
def backend_with_standin(loop, data_dir, standin, monkeypatch) -> Iterator[str]:
    yield from serve_backend(loop, data_dir, standin.url, monkeypatch)


@pytest.fixture(params=list(SIZES))
def browser(request, tmp_path) -> Iterator[webdriver.Chrome]:
    driver = chromium(tmp_path / "chromium", request.param)
    yield driver
    driver.quit()


class Admin:
    """What the admin does in the browser, and waits for."""

    def __init__(self, driver: webdriver.Chrome, base: str) -> None:
        self.driver, self.base = driver, base
        # A form's answer replaces the page: an element read meanwhile is stale, and read again.
        self.wait = WebDriverWait(driver, 20, ignored_exceptions=(StaleElementReferenceException,
                                                                  WebDriverException))

    def find(self, css: str):
        return self.driver.find_element(By.CSS_SELECTOR, css)

    def text(self) -> str:
        return self.find("main").text

    def until(self, text: str) -> None:
        self.wait.until(lambda d: text in self.text(), f"the page to say {text!r}")

    def shot(self, step: str, at: str = "") -> None:
        """A screenshot of the screen, scrolled first to the element `at` (a CSS selector) if given."""
        if at:
            self.driver.execute_script("arguments[0].scrollIntoView()", self.find(at))
        OUTPUT.mkdir(exist_ok=True)
        self.driver.save_screenshot(str(OUTPUT / f"console-admin-{self.driver.size_name}-{step}.png"))

    def sign_in(self, login: str, path: str = "/console/") -> None:
        self.driver.get(f"{self.base}{path}")
        self.find("input[name=login]").send_keys(login)
        self.find("input[name=password]").send_keys(PASSWORD)
        self.find("form.stack button").click()
        self.wait.until(lambda d: "Đăng nhập" not in d.title, "the sign-in")

    def sign_out(self) -> None:
        self.find(".who button").click()
        self.wait.until(lambda d: "Đăng nhập" in d.title, "the sign-out")

    def group(self, text: str):
        """The inbox card of the group whose text is `text`."""
        return next(card for card in self.driver.find_elements(By.CSS_SELECTOR, "li.group")
                    if card.find_element(By.CSS_SELECTOR, ".sample").text == text)

    def select_in_text(self, card, span: str) -> None:
        """Selects `span` inside the card's message, as a mouse or a finger would."""
        self.driver.execute_script("""
            const node = arguments[0].firstChild, start = node.textContent.indexOf(arguments[1]);
            const range = document.createRange();
            range.setStart(node, start);
            range.setEnd(node, start + arguments[1].length);
            document.getSelection().removeAllRanges();
            document.getSelection().addRange(range);""", card.find_element(By.CSS_SELECTOR, ".sample"), span)


def test_an_admin_labels_what_the_assistant_did_not_understand(backend, browser, training_dir):  # noqa: F811
    admin = Admin(browser, backend)
    admin.sign_in("ioc.lan", "/console/admin/")
    assert "chỉ dành cho tài khoản quản trị" in admin.text()
    assert not browser.find_elements(By.LINK_TEXT, "Quản trị")
    admin.sign_out()

    admin.sign_in("admin.minh")
    browser.find_element(By.LINK_TEXT, "Quản trị").click()
    admin.until("4 nhóm · 7 tin nhắn")
    samples = [e.text for e in browser.find_elements(By.CSS_SELECTOR, ".sample")]
    assert samples[:2] == [LAMP, "rác ở chợ Đông Ba bốc mùi"]  # 3 messages, 2, then the two said once
    assert set(samples[2:]) == {"rác tràn ra đường kiệt 5", "cho hỏi giá vé tàu ra Hà Nội"}
    lamp = admin.group(LAMP)
    assert "3×" in lamp.text and "den duong kiet 45 nguyen hue toi om" in lamp.text
    assert "Chào bạn! Bạn muốn phản ánh điều gì?" in lamp.text
    admin.shot("1-inbox")

    admin.select_in_text(lamp, ADDRESS)
    address = lamp.find_element(By.NAME, "address")
    admin.wait.until(lambda d: address.get_attribute("value") == ADDRESS, "the selection in the address field")
    Select(lamp.find_element(By.NAME, "intent")).select_by_value("report_issue")
    Select(lamp.find_element(By.NAME, "category")).select_by_value("chieu_sang")
    admin.shot("2-address-picked")
    lamp.find_element(By.XPATH, ".//button[text()='Gán nhãn']").click()
    admin.until("Đã gán nhãn 1 nhóm tin nhắn là report_issue/chieu_sang.")
    written = (training_dir / "nlu/data/nlu_report_chieu_sang.yml").read_text(encoding="utf-8")
    assert f"đèn đường [{ADDRESS}](address) tối om" in written
    assert "3 nhóm · 4 tin nhắn" in admin.text()

    # Two groups in one go; the buttons wait for a choice.
    bulk_buttons = browser.find_elements(By.CSS_SELECTOR, "#bulk button")
    assert not any(button.is_enabled() for button in bulk_buttons)
    for text in ("rác ở chợ Đông Ba bốc mùi", "rác tràn ra đường kiệt 5"):
        admin.group(text).find_element(By.CSS_SELECTOR, "input.pick").click()
    assert admin.find("#bulk-count").text == "Đã chọn 2 nhóm."
    browser.execute_script("window.scrollTo(0, 0)")
    jump = admin.find("#bulk-jump")
    admin.wait.until(lambda d: jump.is_displayed(), "the way to the bulk form")
    assert jump.text == "2 nhóm đã chọn ↓"  # the way to the form, from anywhere in the list
    jump.click()
    admin.wait.until(lambda d: not jump.is_displayed(), "the form in view")
    Select(admin.find("#bulk select[name=intent]")).select_by_value("report_issue")
    Select(admin.find("#bulk select[name=category]")).select_by_value("moi_truong")
    admin.shot("3-bulk-chosen")
    bulk_buttons[0].click()
    admin.until("Đã gán nhãn 2 nhóm tin nhắn là report_issue/moi_truong.")
    written = (training_dir / "nlu/data/nlu_report_moi_truong.yml").read_text(encoding="utf-8")
    assert "rác ở chợ Đông Ba bốc mùi" in written and "rác tràn ra đường kiệt 5" in written

    # An impatient double click discards once, and says so.
    discard = admin.group("cho hỏi giá vé tàu ra Hà Nội").find_element(By.XPATH, ".//button[text()='Bỏ qua']")
    ActionChains(browser).double_click(discard).perform()
    admin.until("Đã bỏ qua 1 nhóm tin nhắn.")
    assert not browser.find_elements(By.CSS_SELECTOR, "#notice.error")
    assert "Không có tin nhắn nào ở mục này." in admin.text()
    admin.shot("4-inbox-empty")
    browser.find_element(By.LINK_TEXT, "Đã gán nhãn").click()
    admin.until("3 nhóm · 6 tin nhắn")

    browser.find_element(By.LINK_TEXT, "Thống kê").click()
    admin.until("Tin nhắn mỗi ngày")
    assert admin.find("#totals").text.split("\n")[:2] == ["Tin nhắn", "10"]
    assert browser.find_elements(By.CSS_SELECTOR, "svg.columns rect")
    admin.shot("5-dashboard")
    admin.shot("5b-dashboard-lower", at="#top-missed")

    browser.find_element(By.LINK_TEXT, "Nhật ký").click()
    admin.until("Nhật ký quản trị")
    rows = [row.text for row in browser.find_elements(By.CSS_SELECTOR, "#audit tbody tr")]
    assert len(rows) == 3 and all("admin.minh" in row for row in rows)
    assert "Bỏ qua" in rows[0] and "Gán nhãn" in rows[1] and "Gán nhãn" in rows[2]
    admin.shot("6-audit")

    browser.find_element(By.LINK_TEXT, "Huấn luyện").click()
    admin.until("Chưa có lần huấn luyện nào.")
    assert admin.find("#retrain button").is_enabled()


def test_training_shows_its_progress_then_the_decision_and_rolls_back(backend_with_standin, browser, standin):
    admin = Admin(browser, backend_with_standin)
    admin.sign_in("admin.minh", "/console/admin/training")
    admin.until("Chưa có lần huấn luyện nào.")
    admin.find("#retrain button").click()
    admin.until("Đã bắt đầu huấn luyện mô hình mới")
    assert admin.find("progress").get_attribute("value") == "70"
    assert not admin.find("#retrain button").is_enabled()
    admin.shot("7-training")
    # The page's script follows the job and shows the decision once it is made, without a click.
    admin.wait.until(lambda d: "đã được đưa vào sử dụng" in admin.text(), "the decision")
    assert "Đã bắt đầu huấn luyện" not in admin.text()  # said once, before
    scores = [row.text for row in browser.find_elements(By.CSS_SELECTOR, "#report table.scores tbody tr")]
    assert scores[0] == "Độ chính xác ý định 90,0% 93,0% +3,0 điểm"
    assert "cây đổ chắn đường Lê Lợi" in admin.find("#report .changed").text
    admin.shot("8-decision")
    admin.shot("8b-scores", at="#report")
    admin.shot("8c-models", at="#models")

    rollback = admin.find("#rollback button")
    rollback.click()  # not confirmed: the browser keeps the form
    assert standin.asked("POST", "/rollback") is None
    admin.find("#rollback input[name=confirm]").click()
    rollback.click()
    admin.until("Đã quay lại mô hình hue-phan-anh-20261201-080000")
    assert standin.asked("POST", "/rollback")[2] == "admin.minh"
    admin.shot("9-rolled-back")
