"""The whole assistant started once per test module (starting Rasa costs ~30 s)."""
from __future__ import annotations

import sys
from pathlib import Path
from typing import Iterator

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # tests/stack.py
sys.path.insert(0, str(Path(__file__).resolve().parent))  # tests/e2e/citizen.py

from stack import Stack, running_stack  # noqa: E402


@pytest.fixture(scope="module")
def stack(tmp_path_factory) -> Iterator[Stack]:
    # No skip: the stack needs nothing but this repository (SQLite, offline geocoding), so a
    # failure to start is a failure, in CI and on a developer's machine alike.
    with running_stack(tmp_path_factory.mktemp("stack")) as running:
        yield running
