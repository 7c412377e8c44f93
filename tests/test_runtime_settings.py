"""The serving runtime's settings: parsing, precedence, errors, and the README's tables
held to the one definition in contracts_runtime."""

from __future__ import annotations

import pytest
from conftest import REPO
from contracts_runtime import OPTIONS, ExitCode, Settings, SettingsError
from contracts_runtime.exitcodes import MEANINGS
from contracts_runtime.settings import load

README = (REPO / "runtime/README.md").read_text(encoding="utf-8")


def test_defaults_without_flags_or_variables() -> None:
    assert load([], {}) == Settings()


def test_a_flag_wins_over_its_variable() -> None:
    settings = load(["--port", "7000"], {"SERVER_PORT": "8000", "SERVER_WORKERS": "3"})
    assert (settings.port, settings.workers) == (7000, 3)


@pytest.mark.parametrize(
    ("env", "value", "field", "parsed"),
    [
        ("SERVER_MAX_MESSAGE_BYTES", "16MiB", "max_message_bytes", 16 * 1024 * 1024),
        ("SERVER_MAX_MESSAGE_BYTES", "512", "max_message_bytes", 512),
        ("SERVER_GRACE_PERIOD", "2.5", "grace_period", 2.5),
        ("SERVER_LOG_LEVEL", "WARNING", "log_level", "warning"),
        ("SERVER_HOST", "[::1]", "host", "[::1]"),
        ("SERVER_PORT", "0", "port", 0),
    ],
)
def test_accepted_forms(env: str, value: str, field: str, parsed: object) -> None:
    assert getattr(load([], {env: value}), field) == parsed


@pytest.mark.parametrize(
    ("env", "value"),
    [
        ("SERVER_PORT", "tcp://10.0.0.1:50051"),  # a Kubernetes service link
        ("SERVER_PORT", "65536"),
        ("SERVER_METRICS_PORT", "-1"),
        ("SERVER_GRACE_PERIOD", "nan"),
        ("SERVER_GRACE_PERIOD", "25s"),
        ("SERVER_MAX_MESSAGE_BYTES", "0"),
        ("SERVER_MAX_MESSAGE_BYTES", "2GiB"),
        ("SERVER_WORKERS", "0"),
        ("SERVER_LOG_LEVEL", "verbose"),
        ("SERVER_LOG_FORMAT", "xml"),
        ("SERVER_MIN_PING_INTERVAL", "0"),
        ("SERVER_HOST", "0.0.0.0:50051"),
    ],
)
def test_malformed_values_name_the_variable_and_the_form(env: str, value: str) -> None:
    with pytest.raises(SettingsError) as error:
        load([], {env: value})
    (option,) = [o for o in OPTIONS if o.env == env]
    assert error.value.problems == [f"{env}={value!r}: expected {option.form}"]


def test_readme_lists_every_setting_with_its_default() -> None:
    for option in OPTIONS:
        row = f"| `{option.env}` | `{option.flag}` | `{option.default}` | {option.help}; {option.form} |"
        assert row in README, row


def test_readme_lists_every_exit_code() -> None:
    assert set(MEANINGS) == set(ExitCode)
    for code, meaning in MEANINGS.items():
        assert f"| {code.value} | {meaning} |" in README
