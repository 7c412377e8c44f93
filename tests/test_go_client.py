"""The templated typed Go clients: golden files, build checks, and the Go
test in tests/interop that calls a Python server built from the Python stubs."""

from __future__ import annotations

import os
import random
import re
import shutil
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from conftest import REPO, Overran, alive, go_client_fixture, run_bounded, run_contracts, run_go

from codegen.gen import go_client
from codegen.gen.templates import BUILTIN_DIR, Templates
from compat_checks.lint.engine import active_rules, check_image
from contracts_core.errors import GenerationError, UsageError
from contracts_core.golang import doc_comment, package_decls
from contracts_core.image import Image, compile_workspace
from contracts_core.workspace import Workspace

INTEROP = REPO / "tests/interop"


def _go(*args: str, cwd: Path = INTEROP, timeout: float = 300) -> subprocess.CompletedProcess[str]:
    return run_go(cwd, *args, timeout=timeout, env={"INTEROP_PYTHON": sys.executable})


def test_go_client_calls_python_server_over_grpc() -> None:
    vet = _go("vet", "./...")
    assert vet.returncode == 0, vet.stderr
    # go test's own -timeout fails a hung test with its stack; run_bounded's
    # is the backstop that kills the whole process group.
    result = _go("test", "-count=1", "-v", "-timeout=240s", "./...", timeout=300)
    assert result.returncode == 0, result.stdout + result.stderr
    passed = {line.split()[2] for line in result.stdout.splitlines() if line.startswith("--- PASS")}
    # Every RPC kind the contracts have, a deadline and a status mapping at least.
    assert {
        "TestUnaryKeepsInt64AndBytesExact",
        "TestServerStreamingDeliversEveryPieceThenEOF",
        "TestCallerDeadlineWins",
        "TestDefaultDeadlineAppliesWhenCallerHasNone",
        "TestErrorStatusesMapThrough",
        "TestDefaultHealthCheckAsksForOverallHealth",
        "TestHealthCheckKeepsCallsOffNotServingServer",
        "TestDefaultDeadlinePerStreamKind",
        "TestHungServerIsKilledWithinSeconds",
    } <= passed


def test_bounded_run_kills_a_process_group_that_ignores_sigterm(tmp_path: Path) -> None:
    """A command whose child ignores SIGTERM and holds the pipes open still ends
    in seconds, and nothing it started survives."""
    pid_file = tmp_path / "child.pid"
    script = (
        "import signal, subprocess, sys, time\n"
        "child = subprocess.Popen([sys.executable, '-c', "
        "'import signal, time; signal.signal(signal.SIGTERM, signal.SIG_IGN); time.sleep(600)'])\n"
        f"open({str(pid_file)!r}, 'w').write(str(child.pid))\n"
        "signal.signal(signal.SIGTERM, signal.SIG_IGN)\n"
        "time.sleep(600)\n"
    )
    start = time.monotonic()
    with pytest.raises(Overran, match="killed after 2 s"):
        run_bounded([sys.executable, "-c", script], cwd=tmp_path, timeout=2)
    assert time.monotonic() - start < 15
    child = int(pid_file.read_text())
    deadline = time.monotonic() + 5
    while alive(child) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not alive(child), f"grandchild {child} survived"


# --- golden files and generator behaviour -------------------------------------

FIXTURE = REPO / "tests/fixtures/go_client"


def _fixture_image(tmp_path: Path) -> tuple[Workspace, Image]:
    root = go_client_fixture(tmp_path / "ws")
    ws = Workspace.discover(root)
    return ws, compile_workspace(ws)


def _render(
    image: Image, params: go_client.Parameters, templates: Templates | None = None
) -> dict[str, str]:
    return go_client.generate(
        image.descriptor_set.file,
        [f.name for f in image.target_files()],
        params,
        templates or Templates(),
    )


def test_golden_fixture_output(tmp_path: Path) -> None:
    """Regenerate with UPDATE_GOLDEN=1 pytest tests/test_go_client.py, then review the diff."""
    _, image = _fixture_image(tmp_path)
    out = _render(image, go_client.Parameters(module="example.com/shop/gen/go"))
    expected_dir = FIXTURE / "expected"
    if os.environ.get("UPDATE_GOLDEN") == "1":
        shutil.rmtree(expected_dir, ignore_errors=True)
        for rel, source in out.items():
            (expected_dir / rel).parent.mkdir(parents=True, exist_ok=True)
            (expected_dir / rel).write_text(source, encoding="utf-8")
    expected = {
        p.relative_to(expected_dir).as_posix(): p.read_text(encoding="utf-8")
        for p in expected_dir.rglob("*.go")
    }
    assert sorted(out) == sorted(expected)
    for rel, source in out.items():
        assert source == expected[rel], f"{rel} differs; rerun with UPDATE_GOLDEN=1 and review"


