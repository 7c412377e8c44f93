"""The shape of RPC APIs as Go and Python gRPC clients see them."""

from __future__ import annotations

from compat_checks.lint.context import LintContext
from compat_checks.lint.registry import rule
from compat_checks.lint.rules._common import rpc_responses, tokens
from contracts_core.descriptors import Element, Kind
from contracts_core.findings import Severity

# Whole names that report an outcome, and last words that do (`last_error`), while
# `error_count` or `error_rate` (metrics about errors) do not.
_OUTCOME_NAMES = frozenset(
    {
        "success",
        "succeeded",
        "ok",
        "error_message",
        "error_msg",
        "error_code",
        "error_details",
        "status_message",
    }
)
_OUTCOME_LAST_WORDS = frozenset({"error", "errors", "err", "errmsg"})


def _reports_outcome(name: str) -> bool:
    words = tokens(name)
    return name in _OUTCOME_NAMES or bool(words and words[-1] in _OUTCOME_LAST_WORDS)


@rule(
    "ERROR_IN_RESPONSE",
    Kind.FIELD,
    severity=Severity.WARNING,
    rationale="gRPC clients treat any returned response as success, so a failure reported in "
    "a unary response field bypasses retries, deadlines, interceptors and error metrics; "
    "items of a server stream may carry per-item errors, since a status would end the stream.",
    fix="Return a gRPC status code with details (codes.InvalidArgument, NotFound, ...); keep "
    "per-item outcomes in item messages.",
)
def error_in_response(element: Element, ctx: LintContext) -> str | None:
    message = element.parent
    if message is None or not _reports_outcome(element.name):
        return None
    methods = rpc_responses(ctx).get(message.full_name)
    if not methods:
        return None
    return (
        f"field `{element.full_name}` reports success or failure in `{message.name}`, the "
        f"response of {', '.join(sorted(methods))}: Go (`err == nil`) and Python (no "
        "grpc.RpcError) clients see the call as successful, so retries, interceptors and "
        "error metrics never see this failure"
    )
