"""Build the demo model repository: every model from a fixed seed, saved in the
runtime's model repository format (a folder per model with `config.toml`, a folder per
version with the weights). Nothing is downloaded; the same seed gives the same
weights on every machine, so the repository is built at set-up, not committed.

`python scripts/build_models.py PATH` runs it; the tests build their own copy.
"""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn

from inference import models

SEED = 20260401
VERSION = "1"


@dataclass(frozen=True)
class DemoModel:
    name: str
    make: Callable[[], nn.Module]
    config: str  # config.toml, without the name line
    # "torchscript" saves model.pt; "state_dict" saves weights.pt for the class the
    # config names.
    platform: str
    test_only: bool = False


_CLASSIFIER_IO = """max_batch_size = 32

[batching]
max_queue_delay_us = 0
queue_size = 256

[instances]
count = 1

[[inputs]]
name = "image"
dtype = "FP32"
dims = [3, 32, 32]

[[outputs]]
name = "logits"
dtype = "FP32"
dims = [10]
"""

DEMO_MODELS = (
    DemoModel(
        "classifier",
        models.TinyConvNet,
        'platform = "torchscript"\n' + _CLASSIFIER_IO,
        "torchscript",
    ),
    DemoModel(
        # The same class and seed as `classifier`, loaded from a state dict: the two
        # answer alike, which the tests check.
        "classifier_state_dict",
        models.TinyConvNet,
        'platform = "state_dict"\n'
        + _CLASSIFIER_IO
        + '\n[state_dict]\nmodule = "inference.models:TinyConvNet"\n'
        + "kwargs = { num_classes = 10 }\n",
        "state_dict",
    ),
    DemoModel(
        "textgen",
        models.CharLM,
        """platform = "torchscript"
kind = "generate"
max_batch_size = 0

[batching]
queue_size = 64

[[inputs]]
name = "prompt"
dtype = "INT64"
dims = [-1]

[[outputs]]
name = "tokens"
dtype = "INT64"
dims = [-1]

[generate]
max_tokens = 32
state = true
""",
        "torchscript",
    ),
    DemoModel(
        "add_one",
        models.AddOne,
        """platform = "torchscript"
max_batch_size = 64

[batching]
queue_size = 1024

[[inputs]]
name = "x"
dtype = "FP32"
dims = [4]

[[outputs]]
name = "y"
dtype = "FP32"
dims = [4]
""",
        "torchscript",
    ),
    DemoModel(
        # One item per forward pass, 500 ms each, a short queue: for the tests of
        # deadlines expiring while queued, full queues and drains under load.
        "slow",
        models.SlowIdentity,
        """platform = "state_dict"
max_batch_size = 1

[batching]
queue_size = 4

[[inputs]]
name = "x"
dtype = "FP32"
dims = [4]

[[outputs]]
name = "y"
dtype = "FP32"
dims = [4]

[state_dict]
module = "inference.models:SlowIdentity"
kwargs = { delay_s = 0.5 }
""",
        "state_dict",
        test_only=True,
    ),
)


def build_model(demo: DemoModel, folder: Path) -> None:
    """`folder/<name>/config.toml` and `folder/<name>/1/<weights>`."""
    torch.manual_seed(SEED)
    module = demo.make().eval()
    version = folder / demo.name / VERSION
    version.mkdir(parents=True)
    (folder / demo.name / "config.toml").write_text(
        f'name = "{demo.name}"\n{demo.config}', encoding="utf-8"
    )
    if demo.platform == "torchscript":
        torch.jit.save(torch.jit.script(module), str(version / "model.pt"))
    else:
        torch.save(module.state_dict(), version / "weights.pt")


def build_repository(target: Path, *, test_models: bool = False) -> list[str]:
    """Build every demo model (and the test-only ones when asked) into `target`,
    replacing it whole: built in a sibling folder, then renamed, so a failed build
    leaves the old repository in place. Returns the model names."""
    target = target.resolve()
    target.parent.mkdir(parents=True, exist_ok=True)
    chosen = [d for d in DEMO_MODELS if test_models or not d.test_only]
    staging = Path(tempfile.mkdtemp(prefix=f".{target.name}-", dir=target.parent))
    try:
        for demo in chosen:
            build_model(demo, staging)
        if target.exists():
            shutil.rmtree(target)
        staging.rename(target)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return [d.name for d in chosen]
