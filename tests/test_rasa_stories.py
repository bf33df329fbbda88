"""`rasa test core` on tests/stories: any action the rules would not predict fails the test."""
from __future__ import annotations

import pytest
import yaml

from bot.settings import PROJECT_ROOT
from tests.support.stack import run_module

pytestmark = pytest.mark.slow


def test_stories_predict_every_action(trained_model, tmp_path):
    result = run_module(
        "rasa", "test", "core", "--stories", "tests/stories", "--fail-on-prediction-errors",
        "--model", str(trained_model), "--out", str(tmp_path / "results"), timeout_s=600,
    )
    output = result.stdout + result.stderr
    assert result.returncode == 0, output[-6000:]
    # Exit 0 with no story read would prove nothing: every story was read and passed.
    stories = sum(len(yaml.safe_load(path.read_text(encoding="utf-8"))["stories"])
                  for path in (PROJECT_ROOT / "tests" / "stories").glob("*.yml"))
    assert stories >= 9
    assert f"Correct:          {stories} / {stories}" in output, output[-3000:]