def test_fixture_module_builds_vets_and_is_gofmt_clean(tmp_path: Path) -> None:
    """All four RPC kinds, nested and imported types, well-known types, deprecation."""
    root = go_client_fixture(tmp_path / "ws")
    result = run_contracts("gen", "--target", "go", cwd=root)
    assert result.code == 0, result.stderr
    module = root / "generated/go"
    assert (module / "shop/v1/cart_client.go").is_file()
    assert not (module / "shop/common/v1/client_options.go").exists(), "no services, no client"
    gofmt = shutil.which("gofmt")
    assert gofmt
    for args in (["build", "./..."], ["vet", "./..."]):
        proc = _go(*args, cwd=module)
        assert proc.returncode == 0, proc.stderr
    # The fixture's comments use other tools' markup (tables, headings, HTML,
    # tabs, trailing spaces, mixed list markers, fences): still gofmt-clean.
    listed = run_bounded([gofmt, "-l", "."], cwd=module, timeout=60)
    assert listed.stdout == ""
    assert "// | Code | When |" in (module / "shop/v1/cart_client.go").read_text()


_EXPORTED = re.compile(
    r"^(?:func|type|var|const) ([A-Z]\w*)|^\t([A-Z]\w*)\s+(?:[\w.\[\]*]+\s*)?=", re.M
)


def test_shared_go_names_are_what_the_real_generators_declare(tmp_path: Path) -> None:
    """contracts_core.golang's list (read by lint and gen) against the package-level
    declarations protoc-gen-go 1.36, protoc-gen-go-grpc 1.6.2 and our templates
    really write for the fixture: all four RPC kinds, nested and top-level enums,
    a oneof, a map and an optional field."""
    root = go_client_fixture(tmp_path / "ws")
    assert run_contracts("gen", "--target", "go", cwd=root).code == 0
    real = {
        m.group(1) or m.group(2)
        for path in (root / "generated/go/shop/v1").glob("*.go")
        for m in _EXPORTED.finditer(path.read_text())
    }
    # File_<path>_proto cannot collide: go_camel_case never keeps `_` before a
    # lower-case letter, so no message, enum or service yields `..._proto`.
    real = {n for n in real if not (n.startswith("File_") and n.endswith("_proto"))}
    image = compile_workspace(Workspace.discover(root))
    shared = {
        d.name for d in package_decls(image.target_files())["example.com/shop/gen/go/shop/v1"]
    }
    assert shared == real


def test_source_relative_paths(tmp_path: Path) -> None:
    _, image = _fixture_image(tmp_path)
    out = _render(image, go_client.Parameters(source_relative=True))
    assert sorted(out) == ["shop/v1/cart_client.go", "shop/v1/client_options.go"]
    out = _render(image, go_client.Parameters())
    assert "example.com/shop/gen/go/shop/v1/cart_client.go" in out


@pytest.mark.parametrize(
    ("parameter", "message"),
    [("paths=weird", "unknown parameter 'paths=weird'"), ("plugins=grpc", "known: module=")],
)
def test_unknown_parameter_is_named(parameter: str, message: str) -> None:
    with pytest.raises(UsageError, match=message):
        go_client.Parameters.parse(parameter)


def test_go_package_outside_module_is_named(tmp_path: Path) -> None:
    _, image = _fixture_image(tmp_path)
    with pytest.raises(
        UsageError,
        match=r'shop/v1/cart.proto: go_package "example.com/shop/gen/go/shop/v1" is not inside module=example.org/x',
    ):
        _render(image, go_client.Parameters(module="example.org/x"))


def test_message_named_like_a_client_option_is_a_named_collision(
    make_workspace: Callable[[dict[str, str]], Path],
) -> None:
    root = make_workspace(
        {
            "pyproject.toml": '[tool.contracts]\ngo_module = "example.com/gen"\n',
            "acme/v1/a.proto": """
                syntax = "proto3";
                package acme.v1;
                option go_package = "example.com/gen/acme/v1;acmev1";
                message RetryPolicy { int32 attempts = 1; }
                service Jobs { rpc Run(RetryPolicy) returns (RetryPolicy); }
            """,
        }
    )
    result = run_contracts("gen", "--target", "go", cwd=root)
    assert result.code == 2
    assert result.stderr.startswith(
        "contracts: acme/v1/a.proto:4:1: Go identifier RetryPolicy of package acmev1 is the "
        "message type that protoc-gen-go declares for message `acme.v1.RetryPolicy`"
    ), result.stderr
    assert not (root / "generated").exists() or not any((root / "generated").iterdir())


