"""One aio server interceptor that observes every call of all four kinds: Prometheus
metrics, the per-call log line, the request id, and the drain gate that refuses new
application calls with UNAVAILABLE once shutdown began while the accepted ones finish.

One interceptor, not one per concern: each adds a wrapper around every call, and the
wrapped handler of each method is built once and cached, as is everything decided per
method (its metrics, its log line's fixed parts, where its request id is, what each
status code means), so a call costs a few additions to plain numbers
(`metrics.CountedMethodMetrics`), two clock reads and one spliced log line
(`logs.CallLine`).

Handlers are expected to be `async def` (coroutines or async generators), as the
scaffolded services write them. A plain `def` unary-request handler runs in a thread, as
grpc.aio runs it; a plain `def` handler of a request-streaming method is passed through
unobserved.
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Collection, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import grpc

from contracts_runtime import logs
from contracts_runtime.metrics import GO_CODE_NAMES, Handled, MethodMetrics, method_metrics
from contracts_runtime.request_ids import Ids, RequestId, find_request_id

ACCESS_LOG = logging.getLogger("contracts_runtime.access")
FINISHED = "finished call"

UNARY, CLIENT_STREAM, SERVER_STREAM, BIDI_STREAM = (
    "unary",
    "client_stream",
    "server_stream",
    "bidi_stream",
)

# go-grpc-middleware's DefaultServerCodeToLevel: the caller's mistakes are INFO, the
# server's trouble WARNING or ERROR.
_C = grpc.StatusCode
_OK = _C.OK
_LEVELS: dict[grpc.StatusCode, int] = {
    **{code: logging.INFO for code in _C},
    **dict.fromkeys(
        (
            _C.DEADLINE_EXCEEDED,
            _C.PERMISSION_DENIED,
            _C.RESOURCE_EXHAUSTED,
            _C.FAILED_PRECONDITION,
            _C.ABORTED,
            _C.OUT_OF_RANGE,
            _C.UNAVAILABLE,
        ),
        logging.WARNING,
    ),
    **dict.fromkeys((_C.UNKNOWN, _C.UNIMPLEMENTED, _C.INTERNAL, _C.DATA_LOSS), logging.ERROR),
}

DRAINING_DETAILS = "server is shutting down; retry on another instance"

if TYPE_CHECKING:  # generic only in the stubs
    Context = grpc.aio.ServicerContext[Any, Any]
    Handler = grpc.RpcMethodHandler[Any, Any]


@dataclass(frozen=True)
class _Outcome:
    """What one status code means for one method's bookkeeping, worked out once: its
    log level, Go's name for the code, and the method's `handled` count of it."""

    level: int
    level_name: str
    code: str
    handled: Handled


class Drain:
    """Application calls in flight, and the gate that closes when draining begins."""

    def __init__(self) -> None:
        self.in_flight = 0
        self.draining = False
        self._idle = asyncio.Event()
        self._idle.set()

    def enter(self) -> bool:
        if self.draining:
            return False
        self.in_flight += 1
        self._idle.clear()
        return True

    def leave(self) -> None:
        self.in_flight -= 1
        if self.in_flight == 0:
            self._idle.set()

    def begin(self) -> None:
        self.draining = True

    async def wait_idle(self, timeout: float) -> bool:
        """True when every accepted call finished within `timeout` seconds."""
        try:
            await asyncio.wait_for(self._idle.wait(), timeout)
        except TimeoutError:
            return False
        return True


@dataclass
class _Method:
    service: str
    name: str
    kind: str
    application: bool
    metrics: MethodMetrics
    call_fields: Mapping[str, object]
    line: logs.CallLine
    # Where the request message keeps its request id; found at the first request.
    request_id: RequestId | None = None
    # By status code, at its first use; OK's also apart, as most calls end with it
    # (hashing a StatusCode is a Python-level Enum.__hash__ call).
    outcomes: dict[grpc.StatusCode, _Outcome] = field(default_factory=dict)
    ok: _Outcome | None = None

    def outcome(self, code: grpc.StatusCode) -> _Outcome:
        if code is _OK and self.ok is not None:
            return self.ok
        found = self.outcomes.get(code)
        if found is None:
            # Health and reflection calls that succeed are DEBUG: probes come often.
            level = _LEVELS[code] if self.application or code is not _OK else logging.DEBUG
            found = _Outcome(
                level,
                logging.getLevelName(level),
                GO_CODE_NAMES[code],
                self.metrics.handled_counter(code),
            )
            self.outcomes[code] = found
            if code is _OK:
                self.ok = found
        return found


def status_of(context: Context, error: BaseException | None) -> grpc.StatusCode:
    """The status code a call ended with, as the client sees it."""
    code = context.code()
    if error is None:
        return code if isinstance(code, grpc.StatusCode) else grpc.StatusCode.OK
    if isinstance(error, asyncio.CancelledError):
        remaining = context.time_remaining()
        expired = remaining is not None and remaining <= 0
        return grpc.StatusCode.DEADLINE_EXCEEDED if expired else grpc.StatusCode.CANCELLED
    # abort() and set_code() before raising decide the code; anything else is UNKNOWN.
    if isinstance(code, grpc.StatusCode) and code is not grpc.StatusCode.OK:
        return code
    return grpc.StatusCode.UNKNOWN


class Interceptor(grpc.aio.ServerInterceptor):
    def __init__(self, drain: Drain, application_services: Collection[str]) -> None:
        self._drain = drain
        self._application = frozenset(application_services)
        self._cache: dict[str, tuple[Handler, Handler]] = {}

    async def intercept_service(
        self,
        continuation: Callable[[grpc.HandlerCallDetails], Awaitable[Handler | None]],
        handler_call_details: grpc.HandlerCallDetails,
    ) -> Handler | None:
        handler = await continuation(handler_call_details)
        if handler is None:
            return handler  # unknown method: grpc answers UNIMPLEMENTED
        full = handler_call_details.method
        cached = self._cache.get(full)
        if cached is None or cached[0] is not handler:
            cached = (handler, self._wrap(full, handler))
            self._cache[full] = cached
        return cached[1]

    def _method(self, full: str, kind: str) -> _Method:
        service, _, name = full.lstrip("/").partition("/")
        call_fields = {"grpc.service": service, "grpc.method": name}
        return _Method(
            service=service,
            name=name,
            kind=kind,
            application=service in self._application,
            metrics=method_metrics(kind, service, name),
            call_fields=call_fields,
            line=logs.CallLine(ACCESS_LOG.name, FINISHED, call_fields, kind),
        )

    # -- bookkeeping shared by the four kinds ------------------------------------------

    def _begin(self, m: _Method, request: object) -> tuple[bool, Ids]:
        """Count the call; False when the drain gate refuses it; and its request id."""
        m.metrics.start()
        request_id = None
        if request is not None:
            if m.request_id is None:
                m.request_id = find_request_id(getattr(request, "DESCRIPTOR", None))
            request_id = m.request_id.read(request)
        logs.CALL_FIELDS.set(
            {**m.call_fields, m.request_id.key: request_id}
            if request_id and m.request_id is not None
            else m.call_fields
        )
        return not m.application or self._drain.enter(), request_id

    def _end(
        self,
        m: _Method,
        context: Context,
        started: float,
        admitted: bool,
        request_id: Ids,
        error: BaseException | None,
    ) -> None:
        seconds = time.perf_counter() - started
        if m.application and admitted:
            self._drain.leave()
        outcome = m.outcome(status_of(context, error))
        m.metrics.handled(outcome.handled, seconds)
        if not ACCESS_LOG.isEnabledFor(outcome.level):
            return
        time_ms = round(seconds * 1000, 3)
        handler = logs.call_line_handler(ACCESS_LOG, outcome.level)
        if handler is not None:
            key = m.request_id.key if m.request_id is not None else ""
            line = m.line.format(
                handler.process, outcome.level_name, request_id, key, outcome.code, time_ms
            )
            handler.queue(line)
            return
        ACCESS_LOG.log(
            outcome.level,
            FINISHED,
            extra=logs.fields(
                **{"grpc.method_type": m.kind, "grpc.code": outcome.code, "grpc.time_ms": time_ms}
            ),
        )

    @staticmethod
    async def _refuse(context: Context) -> None:
        await context.abort(grpc.StatusCode.UNAVAILABLE, DRAINING_DETAILS)

    @contextlib.asynccontextmanager
    async def _observed(self, m: _Method, request: object, context: Context) -> AsyncIterator[None]:
        """One call's bookkeeping around its handler, for every kind: the started
        count and request id, the drain gate, then the handled count, latency and
        access log with the status the call ended with."""
        started = time.perf_counter()
        admitted, request_id = self._begin(m, request)
        error: BaseException | None = None
        try:
            if not admitted:
                await self._refuse(context)
            yield
        except BaseException as e:
            error = e
            raise
        finally:
            self._end(m, context, started, admitted, request_id, error)

    # -- the four kinds ------------------------------------------------------------------

    def _wrap(self, full: str, handler: Handler) -> Handler:
        deserialize, serialize = handler.request_deserializer, handler.response_serializer
        if handler.unary_unary is not None:
            return grpc.unary_unary_rpc_method_handler(
                self._unary_unary(self._method(full, UNARY), handler.unary_unary),
                deserialize,
                serialize,
            )
        if handler.unary_stream is not None:
            return grpc.unary_stream_rpc_method_handler(
                self._unary_stream(self._method(full, SERVER_STREAM), handler.unary_stream),
                deserialize,
                serialize,
            )
        if handler.stream_unary is not None:
            if not inspect.iscoroutinefunction(handler.stream_unary):
                return handler
            return grpc.stream_unary_rpc_method_handler(
                self._stream_unary(self._method(full, CLIENT_STREAM), handler.stream_unary),
                deserialize,
                serialize,
            )
        assert handler.stream_stream is not None
        behavior = handler.stream_stream
        if not (inspect.iscoroutinefunction(behavior) or inspect.isasyncgenfunction(behavior)):
            return handler
        return grpc.stream_stream_rpc_method_handler(
            self._stream_stream(self._method(full, BIDI_STREAM), behavior),
            deserialize,
            serialize,
        )

    def _unary_unary(self, m: _Method, behavior: Callable[..., Any]) -> Callable[..., Any]:
        call = behavior if inspect.iscoroutinefunction(behavior) else _in_thread(behavior)

        # `_observed` spelled out: the hot path, and an async context manager's
        # generator and awaits cost more per call than the rest of the bookkeeping.
        async def unary_unary(request: object, context: Context) -> object:
            started = time.perf_counter()
            admitted, request_id = self._begin(m, request)
            try:
                if not admitted:
                    await self._refuse(context)
                m.metrics.receive()
                response = await call(request, context)
                m.metrics.send()
            except BaseException as error:
                self._end(m, context, started, admitted, request_id, error)
                raise
            self._end(m, context, started, admitted, request_id, None)
            return response

        return unary_unary

    def _unary_stream(self, m: _Method, behavior: Callable[..., Any]) -> Callable[..., Any]:
        if inspect.iscoroutinefunction(behavior):
            # Responses are sent with context.write(); they are not counted.
            async def writes(request: object, context: Context) -> None:
                async with self._observed(m, request, context):
                    m.metrics.receive()
                    await behavior(request, context)

            return writes

        responses = (
            behavior if inspect.isasyncgenfunction(behavior) else _iterate_in_thread(behavior)
        )

        async def unary_stream(request: object, context: Context) -> AsyncIterator[object]:
            async with self._observed(m, request, context):
                m.metrics.receive()
                async for response in responses(request, context):
                    m.metrics.send()
                    yield response

        return unary_stream

    def _stream_unary(self, m: _Method, behavior: Callable[..., Any]) -> Callable[..., Any]:
        async def stream_unary(requests: AsyncIterator[object], context: Context) -> object:
            async with self._observed(m, None, context):
                response = await behavior(_counted(requests, m.metrics), context)
                m.metrics.send()
                return response

        return stream_unary

    def _stream_stream(self, m: _Method, behavior: Callable[..., Any]) -> Callable[..., Any]:
        if inspect.iscoroutinefunction(behavior):

            async def writes(requests: AsyncIterator[object], context: Context) -> None:
                async with self._observed(m, None, context):
                    await behavior(_counted(requests, m.metrics), context)

            return writes

        async def stream_stream(
            requests: AsyncIterator[object], context: Context
        ) -> AsyncIterator[object]:
            async with self._observed(m, None, context):
                async for response in behavior(_counted(requests, m.metrics), context):
                    m.metrics.send()
                    yield response

        return stream_stream


async def _counted(
    requests: AsyncIterator[object], metrics: MethodMetrics
) -> AsyncIterator[object]:
    async for request in requests:
        metrics.receive()
        yield request


def _in_thread(behavior: Callable[..., Any]) -> Callable[..., Awaitable[Any]]:
    async def call(request: object, context: Context) -> Any:
        return await asyncio.to_thread(behavior, request, context)

    return call


_DONE = object()


def _iterate_in_thread(behavior: Callable[..., Any]) -> Callable[..., AsyncIterator[Any]]:
    async def iterate(request: object, context: Context) -> AsyncIterator[Any]:
        iterator = iter(await asyncio.to_thread(behavior, request, context))
        while (item := await asyncio.to_thread(next, iterator, _DONE)) is not _DONE:
            yield item

    return iterate
