"""`rasa test core` on tests/stories: any action the rules would not predict fails the test."""
from __future__ import annotations

import os
import subprocess
import sys

import pytest
import yaml

from bot.settings import PROJECT_ROOT

pytestmark = pytest.mark.slow


def test_stories_predict_every_action(trained_model, tmp_path):
    env = {**os.environ, "PYTHONPATH": str(PROJECT_ROOT), "RASA_TELEMETRY_ENABLED": "false",
           "TF_CPP_MIN_LOG_LEVEL": "3"}
    result = subprocess.run(
        [sys.executable, "-m", "rasa", "test", "core", "--stories", "tests/stories",
         "--fail-on-prediction-errors", "--model", str(trained_model), "--out", str(tmp_path / "results")],
        cwd=PROJECT_ROOT, env=env, capture_output=True, text=True, timeout=600,
    )
    output = result.stdout + result.stderr
    assert result.returncode == 0, output[-6000:]
    # Exit 0 with no story read would prove nothing: every story was read and passed.
    stories = sum(len(yaml.safe_load(path.read_text(encoding="utf-8"))["stories"])
                  for path in (PROJECT_ROOT / "tests" / "stories").glob("*.yml"))
    assert stories >= 9
    assert f"Correct:          {stories} / {stories}" in output, output[-3000:]