# Every exported name protoc-gen-go-grpc 1.6 and the typed clients declare for
# service Jobs (one method of each kind), or once per package.
GENERATED_NAMES = [
    "JobsClient",
    "NewJobsClient",
    "JobsServer",
    "UnimplementedJobsServer",
    "UnsafeJobsServer",
    "RegisterJobsServer",
    "Jobs_ServiceDesc",
    "Jobs_Run_FullMethodName",
    "Jobs_Watch_FullMethodName",
    "Jobs_WatchClient",
    "Jobs_WatchServer",
    "Jobs_UploadClient",
    "Jobs_UploadServer",
    "Jobs_ChatClient",
    "Jobs_ChatServer",
    "JobsConn",
    "NewJobsConn",
    "RetryPolicy",
    "DefaultRetryPolicy",
    "ClientOption",
    "DefaultCallTimeout",
    "DefaultBidiStreamTimeout",
    "WithGzip",
    "WithHealthCheckService",
]
COLLIDING_MESSAGE_LINE = 10


def _jobs_proto(package: str, message: str) -> str:
    return f"""
        syntax = "proto3";
        package {package}.v1;
        option go_package = "example.com/gen/{package}/v1;{package}v1";
        service Jobs {{
          rpc Run(Job) returns (Job);
          rpc Watch(Job) returns (stream Job);
          rpc Upload(stream Job) returns (Job);
          rpc Chat(stream Job) returns (stream Job);
        }}
        message {message} {{}}
        message Job {{}}
    """


def test_every_generated_grpc_and_client_name_is_caught_by_lint_and_gen(
    make_workspace: Callable[[dict[str, str]], Path],
) -> None:
    """One package per name, each with service Jobs and a message of that name:
    lint flags the message at its line, and gen refuses it naming file:line."""
    root = make_workspace(
        {
            "pyproject.toml": '[tool.contracts]\ngo_module = "example.com/gen"\n',
            **{f"c{i}/v1/a.proto": _jobs_proto(f"c{i}", n) for i, n in enumerate(GENERATED_NAMES)},
            # Controls: the same names in a package without a service are fine.
            "plain/v1/a.proto": 'syntax = "proto3";\npackage plain.v1;\n'
            'option go_package = "example.com/gen/plain/v1;plainv1";\n'
            + "".join(f"message {n} {{}}\n" for n in GENERATED_NAMES),
        }
    )
    ws = Workspace.discover(root)
    image = compile_workspace(ws)
    findings = check_image(image, ws, active_rules(ws))
    flagged = {(f.file, f.line) for f in findings if f.rule == "GO_NAME_COLLISION"}
    assert flagged == {
        (f"c{i}/v1/a.proto", COLLIDING_MESSAGE_LINE) for i in range(len(GENERATED_NAMES))
    }
    for i, name in enumerate(GENERATED_NAMES):
        where = f"c{i}/v1/a.proto:{COLLIDING_MESSAGE_LINE}:1"
        with pytest.raises(GenerationError, match=f"^{where}: Go identifier {name} of package"):
            go_client.generate(
                image.descriptor_set.file,
                [f"c{i}/v1/a.proto"],
                go_client.Parameters(module="example.com/gen"),
                Templates(),
            )


def _plain_go_module(root: Path, out: str = "gen") -> Path:
    """protoc-gen-go and protoc-gen-go-grpc alone (no typed clients) on the
    workspace through `buf generate`, as a Go module example.com/gen."""
    bin_dir = Path(sys.executable).parent
    (root / "buf.gen.yaml").write_text(
        "version: v2\nplugins:\n"
        + "".join(
            f"  - local: {bin_dir / plugin}\n    out: {out}\n    opt: module=example.com/gen\n"
            for plugin in ("protoc-gen-go", "protoc-gen-go-grpc")
        )
    )
    buf = run_bounded([str(bin_dir / "buf"), "generate"], cwd=root, timeout=120)
    assert buf.returncode == 0, buf.stderr
    module = root / out
    requires = (REPO / "generated/go/go.mod").read_text().split("\ngo ", 1)[1].split("\n", 1)[1]
    (module / "go.mod").write_text(f"module example.com/gen\n\ngo 1.24.0\n{requires}")
    shutil.copy(REPO / "generated/go/go.sum", module / "go.sum")
    return module


