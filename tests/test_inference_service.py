"""The flagship inference server (services/inference) as a real process (`python -m
inference`) on its demo models and the test-only `slow` model: the generated Go client
calling it (tests/inference_go), grpc-health-probe through warm-up and drain, SIGTERM
under load, a malformed model repository; its own checks; and the gpu-inference
template it was made from. Every wait is bounded; every process group is killed."""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import sys
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import grpc
import pytest
from conftest import REPO, build_go_program, copy_repo_workspace, run_bounded, run_contracts
from fleet.inference.v1 import inference_service_pb2 as pb
from fleet.inference.v1 import inference_service_pb2_grpc as pb_grpc
from fleet.inference.v1 import tensor_pb2
from inference.build import build_repository
from runtime_process import ServiceProcess, sample, scrape, tool, wait_until
from scaffold_helpers import run_check, scaffold_checks

from codegen.scaffold.answers import FILE_NAME

FLAGSHIP = REPO / "services/inference"
GO_CLIENT = REPO / "tests/inference_go"
# The rendered files the flagship edited: its README describes its demo models.
COMPLETED = {"README.md", ".gitignore"}
SERVICE = "fleet.inference.v1.InferenceService"
GO_TIMEOUT_S = 120
START_TIMEOUT_S = 90  # torch import and model loading on a busy 2-core machine

Start = Callable[..., ServiceProcess]
LOCAL = ["--host", "127.0.0.1", "--port", "0", "--metrics-port", "0"]


