"""The demo model repository is built from a fixed seed: two builds hold the same
weights (state dicts byte for byte; TorchScript archives differ in their packaging,
never in their tensors), and the runtime reads what the build wrote."""

from __future__ import annotations

from pathlib import Path

import torch
from contracts_runtime.inference import load_configs

from inference.build import DEMO_MODELS, build_repository


def weights(path: Path) -> dict[str, torch.Tensor]:
    if path.name == "model.pt":
        module = torch.jit.load(str(path))  # type: ignore[no-untyped-call]
        state: dict[str, torch.Tensor] = module.state_dict()
        return state
    loaded: dict[str, torch.Tensor] = torch.load(path, weights_only=True)
    return loaded


def test_two_builds_hold_the_same_weights(tmp_path: Path) -> None:
    first = build_repository(tmp_path / "a", test_models=True)
    second = build_repository(tmp_path / "b", test_models=True)
    assert first == second == [d.name for d in DEMO_MODELS]
    files = sorted(p.relative_to(tmp_path / "a") for p in (tmp_path / "a").rglob("*.pt"))
    assert len(files) == len(DEMO_MODELS)
    for rel in files:
        a, b = weights(tmp_path / "a" / rel), weights(tmp_path / "b" / rel)
        assert a.keys() == b.keys()
        assert all(torch.equal(a[k], b[k]) for k in a), rel
        if rel.name == "weights.pt":
            assert (tmp_path / "a" / rel).read_bytes() == (tmp_path / "b" / rel).read_bytes()


def test_the_runtime_reads_every_config_and_test_models_are_left_out_by_default(
    tmp_path: Path,
) -> None:
    names = build_repository(tmp_path / "r")
    assert "slow" not in names
    configs = load_configs(tmp_path / "r")
    assert sorted(c.name for c in configs) == sorted(names)
    kinds = {c.name: (c.platform, c.kind) for c in configs}
    assert kinds["classifier"] == ("torchscript", "predict")
    assert kinds["classifier_state_dict"] == ("state_dict", "predict")
    assert kinds["textgen"] == ("torchscript", "generate")


def test_a_rebuild_replaces_the_repository_whole(tmp_path: Path) -> None:
    target = tmp_path / "r"
    build_repository(target, test_models=True)
    build_repository(target)
    assert not (target / "slow").exists()
    assert [p.name for p in tmp_path.iterdir()] == ["r"]  # no staging folder left