def test_a_collision_we_flag_really_fails_go_build(
    make_workspace: Callable[[dict[str, str]], Path],
) -> None:
    root = make_workspace(
        {
            "pyproject.toml": '[tool.contracts]\ngo_module = "example.com/gen"\n',
            "jobs/v1/a.proto": _jobs_proto("jobs", "Jobs_ChatServer"),
        }
    )
    build = _go("build", "./...", cwd=_plain_go_module(root), timeout=300)
    assert build.returncode != 0
    assert "Jobs_ChatServer redeclared" in build.stderr, build.stderr
    lint = run_contracts("lint", cwd=root)
    assert f"jobs/v1/a.proto:{COLLIDING_MESSAGE_LINE}:1 GO_NAME_COLLISION" in lint.stdout
    gen = run_contracts("gen", "--target", "go", cwd=root)
    assert gen.code == 2
    assert (
        f"jobs/v1/a.proto:{COLLIDING_MESSAGE_LINE}:1: Go identifier Jobs_ChatServer" in gen.stderr
    )


HEALTH_PROTO = """
    syntax = "proto3";
    package grpc.health.v1;
    option go_package = "example.com/gen/grpc/health/v1;healthv1";
    message HealthCheckRequest { string service = 1; }
    message HealthCheckResponse {
      enum ServingStatus { UNKNOWN = 0; SERVING = 1; NOT_SERVING = 2; }
      ServingStatus status = 1;
    }
    service Health { rpc Check(HealthCheckRequest) returns (HealthCheckResponse); }
"""


def test_own_grpc_health_proto_is_refused_because_go_would_panic(
    make_workspace: Callable[[dict[str, str]], Path],
) -> None:
    """A tree shipping grpc/health/v1/health.proto (KServe, Triton): a program
    linking its Go package and grpc-go's health package (which the typed clients
    import for client-side health checking) panics at start-up; gen says so."""
    root = make_workspace(
        {
            "pyproject.toml": '[tool.contracts]\ngo_module = "example.com/gen"\n',
            "grpc/health/v1/health.proto": HEALTH_PROTO,
            "shop/v1/a.proto": _jobs_proto("shop", "Item"),
        }
    )
    module = _plain_go_module(root)
    main = module / "cmd/run/main.go"
    main.parent.mkdir(parents=True)
    main.write_text(
        "package main\n\nimport (\n"
        '\t_ "example.com/gen/grpc/health/v1"\n'
        '\t_ "google.golang.org/grpc/health"\n)\n\nfunc main() {}\n'
    )
    run = _go("run", "./cmd/run", cwd=module, timeout=300)
    assert run.returncode != 0
    assert "panic" in run.stderr and "conflict" in run.stderr, run.stderr

    shutil.rmtree(module)
    gen = run_contracts("gen", "--target", "go", cwd=root)
    assert gen.code == 2
    assert gen.stderr.startswith(
        "contracts: grpc/health/v1/health.proto: declares package grpc.health.v1, which grpc-go "
        "already registers (google.golang.org/grpc/health/grpc_health_v1"
    ), gen.stderr
    assert "panics at start-up" in gen.stderr
    assert not (root / "generated").exists() or not any((root / "generated").iterdir())


def _override(root: Path, body: str) -> None:
    (root / "templates/go_client").mkdir(parents=True)
    (root / "templates/go_client/options.go.j2").write_text(body)
    pyproject = root / "pyproject.toml"
    pyproject.write_text(pyproject.read_text() + 'templates = "templates"\n')


