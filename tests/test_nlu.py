"""What a citizen notices of the NLU, on sentences that are in neither the training data nor the
held-out set, and regression floors on the held-out set (`make bench` reports exact figures)."""
from __future__ import annotations

from pathlib import Path

import pytest
from rasa.core.agent import Agent

from bot import danger
from bot.categories import OTHER, category_names
from bot.nlu_eval import evaluate
from bot.report_codes import normalize_report_code
from bot.settings import PROJECT_ROOT
from bot.text import strip_marks

HELDOUT = sorted((PROJECT_ROOT / "nlu" / "heldout").glob("*.yml"))
GAPS = PROJECT_ROOT / "nlu" / "heldout" / "heldout_gaps.yml"


@pytest.fixture(scope="module")
def agent(trained_model: Path) -> Agent:
    return Agent.load(str(trained_model))


async def parse(agent: Agent, text: str):
    parsed = await agent.parse_message(text)
    entities = parsed.get("entities") or []
    category = next((e["value"] for e in entities if e["entity"] == "category"), None)
    return parsed["intent"]["name"], category, entities


# One fresh complaint per category but the catch-all; each must also work typed without
# diacritics. A category added to bot/data/categories.yml needs one here (KeyError otherwise).
COMPLAINTS = {
    "moi_truong": "bãi rác tự phát sau chợ bốc mùi hôi thối",
    "giao_thong": "cống không có nắp ngay ngã tư xe máy sụp bánh",
    "chieu_sang": "bóng đèn cao áp trước chợ chập chờn cả tháng",
    "cap_thoat_nuoc": "mưa một trận là hẻm nhà tôi ngập tới đầu gối",
    "trat_tu_do_thi": "xe tải đậu chiếm hết lòng đường trước cổng trường",
    "xay_dung": "công trình bên cạnh không che chắn, gạch rơi xuống đường",
    "cay_xanh": "cây xà cừ gãy cành đè lên mái hiên trước nhà",
    "an_ninh_trat_tu": "đám thanh niên tụ tập hát karaoke tới 2 giờ sáng",
    "hanh_chinh": "nộp hồ sơ cấp sổ đỏ 3 tháng rồi chưa có kết quả",
}


@pytest.mark.parametrize("text, category", [(COMPLAINTS[code], code) for code in category_names() if code != OTHER])
async def test_complaint_with_or_without_diacritics_is_a_report_of_its_category(agent, text, category):
    for typed in (text, strip_marks(text)):
        intent, found, _ = await parse(agent, typed)
        assert (intent, found) == ("report_issue", category), typed


@pytest.mark.parametrize("text", [
    "PA000123 sao rồi", "cho hỏi pa-000123 xử lý chưa", "phản ánh PA 123 của tôi thế nào",
    "ma pa123 toi dau roi",
])
async def test_report_codes_in_every_typed_form_are_found(agent, text):
    intent, _, entities = await parse(agent, text)
    assert intent == "check_status"
    codes = {normalize_report_code(e["value"]) for e in entities if e["entity"] == "report_id"}
    assert codes == {"PA000123"}


async def test_status_question_without_code(agent):
    intent, _, entities = await parse(agent, "phản ánh hôm trước của tôi giờ sao rồi")
    assert intent == "check_status"
    assert not [e for e in entities if e["entity"] == "report_id"]


@pytest.mark.parametrize("text, address", [
    ("đèn đường kiệt 45 Nguyễn Huệ hỏng", "kiệt 45 Nguyễn Huệ"),
    ("den duong kiet 45 nguyen hue hong", "kiet 45 nguyen hue"),
])
async def test_address_span_is_extracted(agent, text, address):
    _, category, entities = await parse(agent, text)
    assert [e["value"] for e in entities if e["entity"] == "address"] == [address]
    assert category == "chieu_sang"


@pytest.mark.parametrize("danger, problem", [
    ("xe máy tông nhau một người chảy nhiều máu nằm bất động",
     "đoạn đường này hay va chạm vì thiếu biển báo"),
    ("nhà hàng xóm đang bốc cháy khói mù mịt", "bãi đất trống hay có người đốt rác khói mù mịt"),
])
async def test_danger_now_is_an_emergency_a_lasting_problem_a_report(agent, danger, problem):
    for typed in (danger, strip_marks(danger)):
        assert (await parse(agent, typed))[0] == "emergency", typed
    assert (await parse(agent, problem))[0] == "report_issue"


