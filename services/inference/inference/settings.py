"""The inference server's own settings, beside the runtime's SERVER_* ones: a flag
wins over its INFERENCE_* variable, which wins over the default. Flags this module
does not know are left for the runtime's parser, which refuses unknown ones."""

from __future__ import annotations

import argparse
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from contracts_runtime import SettingsError

DEVICE_FORM = re.compile(r"auto|cpu|cuda(:\d+)?")


@dataclass(frozen=True)
class InferenceSettings:
    model_repository: Path = Path("model_repository")
    # "auto": CUDA when available, else CPU (the runtime's select_device).
    device: str = "auto"
    # The most items one BatchPredict call may carry.
    max_batch_items: int = 256


# (field, variable, flag, form, help); --help lists them after the runtime's.
OPTIONS = (
    ("model_repository", "INFERENCE_MODEL_REPOSITORY", "--model-repository", "a folder path",
     "the model repository: a folder per model with config.toml and version folders"),
    ("device", "INFERENCE_DEVICE", "--device", "auto, cpu, cuda or cuda:N",
     "where the models run; auto picks CUDA when available, else CPU"),
    ("max_batch_items", "INFERENCE_MAX_BATCH_ITEMS", "--max-batch-items",
     "a whole number from 1 to 65536", "the most items one BatchPredict call may carry"),
)  # fmt: skip


def _parse(field: str, text: str) -> object:
    if field == "model_repository":
        if not text:
            raise ValueError
        return Path(text)
    if field == "device":
        if not DEVICE_FORM.fullmatch(text):
            raise ValueError
        return text
    if not re.fullmatch(r"\d{1,5}", text) or not 1 <= int(text) <= 65536:
        raise ValueError
    return int(text)


def load(argv: Sequence[str], environ: Mapping[str, str]) -> tuple[InferenceSettings, list[str]]:
    """These settings, and the arguments left for the runtime."""
    parser = argparse.ArgumentParser(add_help=False, allow_abbrev=False)
    for field, _, flag, _, _ in OPTIONS:
        parser.add_argument(flag, dest=field, default=None)
    known, rest = parser.parse_known_args(list(argv))
    values: dict[str, object] = {}
    problems: list[str] = []
    for field, env, flag, form, _ in OPTIONS:
        flag_text = getattr(known, field)
        source, text = (flag, flag_text) if flag_text is not None else (env, environ.get(env))
        if text is None:
            continue
        try:
            values[field] = _parse(field, text.strip())
        except ValueError:
            problems.append(f"{source}={text!r}: expected {form}")
    if problems:
        raise SettingsError(problems)
    return InferenceSettings(**values), rest  # type: ignore[arg-type]


def help_text() -> str:
    rows = [f"  {flag} {env}\n      {text} (form: {form})" for _, env, flag, form, text in OPTIONS]
    return "inference settings:\n" + "\n".join(rows)