def test_template_override_replaces_the_builtin(tmp_path: Path) -> None:
    root = go_client_fixture(tmp_path / "ws")
    builtin = (BUILTIN_DIR / "go_client/options.go.j2").read_text()
    _override(root, builtin.replace("10 * time.Second", "3 * time.Second"))
    result = run_contracts("gen", "--target", "go", cwd=root)
    assert result.code == 0, result.stderr
    options = (root / "generated/go/shop/v1/client_options.go").read_text()
    assert "DefaultCallTimeout = 3 * time.Second" in options
    # Editing the override alone must invalidate the no-op cache.
    override = root / "templates/go_client/options.go.j2"
    override.write_text(override.read_text().replace("3 * time.Second", "4 * time.Second"))
    result = run_contracts("gen", "--target", "go", cwd=root)
    assert result.code == 0, result.stderr
    options = (root / "generated/go/shop/v1/client_options.go").read_text()
    assert "DefaultCallTimeout = 4 * time.Second" in options


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (
            "package {{ package }\n",
            r"templates/go_client/options\.go\.j2:1: template error: unexpected '}'",
        ),
        (
            "// ok\n\n{{ no_such_name }}\n",
            r"templates/go_client/options\.go\.j2:3: template error: 'no_such_name' is undefined",
        ),
    ],
)
def test_template_error_names_file_and_line_and_writes_nothing(
    tmp_path: Path, body: str, message: str
) -> None:
    root = go_client_fixture(tmp_path / "ws")
    assert run_contracts("gen", "--target", "go", cwd=root).code == 0
    before = {p: p.read_bytes() for p in (root / "generated").rglob("*") if p.is_file()}
    _override(root, body)
    result = run_contracts("gen", "--target", "go", cwd=root)
    assert result.code == 2
    assert re.search(message, result.stderr), result.stderr
    after = {p: p.read_bytes() for p in (root / "generated").rglob("*") if p.is_file()}
    assert after == before


GOFMT_CASES = [
    "One line.",
    "Errors:\n  - NOT_FOUND: gone.\n  - INVALID_ARGUMENT: a bad\n    shape.\nTrailing paragraph.",
    "Loose list:\n  - a\n\n  - b\n\n\nend",
    "Numbered:\n 1. one\n 2) two\n    more",
    "Code:\n\n    x := 1\n      y := 2\n\n    z := 3\nafter",
    "Para one.\n\n\n\nPara two.",
    # Other tools' markup, copied as it is.
    "| Code | Meaning |\n|------|---------|\n| 5 | NOT_FOUND |",
    "# Heading\n\nText under it.\n## Sub heading\nmore",
    "<p>HTML <b>bold</b></p>\n<ul>\n  <li>one</li>\n</ul>",
    "Tabs:\n\tindented with a tab\n\t\ttwo tabs\nback",
    "Trailing spaces   \nand a trailing tab\t\nend",
    "A // inside and\n// a line starting with it",
    "- dash item\n- second\n* star item\n1. numbered\n2. second",
    "Text\n  1. indented numbered\n  * star inside it\n     continuation\n\ttab code",
    "Text\n  - bullet\n  2. number inside it",
    "\t\t- item\n  10. ten\n  \n |---|\n  \n\t\ta  ",
    "   \u2022 bull\n \t+ plus\n \t\u2022 bull\n",
    "Example:\n```go\nx := 1\n```",
]


@pytest.mark.parametrize("comment", GOFMT_CASES)
def test_doc_comments_are_what_gofmt_prints(comment: str, tmp_path: Path) -> None:
    source = "package a\n\n" + "\n".join(doc_comment(comment)) + "\ntype T int\n"
    gofmt = shutil.which("gofmt")
    assert gofmt
    formatted = subprocess.run(
        [gofmt], input=source, capture_output=True, text=True, check=True, timeout=60
    )
    assert formatted.stdout == source


def test_generated_markup_comments_are_what_gofmt_prints() -> None:
    """Comments assembled at random (seeded) from other tools' markup: tables,
    headings, HTML, fences, list markers of every kind, tabs, mixed and
    trailing whitespace. One gofmt run over all of them must change nothing."""
    rng = random.Random(20261129)
    indents = ["", "", " ", "  ", "   ", "    ", "\t", "\t\t", " \t"]
    pieces = [
        "text", "- item", "* star", "+ plus", "1. one", "2) two", "10. ten", "# Head",
        "| a | b |", "|---|", "<b>x</b>", "// slash", "-", "*", "-x", "1.", "\u2022 bullet",
        "```", "trailing  ", "tab\t", "http://x.example/y", "[link]", "x := 1", "}",
    ]  # fmt: skip
    decls = []
    for n in range(400):
        lines = [
            rng.choice(indents) + rng.choice(pieces) if rng.random() < 0.85 else ""
            for _ in range(rng.randint(1, 8))
        ]
        comment = "\n".join(lines)
        if comment.strip():
            decls.append("\n".join(doc_comment(comment)) + f"\ntype T{n} int\n")
    source = "package a\n\n" + "\n".join(decls)
    gofmt = shutil.which("gofmt")
    assert gofmt
    formatted = subprocess.run(
        [gofmt], input=source, capture_output=True, text=True, check=True, timeout=60
    )
    assert formatted.stdout == source
