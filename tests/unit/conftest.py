"""The fast tier (`make test-fast`): pure functions only. Nothing here starts a service; the
suite-wide fixture that heals the fake Stream after each test is replaced by a no-op."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from config import Settings
from config.settings import AppEnv


@pytest.fixture(autouse=True)
def healthy_stream() -> Iterator[None]:
    yield


@pytest.fixture
def settings() -> Settings:
    return Settings(_env_file=None, app_env=AppEnv.test, jwt_secret="unit-" + "x" * 40)  # type: ignore[call-arg]
