"""One model instance in a process of its own (`[instances] isolation = "process"`), as
Triton's Python backend runs each instance in a stub process: its forward passes never
wait for the serving process's GIL, so an eager module (a state dict's `nn.Module`, a
`torch.export` program, which take the GIL back between operators) runs at full speed
next to a busy event loop. The price: each batch's tensors cross a pipe both ways, and
each instance loads torch and its model again (memory, start-up time).

The instance's runner thread in the serving process calls `predict` as it calls a
`Runner`'s. The child is spawned, never forked, so no CUDA or thread state crosses; it
loads the model, warms it up, then answers batches until it is told to stop or its pipe
closes (the server is gone). A child that dies fails the batch it was running
(INTERNAL, naming its exit code); one found dead between batches fails nothing. The
next batch starts a new child first (UNAVAILABLE, with the reason, if it cannot).
"""

from __future__ import annotations

import contextlib
import logging
import multiprocessing
import multiprocessing.connection
import signal
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import grpc

from contracts_runtime import logs
from contracts_runtime.inference.config import ModelConfig, load_config
from contracts_runtime.inference.device import quiet_torch_warnings
from contracts_runtime.inference.errors import InferenceError, RepositoryError
from contracts_runtime.inference.tensors import OutputTensor

log = logging.getLogger("contracts_runtime.inference")

# Loading and warming up a large model takes a while; a child silent for longer is hung.
START_TIMEOUT_S = 300.0
STOP_TIMEOUT_S = 10.0

Outcomes = list[list[OutputTensor] | BaseException]


class ModelProcess:
    """One instance of one model version, run in a child process."""

    def __init__(self, config: ModelConfig, version: str, device: str) -> None:
        self.config = config
        self.version = version
        self.device = device
        self._process: multiprocessing.process.BaseProcess | None = None
        self._conn: multiprocessing.connection.Connection | None = None

    def init_thread(self) -> None:
        """Runs first in this instance's runner thread: start the child, which loads
        and warms the model up; RepositoryError with the child's reason when it fails
        (the repository names the model)."""
        self._start()

    def warm_up(self) -> None:
        """The child warmed its model up before it said it was ready."""

    def _start(self) -> None:
        context = multiprocessing.get_context("spawn")
        ours, theirs = context.Pipe()
        process = context.Process(
            target=_serve,
            args=(theirs, str(self.config.path), self.version, self.device, logs.current()),
            name=f"model-{self.config.name}-{self.version}",
            # A server that exits without closing its models does not leave them behind.
            daemon=True,
        )
        process.start()
        theirs.close()
        self._process, self._conn = process, ours
        try:
            if ours.poll(START_TIMEOUT_S):
                kind, detail = ours.recv()
            else:
                kind, detail = "error", f"its process was not ready after {START_TIMEOUT_S:g} s"
        except (EOFError, OSError):
            kind, detail = "error", f"its process exited with code {self._reap()} while loading"
        if kind != "ready":
            # A hung child is killed (close waits STOP_TIMEOUT_S, then kills).
            self.close()
            raise RepositoryError(detail)

    @property
    def _name(self) -> str:
        return f"model '{self.config.name}' version {self.version}"

    def predict(self, items: Sequence[Any]) -> Outcomes:
        """One batch through the child; its outcomes, or its exception raised here. A
        child found dead between batches is started again first; one that dies
        during the batch fails it, and is started again for the next."""
        if self._process is not None and not self._process.is_alive():
            self._died("between batches")
        if self._conn is None:
            try:
                self._start()
            except RepositoryError as exc:
                raise InferenceError(
                    grpc.StatusCode.UNAVAILABLE, f"{self._name}: cannot start its process: {exc}"
                ) from None
        assert self._conn is not None
        try:
            self._conn.send(list(items))
            kind, result = self._conn.recv()
        except (EOFError, OSError):
            code = self._died(f"while running a batch of {len(items)}")
            error = InferenceError(
                grpc.StatusCode.INTERNAL,
                f"{self._name}: its process exited with code {code} while running a batch "
                f"of {len(items)}",
            )
            return [error] * len(items)
        if kind == "raised":
            raise result
        outcomes: Outcomes = result
        return outcomes

    def _died(self, when: str) -> int | None:
        """Reap a dead child and say so; the next batch starts a new one."""
        code = self._reap()
        log.error(
            f"model process exited {when}; the next batch starts it again",
            extra=logs.fields(model=self.config.name, version=self.version, exit_code=code),
        )
        return code

    def generate(self, job: Any, *, stop_at_eos: bool = True) -> int:
        # The config refuses isolation = "process" for kind = "generate".
        raise NotImplementedError(f"{self._name}: generation runs in the serving process")

    def _reap(self) -> int | None:
        """The dead child's exit code, once it is gone."""
        process, self._process = self._process, None
        if self._conn is not None:
            self._conn.close()
            self._conn = None
        if process is None:
            return None
        process.join(STOP_TIMEOUT_S)
        if process.exitcode is None:
            process.kill()
            process.join(STOP_TIMEOUT_S)
        return process.exitcode

    def close(self) -> None:
        """Ask the child to stop, then make sure it did."""
        if self._conn is not None:
            with contextlib.suppress(OSError):
                self._conn.send(None)
        self._reap()


def _serve(
    conn: multiprocessing.connection.Connection,
    model_dir: str,
    version: str,
    device: str,
    log_settings: tuple[str, str, dict[str, object]],
) -> None:
    """The child: load, warm up, say "ready", then answer each batch until None or EOF."""
    # The server decides when its models stop: a terminal's Ctrl-C or a group-wide
    # SIGTERM must not kill an instance under the server's drain.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    level, log_format, process_fields = log_settings
    logs.configure(level, log_format, process=process_fields)
    quiet_torch_warnings()
    import torch

    from contracts_runtime.inference.runner import Runner, load_module

    try:
        config = load_config(Path(model_dir))
        where = torch.device(device)
        runner = Runner(config, version, where, load_module(config, version, where))
        runner.init_thread()
        runner.warm_up()
    except RepositoryError as exc:
        conn.send(("error", str(exc)))
        return
    except InferenceError as exc:
        conn.send(("error", exc.message))
        return
    except Exception as exc:
        conn.send(("error", f"{type(exc).__name__}: {exc}"))
        return
    conn.send(("ready", None))
    while True:
        try:
            items = conn.recv()
        except EOFError:
            return
        if items is None:
            return
        try:
            conn.send(("done", runner.predict(items)))
        except InferenceError as exc:
            conn.send(("raised", exc))
