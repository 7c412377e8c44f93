"""The model repository format, read strictly: every malformed or unknown setting, a
missing weights file, a name that is not the folder's, a model without versions, each
named with its file (and key), before anything loads."""

from __future__ import annotations

import asyncio
import re
import textwrap
from pathlib import Path

import inference_fixtures as fx
import pytest
import torch
from contracts_runtime.inference import (
    ModelRepository,
    RepositoryError,
    load_configs,
    select_device,
)
from prometheus_client import CollectorRegistry

VALID = """\
name = "clf"
platform = "torchscript"
max_batch_size = 8
default_version = "2"

[batching]
max_queue_delay_us = 500
preferred_batch_sizes = [4, 2]
queue_size = 16
split_on_oom = true
inline_below_us = 50
inline_alone_below_us = 5000

[instances]
count = 2
cpu_threads = 1
isolation = "process"

[[inputs]]
name = "image"
dtype = "FP32"
dims = [3, -1]

[[outputs]]
name = "logits"
dtype = "FP32"
dims = [10]
"""


def write(
    root: Path, config: str, versions: tuple[str, ...] = ("1", "2"), weights: str = "model.pt"
) -> Path:
    folder = root / "clf"
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "config.toml").write_text(textwrap.dedent(config), encoding="utf-8")
    for version in versions:
        (folder / version).mkdir(exist_ok=True)
        (folder / version / weights).write_bytes(b"")
    return folder / "config.toml"


def test_a_valid_config_reads_every_key(tmp_path: Path) -> None:
    write(tmp_path, VALID, versions=("1", "2", "10"))
    [config] = load_configs(tmp_path)
    assert config.name == "clf"
    assert config.versions == ("1", "2", "10")
    assert config.default_version == "2"
    assert config.batching.max_queue_delay_us == 500
    assert config.batching.preferred_batch_sizes == (2, 4)
    assert (config.batching.queue_size, config.batching.split_on_oom) == (16, True)
    assert config.batching.inline_below_us == 50
    assert config.batching.inline_alone_below_us == 5000
    assert (config.instances.count, config.instances.cpu_threads) == (2, 1)
    assert config.instances.isolation == "process"
    assert [(s.name, s.dtype, s.dims) for s in config.inputs] == [("image", "FP32", (3, -1))]
    assert config.platform_name == "pytorch_torchscript"


def test_defaults(tmp_path: Path) -> None:
    minimal = VALID.split("[batching]")[0].replace('default_version = "2"\n', "")
    minimal += VALID[VALID.index("[[inputs]]") :]
    write(tmp_path, minimal, versions=("2", "10", "9"))
    [config] = load_configs(tmp_path)
    assert config.default_version == "10"  # numerically highest
    assert (config.kind, config.batching.max_queue_delay_us, config.batching.queue_size) == (
        "predict",
        0,
        256,
    )
    assert (config.batching.preferred_batch_sizes, config.batching.split_on_oom) == ((), False)
    assert config.batching.inline_below_us == 200
    assert config.batching.inline_alone_below_us == 20_000
    assert (config.instances.count, config.instances.cpu_threads) == (1, 0)
    assert config.instances.isolation == "thread"


