"""The model repository format: `<repository>/<model>/config.toml` and a folder per
version holding the weights. Reading it is strict: a malformed value, an unknown key, a
name that is not the folder's, a missing weights file or a model without versions is a
RepositoryError naming the file (and key), so start-up fails before anything loads.
Torch-free: this only reads TOML and looks at files."""

from __future__ import annotations

import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from contracts_runtime.inference.errors import RepositoryError
from contracts_runtime.inference.tensors import ELEMENT_SIZE, VARIABLE, TensorSpec

CONFIG_FILE = "config.toml"
# The weights file each platform reads from a version folder.
WEIGHTS_FILE = {"torchscript": "model.pt", "torch_export": "model.pt2", "state_dict": "weights.pt"}
# What model metadata reports as the platform, in Triton's spelling.
PLATFORM_NAME = {
    "torchscript": "pytorch_torchscript",
    "torch_export": "pytorch_export",
    "state_dict": "pytorch_state_dict",
}
KINDS = ("predict", "generate")


@dataclass(frozen=True)
class BatchingConfig:
    max_queue_delay_us: int = 0
    preferred_batch_sizes: tuple[int, ...] = ()
    queue_size: int = 256
    split_on_oom: bool = False
    # Lone requests of a model faster than this run on the event loop (batcher.py).
    inline_below_us: int = 200
    # A request alone in the server runs on the event loop when the model's lone
    # requests take less than this (batcher.py); 0: never.
    inline_alone_below_us: int = 20_000


ISOLATIONS = ("thread", "process")


@dataclass(frozen=True)
class InstancesConfig:
    count: int = 1
    # Intra-op threads of each instance; 0 = the usable cores less one, divided by `count`.
    cpu_threads: int = 0
    # "process": each instance in a child process of its own (model_process.py).
    isolation: str = "thread"


@dataclass(frozen=True)
class StateDictConfig:
    module: str
    kwargs: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class GenerateConfig:
    max_tokens: int = 32
    # Generation stops after this token when set.
    eos_token: int | None = None
    # The module carries its own state between steps: `module(ids, state)` returns
    # (logits, new_state), and every step after the first gets only the new token.
    state: bool = False


@dataclass(frozen=True)
class ModelConfig:
    name: str
    platform: str
    max_batch_size: int
    kind: str
    inputs: tuple[TensorSpec, ...]
    outputs: tuple[TensorSpec, ...]
    # Version folders, numerically ascending, and the one an empty version selects.
    versions: tuple[str, ...]
    default_version: str
    batching: BatchingConfig = BatchingConfig()
    instances: InstancesConfig = InstancesConfig()
    state_dict: StateDictConfig | None = None
    generate: GenerateConfig | None = None
    path: Path = Path()

    @property
    def platform_name(self) -> str:
        return PLATFORM_NAME[self.platform]

    def weights_path(self, version: str) -> Path:
        return self.path / version / WEIGHTS_FILE[self.platform]


class _Table:
    """One TOML table being read: each key taken is checked for type, and whatever is
    left at the end is an unknown key."""

    def __init__(self, file: Path, where: str, data: Mapping[str, Any]) -> None:
        self.file = file
        self.where = where
        self.data = dict(data)

    def error(self, key: str, expected: str) -> RepositoryError:
        return RepositoryError(f"{self.file}: {self.key_path(key)}: expected {expected}")

    def key_path(self, key: str) -> str:
        return f"{self.where}.{key}" if self.where else key

    def take_str(self, key: str, default: str | None = None, choices: tuple[str, ...] = ()) -> str:
        value = self.data.pop(key, default)
        if value is None:
            raise RepositoryError(f"{self.file}: {self.key_path(key)} is required")
        if not isinstance(value, str) or (choices and value not in choices):
            raise self.error(key, "one of " + ", ".join(choices) if choices else "a string")
        return value

    def take_int(self, key: str, default: int | None, minimum: int) -> int:
        value = self.data.pop(key, default)
        if value is None:
            raise RepositoryError(f"{self.file}: {self.key_path(key)} is required")
        # bool is an int to Python; `true` is not a size.
        if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
            raise self.error(key, f"a whole number >= {minimum}")
        return value

    def take_bool(self, key: str, default: bool) -> bool:
        value = self.data.pop(key, default)
        if not isinstance(value, bool):
            raise self.error(key, "true or false")
        return value

    def take_table(self, key: str) -> _Table | None:
        value = self.data.pop(key, None)
        if value is None:
            return None
        if not isinstance(value, dict):
            raise self.error(key, f"a table ([{self.key_path(key)}])")
        return _Table(self.file, self.key_path(key), value)

    def take_tables(self, key: str) -> list[_Table]:
        value = self.data.pop(key, None)
        if value is None:
            raise RepositoryError(f"{self.file}: [[{self.key_path(key)}]] is required")
        if not isinstance(value, list) or not value or not all(isinstance(v, dict) for v in value):
            raise self.error(key, f"one or more [[{self.key_path(key)}]] tables")
        return [_Table(self.file, f"{self.key_path(key)}[{i}]", v) for i, v in enumerate(value)]

    def done(self) -> None:
        for key in self.data:
            raise RepositoryError(f"{self.file}: unknown key {self.key_path(key)}")


