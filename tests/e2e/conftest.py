"""The whole assistant started once per test module (starting Rasa costs ~30 s)."""
from __future__ import annotations

from typing import Iterator

import pytest

from tests.support.stack import Stack, running_stack


@pytest.fixture(scope="module")
def stack(tmp_path_factory) -> Iterator[Stack]:
    # No skip: the stack needs nothing but this repository (SQLite, offline geocoding), so a
    # failure to start is a failure, in CI and on a developer's machine alike.
    with running_stack(tmp_path_factory.mktemp("stack")) as running:
        yield running
