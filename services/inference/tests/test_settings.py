"""The server's own settings: a flag wins over its INFERENCE_* variable, which wins
over the default; the rest of the command line is left for the runtime; a malformed
value is refused naming the flag or variable, every one at once."""

from __future__ import annotations

from pathlib import Path

import pytest
from contracts_runtime import SettingsError

from inference.settings import InferenceSettings, load


def test_defaults_variables_and_flags() -> None:
    assert load([], {}) == (InferenceSettings(), [])
    environ = {"INFERENCE_DEVICE": "cuda:1", "INFERENCE_MODEL_REPOSITORY": "/models"}
    settings, rest = load(["--device", "cpu", "--port", "0", "--max-batch-items=8"], environ)
    assert settings == InferenceSettings(Path("/models"), "cpu", 8)
    assert rest == ["--port", "0"]


def test_malformed_values_are_named() -> None:
    with pytest.raises(SettingsError) as error:
        load(["--device", "gpu"], {"INFERENCE_MAX_BATCH_ITEMS": "0"})
    assert error.value.problems == [
        "--device='gpu': expected auto, cpu, cuda or cuda:N",
        "INFERENCE_MAX_BATCH_ITEMS='0': expected a whole number from 1 to 65536",
    ]