def load_config(model_dir: Path) -> ModelConfig:
    """Read and check one model's folder."""
    file = model_dir / CONFIG_FILE
    try:
        raw = tomllib.loads(file.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise RepositoryError(f"{file}: missing (every model folder needs one)") from None
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise RepositoryError(f"{file}: not valid TOML: {exc}") from None
    top = _Table(file, "", raw)
    name = top.take_str("name")
    if name != model_dir.name:
        raise RepositoryError(
            f"{file}: name = {name!r} must equal the model's folder name {model_dir.name!r}"
        )
    platform = top.take_str("platform", choices=tuple(WEIGHTS_FILE))
    max_batch_size = top.take_int("max_batch_size", 0, 0)
    kind = top.take_str("kind", "predict", KINDS)
    default_version = top.data.pop("default_version", None)
    if default_version is not None and not isinstance(default_version, str):
        raise top.error("default_version", 'a version folder name as a string, such as "1"')
    batching = _batching(top.take_table("batching"), max_batch_size)
    instances = _instances(top.take_table("instances"))
    inputs = tuple(_spec(t) for t in top.take_tables("inputs"))
    outputs = tuple(_spec(t) for t in top.take_tables("outputs"))
    for what, specs in (("inputs", inputs), ("outputs", outputs)):
        names = [s.name for s in specs]
        for dup in sorted({n for n in names if names.count(n) > 1}):
            raise RepositoryError(f"{file}: {what}: the name {dup!r} is declared twice")
    state_dict = _state_dict(top.take_table("state_dict"), platform, file)
    generate = _generate(top.take_table("generate"), kind, platform, file)
    if kind == "generate":
        _check_generate_shape(file, max_batch_size, inputs, outputs)
        if instances.isolation == "process":
            # Tokens stream from the runner thread to the loop as they are made.
            raise RepositoryError(
                f'{file}: instances.isolation = "process" is for kind = "predict"; '
                "generation runs in the serving process"
            )
    top.done()
    versions = _versions(model_dir, file)
    if default_version is None:
        default_version = versions[-1]
    elif default_version not in versions:
        raise RepositoryError(
            f"{file}: default_version = {default_version!r} is not a version folder "
            f"(found {', '.join(versions)})"
        )
    config = ModelConfig(
        name=name,
        platform=platform,
        max_batch_size=max_batch_size,
        kind=kind,
        inputs=inputs,
        outputs=outputs,
        versions=versions,
        default_version=default_version,
        batching=batching,
        instances=instances,
        state_dict=state_dict,
        generate=generate,
        path=model_dir,
    )
    for version in versions:
        weights = config.weights_path(version)
        if not weights.is_file():
            raise RepositoryError(
                f"{weights}: weights file missing (platform {platform!r} reads "
                f"{WEIGHTS_FILE[platform]} from each version folder)"
            )
    return config


def load_configs(repository: Path) -> list[ModelConfig]:
    """Every model of a repository, by name; an empty or missing repository is an error."""
    if not repository.is_dir():
        raise RepositoryError(f"{repository}: model repository folder not found")
    folders = sorted(p for p in repository.iterdir() if p.is_dir() and not p.name.startswith("."))
    if not folders:
        raise RepositoryError(f"{repository}: the model repository holds no model folder")
    return [load_config(folder) for folder in folders]


def _versions(model_dir: Path, file: Path) -> tuple[str, ...]:
    numeric = [p.name for p in model_dir.iterdir() if p.is_dir() and p.name.isdigit()]
    if not numeric:
        raise RepositoryError(
            f"{model_dir}: no version folder (a folder named by a number, such as 1/, "
            f"holding the weights) next to {file.name}"
        )
    return tuple(sorted(numeric, key=int))


def _batching(table: _Table | None, max_batch_size: int) -> BatchingConfig:
    if table is None:
        return BatchingConfig()
    delay = table.take_int("max_queue_delay_us", 0, 0)
    preferred_raw = table.data.pop("preferred_batch_sizes", [])
    if (
        not isinstance(preferred_raw, list)
        or not all(isinstance(p, int) and not isinstance(p, bool) for p in preferred_raw)
        or any(not 1 <= p <= max(max_batch_size, 1) for p in preferred_raw)
    ):
        raise table.error(
            "preferred_batch_sizes",
            f"a list of whole numbers from 1 to max_batch_size ({max_batch_size})",
        )
    queue_size = table.take_int("queue_size", 256, 1)
    split = table.take_bool("split_on_oom", False)
    inline = table.take_int("inline_below_us", BatchingConfig.inline_below_us, 0)
    alone = table.take_int("inline_alone_below_us", BatchingConfig.inline_alone_below_us, 0)
    table.done()
    return BatchingConfig(
        delay, tuple(sorted(set(preferred_raw))), queue_size, split, inline, alone
    )


def _instances(table: _Table | None) -> InstancesConfig:
    if table is None:
        return InstancesConfig()
    count = table.take_int("count", 1, 1)
    threads = table.take_int("cpu_threads", 0, 0)
    isolation = table.take_str("isolation", "thread", ISOLATIONS)
    table.done()
    return InstancesConfig(count, threads, isolation)


def _spec(table: _Table) -> TensorSpec:
    name = table.take_str("name")
    dtype = table.take_str("dtype", choices=tuple(ELEMENT_SIZE))
    dims_raw = table.data.pop("dims", None)
    if (
        not isinstance(dims_raw, list)
        or not all(isinstance(d, int) and not isinstance(d, bool) for d in dims_raw)
        or any(d < VARIABLE for d in dims_raw)
    ):
        raise table.error("dims", "a list of sizes >= 0 or -1 (variable), such as [3, 32, 32]")
    table.done()
    return TensorSpec(name, dtype, tuple(dims_raw))


def _state_dict(table: _Table | None, platform: str, file: Path) -> StateDictConfig | None:
    if platform != "state_dict":
        if table is not None:
            raise RepositoryError(f'{file}: [state_dict] is only for platform = "state_dict"')
        return None
    if table is None:
        raise RepositoryError(
            f'{file}: platform = "state_dict" needs a [state_dict] table with module = "pkg.mod:Class"'
        )
    module = table.take_str("module")
    if module.count(":") != 1 or not all(module.split(":")):
        raise table.error("module", 'an importable "package.module:Class"')
    kwargs = table.data.pop("kwargs", {})
    if not isinstance(kwargs, dict):
        raise table.error("kwargs", "a table of keyword arguments for the class")
    table.done()
    return StateDictConfig(module, kwargs)


def _generate(table: _Table | None, kind: str, platform: str, file: Path) -> GenerateConfig | None:
    if kind != "generate":
        if table is not None:
            raise RepositoryError(f'{file}: [generate] is only for kind = "generate"')
        return None
    if table is None:
        return GenerateConfig()
    max_tokens = table.take_int("max_tokens", 32, 1)
    eos = table.data.pop("eos_token", None)
    if eos is not None and (isinstance(eos, bool) or not isinstance(eos, int) or eos < 0):
        raise table.error("eos_token", "a token id >= 0")
    state = table.take_bool("state", False)
    if state and platform == "torch_export":
        # torch.export fixes an optional input to what it was exported with: a program
        # exported with state None ignores the state it is given later (wrong tokens,
        # no error), and one exported with a state refuses the first step's None.
        raise RepositoryError(
            f'{file}: generate.state = true needs platform = "torchscript" or "state_dict": '
            "a torch.export program takes either no state or a state, never both"
        )
    table.done()
    return GenerateConfig(max_tokens, eos, state)


def _check_generate_shape(
    file: Path, max_batch_size: int, inputs: tuple[TensorSpec, ...], outputs: tuple[TensorSpec, ...]
) -> None:
    """The one shape generation supports (see the runtime's README): token ids in, the
    new token ids out, one sequence at a time."""
    expected = "one INT64 input and one INT64 output, each with dims = [-1]"
    if max_batch_size != 0:
        raise RepositoryError(
            f'{file}: max_batch_size: kind = "generate" runs one sequence at a time; set 0'
        )
    for what, specs in (("inputs", inputs), ("outputs", outputs)):
        if len(specs) != 1 or specs[0].dtype != "INT64" or specs[0].dims != (VARIABLE,):
            raise RepositoryError(f'{file}: {what}: kind = "generate" needs {expected}')
