"""Fixtures of the admins' loop: a copy of the training data to label and train from (the repo's
own never changes in a test), an empty models folder, and the admin service's token."""
from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from bot.settings import PROJECT_ROOT, Settings, get_settings, load_settings

ADMIN_TOKEN = "admin-token-for-tests"


@pytest.fixture
def training_dir(tmp_path) -> Path:
    """What TRAINING_DIR holds (configuration, domain, training data, held-out set), copied."""
    folder = tmp_path / "training"
    folder.mkdir()
    for name in ("config.yml", "domain.yml"):
        shutil.copy2(PROJECT_ROOT / name, folder / name)
    shutil.copytree(PROJECT_ROOT / "nlu", folder / "nlu")
    return folder


@pytest.fixture
def admin_settings(monkeypatch, data_dir, training_dir, tmp_path) -> Settings:
    """The environment every admin process of the test reads: its data, its training copy, no
    models yet, the token."""
    monkeypatch.setenv("TRAINING_DIR", str(training_dir))
    (tmp_path / "models").mkdir()
    monkeypatch.setenv("MODELS_DIR", str(tmp_path / "models"))
    monkeypatch.setenv("ADMIN_API_TOKEN", ADMIN_TOKEN)
    get_settings.cache_clear()
    return load_settings()