@pytest.fixture(scope="module")
def models(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("inference") / "models"
    build_repository(path, test_models=True)
    return path


@pytest.fixture(scope="module")
def go_client(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_go_program(GO_CLIENT, tmp_path_factory.mktemp("inference-go-bin") / "inference_go")


@pytest.fixture
def start() -> Iterator[Start]:
    """`start(repository, *flags, serving=True, **env)`: `python -m inference` in
    services/inference; waits until it serves unless told not to; all killed after."""
    started: list[ServiceProcess] = []

    def launch(repository: Path, *args: str, serving: bool = True, **env: str) -> ServiceProcess:
        service = ServiceProcess(
            [*LOCAL, "--model-repository", str(repository), "--device", "cpu", *args],
            {**os.environ, "SERVER_LOG_FORMAT": "json", **env},
            command=[sys.executable, "-m", "inference"],
            cwd=FLAGSHIP,
        )
        started.append(service)
        if serving:
            service.wait_for("serving", timeout=START_TIMEOUT_S)
        return service

    yield launch
    for service in started:
        service.kill()


def go(binary: Path, *args: str) -> dict[str, Any]:
    proc = run_bounded([str(binary), *args], cwd=GO_CLIENT, timeout=GO_TIMEOUT_S)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    answer: dict[str, Any] = json.loads(proc.stdout)
    return answer


def test_go_client_calls_every_rpc_shape(start: Start, models: Path, go_client: Path) -> None:
    service = start(models)
    result = go(go_client, "calls", "-addr", service.address)
    ok = {"code": "OK", "message": ""}
    assert result["predict"] == {
        "status": ok,
        "model_version": "1",
        "request_id": "p-1",
        "output": {"name": "logits", "datatype": "DATA_TYPE_FP32", "shape": [1, 10], "bytes": 40},
    }
    batch = result["batch"]
    assert batch["status"] == ok
    first, bad, last = batch["items"]
    assert first == {"request_id": "b-0", "outputs": 1}
    assert last == {"request_id": "b-2", "outputs": 1}
    assert bad["error_code"] == grpc.StatusCode.INVALID_ARGUMENT.value[0]
    assert "input 'image'" in bad["error"] and "[1, 3, 32, 31]" in bad["error"]
    stream = result["stream"]
    assert stream["status"] == ok
    assert [(p["sequence"], p["final"], p["tokens"]) for p in stream["pieces"]] == [
        *((n, False, 1) for n in range(8)),
        (8, True, 0),
    ]
    assert result["invalid"]["code"] == "InvalidArgument"
    assert "input 'image'" in result["invalid"]["message"]
    assert "FP64" in result["invalid"]["message"]
    assert result["unknown"]["code"] == "NotFound"
    assert "no-such-model" in result["unknown"]["message"]
    assert result["metadata"] == {
        "status": ok,
        "platform": "pytorch_torchscript",
        "device": "cpu",
        "versions": ["1"],
    }


def test_go_deadline_expiring_while_queued_never_reaches_the_model(
    start: Start, models: Path, go_client: Path
) -> None:
    service = start(models)
    result = go(
        go_client, "deadline", "-addr", service.address, "-metrics-port", str(service.metrics_port)
    )
    assert result["first"]["code"] == "OK"
    assert result["queued"]["code"] == "DeadlineExceeded"
    assert result["queued_elapsed"] < 0.45  # it never waited for a pass of its own
    # Only the first call ran in the model, read after a pass the second would have had.
    assert result["inferences"] == 1
    text = scrape(service.metrics_port)
    dropped = sum(
        sample(text, "inference_request_failure_total", model="slow", version="1", reason=r)
        for r in ("DEADLINE", "CANCELED")
    )
    assert dropped == 1
    assert sample(text, "inference_exec_count_total", model="slow", version="1") == 1


def probe(address: str) -> str:
    """grpc-health-probe's verdict on the server's overall health."""
    proc = run_bounded(
        [tool("grpc-health-probe"), f"-addr={address}", "-connect-timeout=5s", "-rpc-timeout=5s"],
        cwd=REPO,
        timeout=30,
    )
    output = proc.stdout + proc.stderr
    # "status: SERVING" (exit 0), or 'service unhealthy (responded with "NOT_SERVING")'.
    verdict = re.search(r'status: (\w+)|responded with "(\w+)"', output)
    assert verdict, output
    return verdict.group(1) or verdict.group(2)


def slow_repository(models: Path, dest: Path, delay_s: float) -> Path:
    """Only the slow model, `delay_s` per pass: its warm-up alone takes that long."""
    shutil.copytree(models / "slow", dest / "slow")
    config = dest / "slow/config.toml"
    text = config.read_text(encoding="utf-8")
    config.write_text(re.sub(r"delay_s = [\d.]+", f"delay_s = {delay_s}", text), encoding="utf-8")
    return dest


def x_request() -> pb.PredictRequest:
    x = tensor_pb2.Tensor(
        name="x", datatype=tensor_pb2.DATA_TYPE_FP32, shape=[1, 4], raw_data=bytes(16)
    )
    return pb.PredictRequest(model_name="slow", inputs=[x])


def test_health_probe_through_warm_up_serving_and_drain(
    start: Start, models: Path, tmp_path: Path
) -> None:
    service = start(slow_repository(models, tmp_path, 3.0), serving=False)
    address = service.address  # listening: bound before the warm-up
    assert probe(address) == "NOT_SERVING"
    assert not service.logged("serving")
    service.wait_for("serving", timeout=START_TIMEOUT_S)
    assert probe(address) == "SERVING"
    with grpc.insecure_channel(address) as channel:
        accepted = pb_grpc.InferenceServiceStub(channel).Predict.future(x_request(), timeout=60)
        wait_until(
            lambda: (
                sample(
                    scrape(service.metrics_port),
                    "grpc_server_in_flight_requests",
                    grpc_method="Predict",
                )
                == 1
            )
        )
        service.signal(signal.SIGTERM)
        service.wait_for("draining")
        assert probe(address) == "NOT_SERVING"
        assert list(accepted.result(timeout=30).outputs[0].shape) == [1, 4]
    assert service.exit_code(timeout=60) == 0


def test_sigterm_under_load_answers_every_accepted_call(start: Start, models: Path) -> None:
    service = start(models, "--grace-period", "20")
    image = tensor_pb2.Tensor(
        name="image",
        datatype=tensor_pb2.DATA_TYPE_FP32,
        shape=[1, 3, 32, 32],
        raw_data=bytes(4 * 3 * 32 * 32),
    )
    request = pb.PredictRequest(model_name="classifier", inputs=[image])
    outcomes: list[tuple[str, str, float]] = []
    lock = threading.Lock()

    def client() -> None:
        with grpc.insecure_channel(service.address) as channel:
            stub = pb_grpc.InferenceServiceStub(channel)
            while not stop.is_set():
                try:
                    stub.Predict(request, timeout=30)
                    outcome = ("OK", "", time.monotonic())
                except grpc.RpcError as error:
                    outcome = (error.code().name, str(error.details()), time.monotonic())
                with lock:
                    outcomes.append(outcome)
                if outcome[0] != "OK":
                    return

    def slow_queued() -> float:
        text = scrape(service.metrics_port)
        return sample(text, "inference_pending_request_count", model="slow", version="1")

    stop = threading.Event()  # set if the test fails first, so the clients end
    with ThreadPoolExecutor(8) as pool, grpc.insecure_channel(service.address) as channel:
        clients = [pool.submit(client) for _ in range(8)]
        try:
            wait_until(lambda: len(outcomes) >= 40, timeout=60)
            # Two calls the server surely holds when the signal comes, whatever the
            # timing of the load: the slow model runs one item a pass, so with one
            # queued the other is in its pass.
            slow = pb_grpc.InferenceServiceStub(channel).Predict
            held = [slow.future(x_request(), timeout=60) for _ in range(2)]
            wait_until(lambda: slow_queued() == 1, timeout=30)
            service.signal(signal.SIGTERM)
            for future in clients:
                future.result(timeout=60)
            # Accepted before the signal, answered after it, not dropped.
            assert [list(f.result(timeout=60).outputs[0].shape) for f in held] == [[1, 4]] * 2
        finally:
            stop.set()
    assert service.exit_code(timeout=60) == 0
    # The server's word on every call it accepted: answered (OK) or refused while
    # draining (Unavailable); none cancelled, none failed.
    answered = sum(code == "OK" for code, _, _ in outcomes)

    def logged() -> list[str]:
        lines = service.logged("finished call")
        return [line["grpc.code"] for line in lines if line["grpc.method"] == "Predict"]

    wait_until(lambda: logged().count("OK") == answered + len(held))
    assert set(logged()) <= {"OK", "Unavailable"}
    # Each client's last call was refused: UNAVAILABLE by the drain gate, or cancelled
    # by the stopping server before any handler saw it (the server logged none).
    refused = [code for code, _, _ in outcomes if code != "OK"]
    assert len(refused) == 8 and set(refused) <= {"UNAVAILABLE", "CANCELLED"}, outcomes


def test_worker_processes_share_the_port_each_with_its_models(start: Start, models: Path) -> None:
    service = start(models, "--workers", "2", serving=False)
    served = service.wait_for("serving", count=2, timeout=2 * START_TIMEOUT_S)
    workers = {line["worker"] for line in served}
    assert workers == {0, 1}
    image = tensor_pb2.Tensor(
        name="image",
        datatype=tensor_pb2.DATA_TYPE_FP32,
        shape=[1, 3, 32, 32],
        raw_data=bytes(4 * 3 * 32 * 32),
    )
    for _ in range(40):  # a connection each: the kernel spreads them over the workers
        with grpc.insecure_channel(service.address) as channel:
            reply = pb_grpc.InferenceServiceStub(channel).Predict(
                pb.PredictRequest(model_name="classifier", inputs=[image]), timeout=30
            )
        assert list(reply.outputs[0].shape) == [1, 10]
    wait_until(lambda: len(service.logged("finished call")) >= 40)
    answered_by = {line["worker"] for line in service.logged("finished call")}
    assert answered_by == {0, 1}
    service.signal(signal.SIGTERM)
    assert service.exit_code(timeout=60) == 0


@pytest.mark.parametrize("fault", ["unknown key", "missing weights"])
def test_a_malformed_repository_stops_start_up_naming_the_file(
    start: Start, models: Path, tmp_path: Path, fault: str
) -> None:
    shutil.copytree(models / "add_one", tmp_path / "add_one")
    shutil.copytree(models / "classifier", tmp_path / "classifier")
    if fault == "unknown key":
        bad = tmp_path / "classifier/config.toml"
        bad.write_text('colour = "blue"\n' + bad.read_text(encoding="utf-8"), encoding="utf-8")
        said = "unknown key colour"
    else:
        bad = tmp_path / "classifier/1/model.pt"
        bad.unlink()
        said = ""
    service = start(tmp_path, serving=False)
    assert service.exit_code(timeout=START_TIMEOUT_S) == 1
    text = json.dumps(service.lines)
    assert str(bad) in text and said in text, service.lines
    # Nothing was ever bound or answered: no half-ready server.
    assert not service.logged("listening") and not service.logged("serving")


def test_the_flagship_passes_its_own_tests_types_and_lint() -> None:
    """services/inference's tests (the rendered ones and those of its demo models), mypy
    --strict and ruff, run the way its README says."""
    out = run_check(
        REPO,
        "python",
        "-m",
        "pytest",
        "-q",
        "-p",
        "no:cacheprovider",
        folder=str(FLAGSHIP.relative_to(REPO)),
    )
    assert " passed" in out and "skipped" not in out and "failed" not in out, out
    folder = str(FLAGSHIP.relative_to(REPO))
    run_check(REPO, "mypy", "--cache-dir", os.devnull, folder=folder)
    run_check(REPO, "ruff", "check", "--no-cache", ".", folder=folder)
    run_check(REPO, "ruff", "format", "--no-cache", "--check", ".", folder=folder)


def render_gpu_inference(ws: Path, name: str) -> Path:
    result = run_contracts(
        "new", "service", name, "--service", SERVICE, "--template", "gpu-inference", cwd=ws
    )
    assert result.code == 0, result.stderr
    return ws / "services" / name


def test_the_flagship_is_made_from_the_template(tmp_path: Path) -> None:
    """A fresh render is what the flagship's answers file recorded (the golden files),
    and the flagship's rendered files are still as rendered but for its README: its
    additions (demo models, their build, their tests) are files of its own."""
    ws = copy_repo_workspace(tmp_path / "ws")
    # The flagship's workspace carries the runtime's source, which the Dockerfile copies.
    (ws / "runtime/python").mkdir(parents=True)
    shutil.copy(REPO / "runtime/python/pyproject.toml", ws / "runtime/python")
    folder = render_gpu_inference(ws, "inference")
    rendered = {
        p.relative_to(folder).as_posix(): p.read_text(encoding="utf-8")
        for p in sorted(folder.rglob("*"))
        if p.is_file() and p.name != FILE_NAME
    }
    recorded = json.loads((FLAGSHIP / FILE_NAME).read_text(encoding="utf-8"))
    assert recorded["answers"] == {
        "name": "inference",
        "service": SERVICE,
        "template": "gpu-inference",
    }
    assert sorted(recorded["files"]) == sorted(rendered)
    for rel, text in rendered.items():
        assert recorded["files"][rel] == text, f"{rel}: re-render services/inference and review"
        if rel not in COMPLETED:
            assert (FLAGSHIP / rel).read_text(encoding="utf-8") == text, rel


def test_a_gpu_inference_scaffold_serves_and_is_typed_and_clean(tmp_path: Path) -> None:
    """Its own tests (a repository built in the test; every RPC over a real channel)
    pass at once; mypy --strict and ruff pass on it."""
    ws = copy_repo_workspace(tmp_path / "ws")
    shutil.copytree(REPO / "generated/python", ws / "generated/python")
    render_gpu_inference(ws, "infer")
    scaffold_checks(ws, "services/infer")


def test_update_says_a_new_rpc_has_no_handler_in_a_gpu_inference_scaffold(
    tmp_path: Path,
) -> None:
    """gpu-inference handles the five RPCs of the inference shape only: the note for an
    RPC the contract gains says so, instead of pointing at a stub that is not there."""
    ws = copy_repo_workspace(tmp_path / "ws")
    render_gpu_inference(ws, "infer")
    proto = ws / "contracts/fleet/inference/v1/inference_service.proto"
    text = proto.read_text(encoding="utf-8")
    anchor = "service InferenceService {\n"
    assert anchor in text, "the contract's service line moved; update this test"
    rpc = "  rpc Unload(GetModelReadyRequest) returns (GetModelReadyResponse);\n"
    proto.write_text(text.replace(anchor, anchor + rpc), encoding="utf-8")
    result = run_contracts("new", "service", "infer", "--update", cwd=ws)
    assert result.code == 0, result.stdout + result.stderr
    assert f"note: new RPC /{SERVICE}/Unload: this template writes no handler for it" in (
        result.stdout
    )
    assert "async def Unload" not in (ws / "services/infer/infer/server.py").read_text()


def test_gpu_inference_refuses_a_service_without_the_inference_shape(tmp_path: Path) -> None:
    ws = copy_repo_workspace(tmp_path / "ws")
    result = run_contracts(
        "new",
        "service",
        "tasks",
        "--service",
        "fleet.tasks.v1.TaskService",
        "--template",
        "gpu-inference",
        cwd=ws,
    )
    assert result.code == 2, result.stdout + result.stderr
    assert "fleet.tasks.v1.TaskService lacks the RPC(s) Predict (unary)" in result.stderr
    assert "PredictStream (server_stream)" in result.stderr
    assert not (ws / "services").exists()


def test_a_contract_without_a_metadata_device_renders_without_it(tmp_path: Path) -> None:
    """The view model decides from the contract: before GetModelMetadataResponse had
    `device`, the server set none and the test asserted none."""
    ws = copy_repo_workspace(tmp_path / "ws")
    proto = ws / "contracts/fleet/inference/v1/inference_service.proto"
    text = proto.read_text(encoding="utf-8")
    field = re.search(
        r"\n\n  // Device the described version runs on.*?string device = 6;", text, re.S
    )
    assert field, "the contract's device field moved; update this test"
    proto.write_text(text.replace(field.group(0), ""), encoding="utf-8")
    folder = render_gpu_inference(ws, "infer")
    assert "device=meta.device" not in (folder / "infer/server.py").read_text(encoding="utf-8")
    assert "meta.device" not in (folder / "tests/test_service.py").read_text(encoding="utf-8")
    flagship = (FLAGSHIP / "inference/server.py").read_text(encoding="utf-8")
    assert "device=meta.device" in flagship
