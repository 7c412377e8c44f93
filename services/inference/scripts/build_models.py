"""Build the demo model repository from a fixed seed: `python scripts/build_models.py
[PATH] [--test-models]` (PATH defaults to services/inference/model_repository).

scripts/setup.sh runs it; see inference/build.py for what is built and why it is
deterministic."""

from __future__ import annotations

import argparse
import sys
import warnings
from pathlib import Path

# torch without numpy warns at import, and deprecates TorchScript; neither matters here.
warnings.filterwarnings("ignore", message="Failed to initialize NumPy")
warnings.filterwarnings("ignore", message="`torch.jit.", category=FutureWarning)

from inference.build import build_repository  # noqa: E402

DEFAULT = Path(__file__).resolve().parent.parent / "model_repository"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("path", nargs="?", type=Path, default=DEFAULT)
    parser.add_argument(
        "--test-models", action="store_true", help="also build the test-only models (slow)"
    )
    args = parser.parse_args()
    names = build_repository(args.path, test_models=args.test_models)
    print(f"built {', '.join(names)} into {args.path}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
