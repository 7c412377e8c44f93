"""The one error type of the inference runtime: a gRPC status code and a message a
caller can read, so a service maps it onto its RPC status (or a batch item's error)
without guessing."""

from __future__ import annotations

import grpc


class InferenceError(Exception):
    """A request the runtime could not answer. `code` is one of NOT_FOUND,
    INVALID_ARGUMENT, RESOURCE_EXHAUSTED, UNAVAILABLE, DEADLINE_EXCEEDED, CANCELLED or
    INTERNAL; `message` names the model, tensor or setting at fault."""

    def __init__(self, code: grpc.StatusCode, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message

    def __repr__(self) -> str:
        return f"InferenceError({self.code.name}, {self.message!r})"

    def __reduce__(self) -> tuple[type[InferenceError], tuple[grpc.StatusCode, str]]:
        # Crosses a model process's pipe (model_process.py); Exception's own pickling
        # would call the constructor with the message alone.
        return InferenceError, (self.code, self.message)


class QueueFullError(InferenceError):
    """RESOURCE_EXHAUSTED because the model's queue is full: a refusal before any work,
    which the metrics count apart from a model that ran out of memory."""

    def __init__(self, message: str) -> None:
        super().__init__(grpc.StatusCode.RESOURCE_EXHAUSTED, message)


def invalid(message: str) -> InferenceError:
    return InferenceError(grpc.StatusCode.INVALID_ARGUMENT, message)


class RepositoryError(Exception):
    """A model repository that cannot be served: a malformed or unknown config key, a
    missing weights file, a model that fails to load or to warm up. The message names
    the file (and key) at fault; start-up stops with it."""
