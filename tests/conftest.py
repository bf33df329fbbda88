"""Fixtures shared by the NLU and dialogue tests. Keep small: subfolders have their own."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from bot.settings import PROJECT_ROOT

MODEL = PROJECT_ROOT / "models" / "hue-phan-anh.tar.gz"


@pytest.fixture(scope="session")
def trained_model() -> Path:
    """The assistant's model; trained first when missing or older than the training data
    (`bot.cli train --if-missing` is a no-op on an up-to-date model)."""
    env = {**os.environ, "PYTHONPATH": str(PROJECT_ROOT), "RASA_TELEMETRY_ENABLED": "false"}
    env.pop("MODELS_DIR", None)
    subprocess.run([sys.executable, "-m", "bot.cli", "train", "--if-missing"], cwd=PROJECT_ROOT,
                   env=env, check=True, timeout=900)
    assert MODEL.exists(), f"training did not produce {MODEL}"
    return MODEL


@pytest.fixture(autouse=True)
def data_dir(tmp_path, monkeypatch) -> Path:
    """Every test keeps what it writes (outbox, missed messages, photos) in its own folder,
    never in the project's data/."""
    from bot.settings import get_settings

    folder = tmp_path / "data"
    monkeypatch.setenv("DATA_DIR", str(folder))
    get_settings.cache_clear()
    yield folder
    get_settings.cache_clear()