@pytest.mark.parametrize(
    ("old", "new", "message"),
    [
        ("max_batch_size = 8", "max_batch_size = 8\ncolour = 1", "unknown key colour"),
        ("queue_size = 16", "queue_size = 16\nmax_delay = 1", "unknown key batching.max_delay"),
        ("dims = [10]", "dims = [10]\nshape = [10]", "unknown key outputs[0].shape"),
        (
            "max_batch_size = 8",
            'max_batch_size = "8"',
            "max_batch_size: expected a whole number >= 0",
        ),
        (
            "max_batch_size = 8",
            "max_batch_size = true",
            "max_batch_size: expected a whole number >= 0",
        ),
        ("count = 2", "count = 0", "instances.count: expected a whole number >= 1"),
        (
            'isolation = "process"',
            'isolation = "fork"',
            "instances.isolation: expected one of thread, process",
        ),
        ("queue_size = 16", "queue_size = 0", "batching.queue_size: expected a whole number >= 1"),
        (
            "inline_below_us = 50",
            "inline_below_us = -1",
            "batching.inline_below_us: expected a whole number >= 0",
        ),
        (
            "inline_alone_below_us = 5000",
            "inline_alone_below_us = 0.5",
            "batching.inline_alone_below_us: expected a whole number >= 0",
        ),
        (
            "split_on_oom = true",
            "split_on_oom = 1",
            "batching.split_on_oom: expected true or false",
        ),
        (
            "preferred_batch_sizes = [4, 2]",
            "preferred_batch_sizes = [16]",
            "batching.preferred_batch_sizes: expected a list of whole numbers from 1 to max_batch_size (8)",
        ),
        (
            'platform = "torchscript"',
            'platform = "onnx"',
            "platform: expected one of torchscript, torch_export, state_dict",
        ),
        (
            'dtype = "FP32"\ndims = [3, -1]',
            'dtype = "BYTES"\ndims = [3, -1]',
            "inputs[0].dtype: expected one of BOOL, UINT8",
        ),
        (
            "dims = [3, -1]",
            "dims = [3, -2]",
            "inputs[0].dims: expected a list of sizes >= 0 or -1 (variable)",
        ),
        (
            'default_version = "2"',
            "default_version = 2",
            'default_version: expected a version folder name as a string, such as "1"',
        ),
        (
            'default_version = "2"',
            'default_version = "3"',
            "default_version = '3' is not a version folder (found 1, 2)",
        ),
        (
            'name = "clf"',
            'name = "classifier"',
            "name = 'classifier' must equal the model's folder name 'clf'",
        ),
        ('name = "clf"\n', "", "name is required"),
        (
            "[[outputs]]",
            '[[inputs]]\nname = "image"\ndtype = "FP32"\ndims = [1]\n\n[[outputs]]',
            "inputs: the name 'image' is declared twice",
        ),
        (
            "[instances]",
            "[state_dict]\nmodule = 'a:B'\n[instances]",
            '[state_dict] is only for platform = "state_dict"',
        ),
        (
            "max_batch_size = 8",
            "max_batch_size = 8\n[generate]\nmax_tokens = 3\n[x]",
            '[generate] is only for kind = "generate"',
        ),
        ("max_batch_size = 8", "max_batch_size = [", "not valid TOML"),
    ],
)
def test_bad_settings_name_the_file_and_key(
    tmp_path: Path, old: str, new: str, message: str
) -> None:
    assert old in VALID
    file = write(tmp_path, VALID.replace(old, new, 1))
    with pytest.raises(RepositoryError) as bad:
        load_configs(tmp_path)
    assert str(bad.value).startswith(f"{file}: ")
    assert message in str(bad.value)


def test_a_missing_weights_file_is_named(tmp_path: Path) -> None:
    write(tmp_path, VALID)
    (tmp_path / "clf" / "2" / "model.pt").unlink()
    with pytest.raises(RepositoryError) as bad:
        load_configs(tmp_path)
    assert str(bad.value) == (
        f"{tmp_path / 'clf' / '2' / 'model.pt'}: weights file missing (platform 'torchscript' "
        "reads model.pt from each version folder)"
    )


def test_a_model_without_versions_is_refused(tmp_path: Path) -> None:
    write(tmp_path, VALID, versions=())
    (tmp_path / "clf" / "latest").mkdir()
    with pytest.raises(
        RepositoryError, match=r"clf: no version folder \(a folder named by a number"
    ):
        load_configs(tmp_path)


def test_a_folder_without_config_and_an_empty_repository(tmp_path: Path) -> None:
    with pytest.raises(RepositoryError, match="model repository folder not found"):
        load_configs(tmp_path / "absent")
    with pytest.raises(RepositoryError, match="holds no model folder"):
        load_configs(tmp_path)
    (tmp_path / "clf").mkdir()
    with pytest.raises(RepositoryError, match=r"clf/config.toml: missing"):
        load_configs(tmp_path)


GENERATE = VALID.replace('platform = "torchscript"', 'platform = "torchscript"\nkind = "generate"')


@pytest.mark.parametrize(
    ("config", "message"),
    [
        (
            GENERATE.replace("preferred_batch_sizes = [4, 2]\n", ""),
            'max_batch_size: kind = "generate" runs one sequence at a time; set 0',
        ),
        (
            GENERATE.replace("max_batch_size = 8", "max_batch_size = 0").replace(
                "preferred_batch_sizes = [4, 2]\n", ""
            ),
            'inputs: kind = "generate" needs one INT64 input and one INT64 output, each with dims = [-1]',
        ),
    ],
)
def test_generate_models_take_one_shape(tmp_path: Path, config: str, message: str) -> None:
    write(tmp_path, config)
    with pytest.raises(RepositoryError, match=re.escape(message)):
        load_configs(tmp_path)


LM = """\
name = "clf"
platform = "torchscript"
kind = "generate"

[generate]
max_tokens = 4

[[inputs]]
name = "tokens"
dtype = "INT64"
dims = [-1]

[[outputs]]
name = "token"
dtype = "INT64"
dims = [-1]
"""


def test_generate_state_is_off_unless_set(tmp_path: Path) -> None:
    write(tmp_path, LM)
    [config] = load_configs(tmp_path)
    assert config.generate is not None and not config.generate.state
    write(tmp_path, LM.replace("max_tokens = 4", "max_tokens = 4\nstate = true"))
    [config] = load_configs(tmp_path)
    assert config.generate is not None and config.generate.state


