"""Unit tests of tq.config.settings (pure functions, no services)."""

from __future__ import annotations

import re

from config import Settings
from tests.support import ROOT


def test_every_setting_is_in_env_example() -> None:
    text = (ROOT / ".env.example").read_text()
    named = set(re.findall(r"^#? ?([A-Z][A-Z0-9_]+)=", text, flags=re.MULTILINE))
    fields = {
        str(field.validation_alias or name).upper() for name, field in Settings.model_fields.items()
    }
    assert fields - named == set()
    assert {"SMTP_URL", "APP_URL", "JOIN_WINDOW_MINUTES"} <= fields  # the check sees fields
