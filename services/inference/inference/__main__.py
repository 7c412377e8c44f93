"""`python -m inference` (or the `inference` console script): serve the model repository
until SIGTERM.

Settings: the INFERENCE_* ones (`settings.py`) and the runtime's SERVER_* ones, as
variables or flags (`--help` lists both). The models load when the server is built,
before the port is bound, so a malformed repository stops start-up with a message
naming the file and no server ever answers; they warm up while health says
NOT_SERVING.
"""

from __future__ import annotations

import logging
import os
import sys

from contracts_runtime import ExitCode, Service, SettingsError, run
from contracts_runtime.inference import ModelRepository, RepositoryError, quiet_torch_warnings

from inference import server, settings

_LOG = logging.getLogger("inference")
# Before torch loads: its warnings would break the log's one JSON object a line.
quiet_torch_warnings()


class App:
    """The repository one serving process loads (each worker process its own)."""

    def __init__(self, config: settings.InferenceSettings) -> None:
        self.config = config
        self.repository: ModelRepository | None = None

    def services(self) -> list[Service]:
        device = None if self.config.device == "auto" else self.config.device
        try:
            self.repository = ModelRepository.load(self.config.model_repository, device=device)
        except RepositoryError as error:
            _LOG.error(f"model repository: {error}")
            raise
        return server.services(self.repository, self.config)

    async def warm_up(self) -> None:
        """Every model runs once; health says NOT_SERVING until this returns."""
        assert self.repository is not None
        await self.repository.warm_up()

    async def close(self) -> None:
        if self.repository is not None:
            await self.repository.close()


def main() -> int:
    argv = sys.argv[1:]
    if "-h" in argv or "--help" in argv:
        print(settings.help_text() + "\n")
    try:
        config, rest = settings.load(argv, os.environ)
    except SettingsError as error:
        for problem in error.problems:
            print(f"invalid setting: {problem}", file=sys.stderr)
        return ExitCode.BAD_SETTINGS
    app = App(config)
    return run(app.services, warm_up=app.warm_up, on_stop=app.close, argv=rest, prog="inference")


if __name__ == "__main__":
    raise SystemExit(main())
