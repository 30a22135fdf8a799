"""Unit tests of config.settings: .env.example coverage and the validators."""

from __future__ import annotations

import re

import pydantic
import pytest

from config import Settings
from config.settings import AppEnv, ConfigError, load_settings
from tests.support import ROOT


def test_every_setting_is_in_env_example() -> None:
    text = (ROOT / ".env.example").read_text()
    named = set(re.findall(r"^#? ?([A-Z][A-Z0-9_]+)=", text, flags=re.MULTILINE))
    fields = {
        str(field.validation_alias or name).upper() for name, field in Settings.model_fields.items()
    }
    assert fields - named == set()
    assert {"SMTP_URL", "APP_URL", "JOIN_WINDOW_MINUTES"} <= fields  # the check sees fields


def _settings(**values: object) -> Settings:
    return Settings(  # type: ignore[call-arg]
        _env_file=None,
        app_env=AppEnv.test,
        jwt_secret="unit-" + "x" * 40,
        **values,  # type: ignore[arg-type]
    )


@pytest.mark.parametrize(
    ("values", "problem"),
    [
        ({"rate_limit_reads": "lots"}, "must read like 600/minute"),
        ({"rate_limit_public": "10 per"}, "must read like 600/minute"),
        ({"app_url": "app.example.com"}, "must be an http"),
        ({"app_url": "ftp://app.example.com"}, "must be an http"),
        ({"smtp_url": "http://mail.example.com"}, "must be smtp://host:port"),
        ({"mongodb_uri": "mongodb://127.0.0.1:27017"}, "must name a database"),
        ({"mongodb_uri": "postgres://x/y"}, "not a MongoDB URI"),
        ({"job_time_budget_s": 240}, "JOB_TIME_BUDGET_S must be below"),  # soft limit 240
        ({"job_time_budget_s": 100, "celery_task_soft_time_limit": 90}, "must be below"),
    ],
)
def test_settings_refuse(values: dict[str, object], problem: str) -> None:
    with pytest.raises(pydantic.ValidationError, match=problem):
        _settings(**values)


def test_settings_normalize_what_they_accept() -> None:
    settings = _settings(
        app_url="https://app.example.com//",
        smtp_url="",
        rate_limit_writes="10/second;100/minute",
        cors_origin="https://a.example.com, https://b.example.com,",
        webhook_retry_schedule_s="5, 30,,60",
        job_time_budget_s=239,
    )
    assert settings.app_url == "https://app.example.com"
    assert settings.smtp_url is None
    assert settings.rate_limit_writes == "10/second;100/minute"
    assert settings.cors_origin == ["https://a.example.com", "https://b.example.com"]
    assert settings.webhook_retry_schedule_s == [5.0, 30.0, 60.0]
    assert _settings(smtp_url="smtps://mail.example.com:465").smtp_url == (
        "smtps://mail.example.com:465"
    )


def test_production_needs_a_strong_secret_and_the_stream_keys() -> None:
    def production(secret: str) -> Settings:
        return Settings(  # type: ignore[call-arg]
            _env_file=None,
            app_env=AppEnv.production,
            jwt_secret=secret,
            stream_api_key="",
            stream_api_secret="",
            metrics_token="",
        )

    with pytest.raises(pydantic.ValidationError, match="JWT_SECRET is too weak"):
        production("x" * 31)
    with pytest.raises(pydantic.ValidationError, match="JWT_SECRET is too weak"):
        production("your_super_secret_jwt_key_change_this_in_production")
    with pytest.raises(pydantic.ValidationError, match="STREAM_API_KEY is required"):
        production("p" * 40)


def test_load_settings_names_the_bad_variable() -> None:
    with pytest.raises(ConfigError) as caught:
        load_settings(_env_file=None, jwt_secret="unit-" + "x" * 40, app_url="nope")
    assert str(caught.value) == (
        "invalid configuration: APP_URL: must be an http(s) URL, e.g. https://app.example.com"
    )
