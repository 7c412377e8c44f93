"""Which device the models run on, chosen at run time (torch imported lazily, so the
rest of the runtime imports without it)."""

from __future__ import annotations

import warnings

from contracts_runtime.inference.errors import RepositoryError


def quiet_torch_warnings() -> None:
    """Keep a serving process's log one JSON object a line: torch's warnings on stderr
    say nothing about the server (numpy is absent: tensors travel as bytes; TorchScript
    is deprecated in favour of torch.export, and the runtime loads both). Call it
    before torch is imported: the first fires on import."""
    warnings.filterwarnings("ignore", message="Failed to initialize NumPy")
    warnings.filterwarnings("ignore", message="`torch.jit.", category=FutureWarning)


def select_device(requested: str | None = None) -> str:
    """`requested` when given ("cpu", "cuda", "cuda:1"), else "cuda" when a CUDA device
    is available, else "cpu". A CUDA device that is not there is refused out loud rather
    than silently replaced by the CPU."""
    import torch

    if not requested:
        return "cuda" if torch.cuda.is_available() else "cpu"
    try:
        device = torch.device(requested)
    except RuntimeError as exc:
        raise RepositoryError(f"device {requested!r}: {exc}") from None
    if device.type == "cuda":
        count = torch.cuda.device_count() if torch.cuda.is_available() else 0
        index = device.index or 0
        if index >= count:
            raise RepositoryError(
                f"device {requested!r}: not available ({count} CUDA device(s) visible)"
            )
    elif device.type != "cpu":
        raise RepositoryError(f"device {requested!r}: expected cpu, cuda or cuda:N")
    return str(device)