@pytest.mark.parametrize(
    ("config", "weights", "message"),
    [
        (
            LM.replace("max_tokens = 4", 'state = "yes"'),
            "model.pt",
            "generate.state: expected true or false",
        ),
        (
            LM.replace("max_tokens = 4", "state = 1"),
            "model.pt",
            "generate.state: expected true or false",
        ),
        (
            LM + '\n[instances]\nisolation = "process"\n',
            "model.pt",
            'instances.isolation = "process" is for kind = "predict"; generation runs in '
            "the serving process",
        ),
        (
            LM.replace("torchscript", "torch_export").replace("max_tokens = 4", "state = true"),
            "model.pt2",
            'generate.state = true needs platform = "torchscript" or "state_dict": a '
            "torch.export program takes either no state or a state, never both",
        ),
    ],
)
def test_bad_generate_state_names_the_file_and_key(
    tmp_path: Path, config: str, weights: str, message: str
) -> None:
    file = write(tmp_path, config, weights=weights)
    with pytest.raises(RepositoryError) as bad:
        load_configs(tmp_path)
    assert str(bad.value) == f"{file}: {message}"


def load(root: Path) -> ModelRepository:
    return ModelRepository.load(root, device="cpu", registry=CollectorRegistry())


def state_dict_model(root: Path, module: str, kwargs: str = "{ tag = 'sd' }") -> Path:
    return fx.write_model(
        root,
        "rec",
        "state_dict",
        fx.Recording("sd"),
        tensors=fx.RECORDING_TENSORS,
        header="max_batch_size = 2",
        tables=f'[state_dict]\nmodule = "{module}"\nkwargs = {kwargs}',
    )


def test_weights_that_do_not_load_are_named(tmp_path: Path) -> None:
    # In the serving process: a model process loads its weights when it starts.
    write(tmp_path, VALID.replace('isolation = "process"\n', ""))
    (tmp_path / "clf" / "1" / "model.pt").write_bytes(b"not a torchscript archive")
    with pytest.raises(RepositoryError) as bad:
        load(tmp_path)
    assert str(bad.value).startswith(
        f"{tmp_path / 'clf' / '1' / 'model.pt'}: cannot load as torchscript: "
    )


def test_a_state_dict_class_that_cannot_be_imported_is_named(tmp_path: Path) -> None:
    folder = state_dict_model(tmp_path, "inference_fixtures:NoSuchModel")
    with pytest.raises(RepositoryError) as bad:
        load(tmp_path)
    assert str(bad.value).startswith(
        f"{folder / 'config.toml'}: state_dict.module = 'inference_fixtures:NoSuchModel' cannot be imported"
    )


def test_a_state_dict_that_does_not_fit_its_class_is_refused(tmp_path: Path) -> None:
    folder = state_dict_model(tmp_path, "inference_fixtures:TinyLM", "{ vocab = 16 }")
    with pytest.raises(RepositoryError) as bad:
        load(tmp_path)
    message = str(bad.value)
    assert message.startswith(
        f"{folder / '1' / 'weights.pt'}: does not fit inference_fixtures:TinyLM: "
    )
    assert 'Unexpected key(s) in state_dict: "scale"' in message


def test_kwargs_that_do_not_fit_the_class_are_named(tmp_path: Path) -> None:
    folder = state_dict_model(tmp_path, "inference_fixtures:Recording", "{ colour = 'red' }")
    with pytest.raises(
        RepositoryError,
        match=re.escape("state_dict.kwargs do not fit inference_fixtures:Recording"),
    ) as bad:
        load(tmp_path)
    assert str(bad.value).startswith(str(folder / "config.toml"))


def test_the_device_is_chosen_at_run_time_and_a_missing_one_refused() -> None:
    assert select_device() == ("cuda" if torch.cuda.is_available() else "cpu")
    assert select_device("cpu") == "cpu"
    with pytest.raises(
        RepositoryError, match=r"device 'cuda:99': not available \(\d+ CUDA device\(s\) visible\)"
    ):
        select_device("cuda:99")
    with pytest.raises(RepositoryError, match="device 'tpu'"):
        select_device("tpu")


def test_a_failed_load_leaves_nothing_running(tmp_path: Path) -> None:
    """Start-up fails whole: a second, broken model stops the load before any runner."""
    state_dict_model(tmp_path, "inference_fixtures:Recording")
    broken = tmp_path / "zz"
    broken.mkdir()
    (broken / "config.toml").write_text('name = "zz"\n', encoding="utf-8")
    with pytest.raises(RepositoryError, match=re.escape("zz/config.toml: platform is required")):
        load(tmp_path)

    async def threads() -> int:
        import threading

        return sum(t.name.startswith("infer-") for t in threading.enumerate())

    assert asyncio.run(threads()) == 0
