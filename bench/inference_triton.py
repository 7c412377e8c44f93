"""NVIDIA Triton Inference Server through PyTriton, serving the benchmark's models for
bench/inference_servers.py: the same TorchScript files as the other servers, each bound
with Triton's dynamic batcher (no queue delay, the config's max_batch_size) and one
model instance. Benchmark use only; it runs under the Triton venv that
inference_servers.py makes (PyTriton's client pins protobuf below 7, which the
toolchain's own venv cannot take).

    <triton venv>/bin/python bench/inference_triton.py --repository PATH \
        --grpc-port N --http-port N --metrics-port N [--models classifier,add_one]
        [--cpu-threads N] [--instances N]

Triton answers the KServe v2 gRPC API (inference.GRPCInferenceService) on --grpc-port
and Prometheus metrics (nv_inference_count, nv_inference_exec_count, ...) on
--metrics-port. --cpu-threads sets torch's intra-op threads in the thread that runs the
forward pass (the count is per calling thread); 0 keeps torch's default, the machine's
cores. --instances binds that many model instances (Triton's instance count). Runs until
SIGTERM or SIGINT.
"""

from __future__ import annotations

import argparse
import signal
import threading
import tomllib
from collections.abc import Callable
from pathlib import Path
from typing import Any, cast

import numpy as np  # type: ignore[import-not-found, unused-ignore]
import torch
from pytriton.decorators import batch  # type: ignore[import-not-found, unused-ignore]
from pytriton.model_config import (  # type: ignore[import-not-found, unused-ignore]
    DynamicBatcher,
    ModelConfig,
    Tensor,
)
from pytriton.triton import Triton, TritonConfig  # type: ignore[import-not-found, unused-ignore]


def infer_function(
    weights: Path, input_name: str, output_name: str, cpu_threads: int
) -> Callable[..., Any]:
    """PyTriton's callable: one forward pass over the batch Triton gathered."""
    module = torch.jit.load(str(weights)).eval()  # type: ignore[no-untyped-call]

    def infer(**inputs: Any) -> dict[str, Any]:
        if cpu_threads and torch.get_num_threads() != cpu_threads:
            torch.set_num_threads(cpu_threads)
        with torch.inference_mode():
            y = module(torch.from_numpy(inputs[input_name]))
        return {output_name: y.numpy()}

    # @batch: Triton hands the callable whole batches, as one array per input.
    return cast(Callable[..., Any], batch(infer))


def bind(triton: Any, repository: Path, name: str, cpu_threads: int, instances: int) -> None:
    config = tomllib.loads((repository / name / "config.toml").read_text())
    versions = [p.name for p in (repository / name).iterdir() if p.name.isdigit()]
    version = str(config.get("default_version", max(versions, key=int)))
    (spec_in,), (spec_out,) = config["inputs"], config["outputs"]
    if spec_in["dtype"] != "FP32" or spec_out["dtype"] != "FP32":
        raise SystemExit(f"{name}: the Triton side of the benchmark serves FP32 models only")
    triton.bind(
        model_name=name,
        # A list of callables: one model instance each, as Triton's instance_group count.
        infer_func=[
            infer_function(
                repository / name / version / "model.pt",
                spec_in["name"],
                spec_out["name"],
                cpu_threads,
            )
            for _ in range(instances)
        ],
        inputs=[Tensor(name=spec_in["name"], dtype=np.float32, shape=tuple(spec_in["dims"]))],
        outputs=[Tensor(name=spec_out["name"], dtype=np.float32, shape=tuple(spec_out["dims"]))],
        config=ModelConfig(
            max_batch_size=config["max_batch_size"],
            batcher=DynamicBatcher(max_queue_delay_microseconds=0),
        ),
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repository", type=Path, required=True)
    parser.add_argument("--models", default="classifier,add_one")
    parser.add_argument("--grpc-port", type=int, required=True)
    parser.add_argument("--http-port", type=int, required=True)
    parser.add_argument("--metrics-port", type=int, required=True)
    parser.add_argument("--cpu-threads", type=int, default=0)
    parser.add_argument("--instances", type=int, default=1)
    args = parser.parse_args()
    stopped = threading.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *_: stopped.set())
    config = TritonConfig(
        grpc_address="127.0.0.1",
        grpc_port=args.grpc_port,
        http_address="127.0.0.1",
        http_port=args.http_port,
        metrics_port=args.metrics_port,
        log_verbose=0,
    )
    with Triton(config=config) as triton:
        for name in args.models.split(","):
            bind(triton, args.repository, name, args.cpu_threads, args.instances)
        triton.run()
        stopped.wait()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