@pytest.mark.parametrize("text, intent", [
    ("hủy", "cancel"), ("huy", "cancel"), ("xin chào", "greet"), ("tạm biệt nhé", "goodbye"),
    ("bạn có phải người thật không", "bot_challenge"), ("thời tiết mai thế nào", "out_of_scope"),
])
async def test_short_messages(agent, text, intent):
    assert (await parse(agent, text))[0] == intent


def test_heldout_scores_stay_above_the_floors(trained_model):
    assert HELDOUT, "nlu/heldout/ is empty"
    scores = evaluate(trained_model, HELDOUT)
    assert scores.examples >= 300
    assert scores.intent_accuracy >= 0.90, scores.errors[:20]
    assert scores.category_accuracy >= 0.85, scores.errors[:20]


# --- the kinds of message issue 10 found wrong (fresh sentences; nlu/heldout/heldout_gaps.yml holds more) ---

@pytest.mark.parametrize("text", ["PA654321", "pa 77"])
async def test_a_bare_code_is_a_status_question(agent, text):
    # Then the status action says "not found" for an unknown code instead of "chưa hiểu".
    intent, _, entities = await parse(agent, text)
    assert intent == "check_status"
    assert [e["value"] for e in entities if e["entity"] == "report_id"][:1] == [text]


async def test_a_status_question_told_as_a_story_is_a_status_question(agent):
    story = "mấy bữa trước tôi có báo chuyện nắp cống bể, rứa đã ai sửa chưa"
    for typed in (story, strip_marks(story)):
        assert (await parse(agent, typed))[0] == "check_status", typed


@pytest.mark.parametrize("text, place", [
    ("rác chất đống trước chung cư Hương Sơ", "chung cư Hương Sơ"),
    ("cống nghẹt trong làng Phước Tích", "làng Phước Tích"),
    ("cột điện nghiêng ở đồi Thiên An", "đồi Thiên An"),
])
async def test_places_that_are_not_streets_are_addresses(agent, text, place):
    _, category, entities = await parse(agent, text)
    assert [e["value"] for e in entities if e["entity"] == "address"] == [place]
    assert category is not None


async def test_of_two_problems_the_one_said_to_matter_gives_the_category(agent):
    text = "đèn có tắt vài bóng nhưng quan trọng nhất là cái ổ voi giữa đường, xe té liên tục"
    for typed in (text, strip_marks(text)):
        assert (await parse(agent, typed))[:2] == ("report_issue", "giao_thong"), typed


@pytest.mark.parametrize("text", [
    "ông hàng xóm không trả tiền mượn từ năm ngoái", "bồn rửa chén nhà tôi bị nghẹt",
    "hàng xóm cãi nhau với nhà tôi về chuyện cái hàng rào",
])
async def test_private_matters_are_out_of_scope(agent, text):
    assert (await parse(agent, text))[0] == "out_of_scope"


@pytest.mark.parametrize("text", [
    "dây điện đứt nằm trên vỉa hè, mấy đứa học sinh đang đi ngang",
    "một người đàn ông nằm bất động cạnh xe máy ở ngã tư, máu dưới đầu",
    "mùi ga bốc lên từ quán cơm, ai cũng chóng mặt",
    "dây điện võng thấp cả tuần nay, chiều nay có xe tải móc đứt, dây nằm dưới đường",
])
async def test_danger_told_as_a_scene_gets_the_numbers_or_the_danger_question(agent, text):
    parsed = await agent.parse_message(text)
    assert parsed["intent"]["name"] == "emergency" or danger.worth_asking(parsed), parsed["intent_ranking"][:3]


def test_heldout_cases_of_issue_10_stay_above_the_floors(trained_model):
    # Before their training data and features the model scored 0.78 on intents here.
    scores = evaluate(trained_model, [GAPS])
    assert scores.examples >= 70
    assert scores.intent_accuracy >= 0.85, scores.errors
    assert scores.category_accuracy >= 0.9, scores.errors
    assert scores.emergency_recall_with_question >= 0.9, scores.errors
    assert scores.danger_question_rate <= 0.1, scores.errors
