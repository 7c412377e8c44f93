"""The handlers of fleet.inference.v1.InferenceService on the runtime's inference library.

Each handler turns the request's messages into the runtime's plain tensors
(`tensors.py`), calls the model, and turns the answer back; the runtime validates the
tensors, batches concurrent items into one forward pass and reports failures as
InferenceError, whose gRPC code and message become the call's status (or, in
BatchPredict, the item's error). The call's deadline travels with every item, so an
item whose deadline passed while queued never reaches the model.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from typing import Any, NoReturn

import grpc
from contracts_runtime import Service
from contracts_runtime.inference import InferenceError, ModelRepository, OutputTensor
from fleet.inference.v1 import inference_service_pb2, inference_service_pb2_grpc
from grpc.aio import ServicerContext

from inference import tensors
from inference.settings import InferenceSettings

# "fleet.inference.v1.InferenceService"; importing its module registers the descriptor.
SERVICE = inference_service_pb2.DESCRIPTOR.services_by_name["InferenceService"].full_name
Context = ServicerContext[Any, Any]
PredictRequest = inference_service_pb2.PredictRequest
PredictResponse = inference_service_pb2.PredictResponse


def deadline_of(context: Context) -> float | None:
    """The call's deadline on the time.monotonic() clock the runtime compares with."""
    remaining = context.time_remaining()
    return None if remaining is None else time.monotonic() + remaining


async def fail(context: Context, error: InferenceError) -> NoReturn:
    await context.abort(error.code, error.message)
    raise AssertionError("unreachable: abort raises")


class InferenceService(inference_service_pb2_grpc.InferenceServiceServicer):
    """InferenceService runs inference on the models of one model repository."""

    def __init__(self, repository: ModelRepository, settings: InferenceSettings) -> None:
        self.repository = repository
        self.settings = settings

    async def predict(self, request: PredictRequest, deadline: float | None) -> PredictResponse:
        """One item, as Predict and each BatchPredict item run it."""
        model = self.repository.get(request.model_name, request.model_version)
        outputs = await model.predict(
            tensors.to_inputs(request.inputs),
            list(request.output_names),
            deadline,
            tensors.to_parameters(request.parameters),
        )
        return PredictResponse(
            model_name=request.model_name,
            model_version=model.version,
            request_id=request.request_id,
            outputs=[tensors.to_tensor(o) for o in outputs],
        )

    async def Predict(self, request: PredictRequest, context: Context) -> PredictResponse:
        """Predict runs one inference request and returns all requested outputs."""
        try:
            return await self.predict(request, deadline_of(context))
        except InferenceError as error:
            await fail(context, error)

    async def BatchPredict(
        self, request: inference_service_pb2.BatchPredictRequest, context: Context
    ) -> inference_service_pb2.BatchPredictResponse:
        """BatchPredict runs many independent inference requests in one call; each
        item goes through the same batcher as Predict, concurrently."""
        count, limit = len(request.requests), self.settings.max_batch_items
        if not count:
            await context.abort(grpc.StatusCode.INVALID_ARGUMENT, "requests: the batch is empty")
        if count > limit:
            await context.abort(
                grpc.StatusCode.INVALID_ARGUMENT,
                f"requests: {count} items, more than this server's limit of {limit}",
            )
        deadline = deadline_of(context)
        results = await asyncio.gather(*(self._item(item, deadline) for item in request.requests))
        return inference_service_pb2.BatchPredictResponse(results=results)

    async def _item(
        self, item: PredictRequest, deadline: float | None
    ) -> inference_service_pb2.BatchPredictResult:
        try:
            return inference_service_pb2.BatchPredictResult(
                response=await self.predict(item, deadline)
            )
        except InferenceError as error:
            code = error.code.value[0]
            failure = inference_service_pb2.ItemError(code=code, message=error.message)
            return inference_service_pb2.BatchPredictResult(error=failure)

    async def PredictStream(
        self, request: inference_service_pb2.PredictStreamRequest, context: Context
    ) -> AsyncIterator[inference_service_pb2.PredictStreamResponse]:
        """PredictStream sends each generated token as the model produces it, numbered
        from 0, then a final piece with no outputs once generation ended (the last
        token is not held back waiting to learn that it is the last). A client that
        cancels stops the generation before its next step."""
        item = request.request
        number = 0
        try:
            model = self.repository.get(item.model_name, item.model_version)
            pieces = model.generate(
                tensors.to_inputs(item.inputs),
                list(item.output_names),
                tensors.to_parameters(item.parameters),
                deadline_of(context),
            )
            async for outputs in pieces:
                yield self._piece(item, model.version, number, outputs, final=False)
                number += 1
            yield self._piece(item, model.version, number, [], final=True)
        except InferenceError as error:
            await fail(context, error)

    @staticmethod
    def _piece(
        item: PredictRequest,
        version: str,
        number: int,
        outputs: list[OutputTensor],
        *,
        final: bool,
    ) -> inference_service_pb2.PredictStreamResponse:
        return inference_service_pb2.PredictStreamResponse(
            response=PredictResponse(
                model_name=item.model_name,
                model_version=version,
                request_id=item.request_id,
                outputs=[tensors.to_tensor(o) for o in outputs],
            ),
            sequence_number=number,
            final=final,
        )

    async def GetModelMetadata(
        self, request: inference_service_pb2.GetModelMetadataRequest, context: Context
    ) -> inference_service_pb2.GetModelMetadataResponse:
        """GetModelMetadata describes a model: its versions, platform (with the
        device it runs on) and the inputs and outputs a request must supply."""
        try:
            meta = self.repository.find(request.model_name, request.model_version).metadata
        except InferenceError as error:
            await fail(context, error)
        return inference_service_pb2.GetModelMetadataResponse(
            name=meta.name,
            versions=meta.versions,
            platform=meta.platform,
            device=meta.device,
            inputs=[tensors.to_metadata(spec) for spec in meta.inputs],
            outputs=[tensors.to_metadata(spec) for spec in meta.outputs],
        )

    async def GetModelReady(
        self, request: inference_service_pb2.GetModelReadyRequest, context: Context
    ) -> inference_service_pb2.GetModelReadyResponse:
        """GetModelReady: ready = false while the version is loading or unhealthy;
        NOT_FOUND for an unknown model or version."""
        try:
            ready = self.repository.find(request.model_name, request.model_version).ready
        except InferenceError as error:
            await fail(context, error)
        return inference_service_pb2.GetModelReadyResponse(ready=ready)


def services(repository: ModelRepository, settings: InferenceSettings) -> list[Service]:
    """What this process serves; health, reflection and metrics name it by SERVICE."""
    add = inference_service_pb2_grpc.add_InferenceServiceServicer_to_server
    return [Service(SERVICE, add, InferenceService(repository, settings))]
