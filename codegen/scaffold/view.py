"""The view model of a scaffolded service: every name, type, import and RPC kind the
templates lay out, decided here from the one descriptor model.

Python names follow the layout of generated/python (`contracts gen`): a proto file
`a/b/c.proto` is the module `a.b.c_pb2`, its services' stubs `a.b.c_pb2_grpc`, and a
nested message `Outer.Inner` is an attribute of its outer class.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from enum import StrEnum
from typing import TYPE_CHECKING

from codegen.gen import python_names, python_target
from codegen.scaffold.names import ServiceNames
from contracts_core.descriptors import Element, Kind, Model
from contracts_core.errors import UsageError

if TYPE_CHECKING:
    from codegen.scaffold.inference_view import InferenceView

# Where `contracts gen` writes the Python target, relative to the workspace.
GENERATED_PYTHON = "generated/python"
# Where this repository keeps the runtime's distribution, relative to the workspace;
# services elsewhere install it from their package index.
RUNTIME_SOURCE = "runtime/python"
# The contracts-runtime release services pin (tests/test_scaffold.py holds it to
# runtime/python/pyproject.toml).
RUNTIME_REQUIREMENT = "contracts-runtime==0.1.0"
PYTHON_VERSION = "3.11"
GRPC_PORT = 50051
METRICS_PORT = 9090
# The runtime's default drain; Kubernetes must wait longer before it kills the pod.
GRACE_PERIOD_S = 25
TERMINATION_GRACE_S = GRACE_PERIOD_S + 10
# Health answers NOT_SERVING for the whole drain, so liveness must tolerate failing
# probes for longer than Kubernetes waits, or the kubelet kills a draining pod.
LIVENESS_PERIOD_S = 10
LIVENESS_FAILURES = math.ceil(TERMINATION_GRACE_S / LIVENESS_PERIOD_S) + 1
# Health is NOT_SERVING until the warm-up hook returns; the startup probe holds the
# liveness probe off for this long, so a slow warm-up (a model load) is not killed.
STARTUP_PERIOD_S = 5
STARTUP_BUDGET_S = 300
# What the service's checks run with, pinned as the toolchain's own dev extra pins
# them (tests/test_scaffold.py holds them together).
DEV_PINS = ("pytest==9.2.0", "mypy==2.4.1", "ruff==0.17.6")
# The handlers' context type alias: the first no RPC is named, as a method named Context
# would shadow the alias in the annotations of the methods after it.
_CONTEXT_TYPES = ("Context", "HandlerContext")  # then Context_, no RPC name in proto style
# What server.py binds at module level besides the generated modules; the handler class,
# named after the service, must not rebind one of them (a service called Service).
SERVER_MODULE_NAMES = frozenset(
    {
        "annotations",
        "AsyncIterator",
        "Any",
        "Never",
        "grpc",
        "Service",
        "ServicerContext",
        "SERVICE",
        *_CONTEXT_TYPES,
        "unimplemented",
        "services",
    }
)
_CAMEL_BOUNDARY = re.compile(r"(?<=[a-z0-9])(?=[A-Z])|(?<=[A-Z])(?=[A-Z][a-z])")


class RpcKind(StrEnum):
    """The four call shapes, spelled as the runtime's `grpc_type` metric label."""

    UNARY = "unary"
    SERVER_STREAM = "server_stream"
    CLIENT_STREAM = "client_stream"
    BIDI_STREAM = "bidi_stream"

    @classmethod
    def of(cls, client_streaming: bool, server_streaming: bool) -> RpcKind:
        if client_streaming:
            return cls.BIDI_STREAM if server_streaming else cls.CLIENT_STREAM
        return cls.SERVER_STREAM if server_streaming else cls.UNARY

    @property
    def client_streams(self) -> bool:
        return self in (RpcKind.CLIENT_STREAM, RpcKind.BIDI_STREAM)

    @property
    def server_streams(self) -> bool:
        return self in (RpcKind.SERVER_STREAM, RpcKind.BIDI_STREAM)


@dataclass(frozen=True)
class PyType:
    """A message as Python code names it: `alias.Name` after `from pkg import alias`."""

    full_name: str  # acme.echo.v1.EchoRequest
    module: str  # acme.echo.v1.messages_pb2
    name: str  # EchoRequest, or Outer.Inner for a nested message
    alias: str = ""

    @property
    def ref(self) -> str:
        return f"{self.alias}.{self.name}"


@dataclass(frozen=True)
class Import:
    """`from <package> import <module> [as <alias>]`."""

    package: str
    module: str
    alias: str

    @property
    def line(self) -> str:
        tail = "" if self.alias == self.module else f" as {self.alias}"
        if not self.package:  # a proto file at the module root is a top-level module
            return f"import {self.module}{tail}"
        return f"from {self.package} import {self.module}{tail}"


@dataclass(frozen=True)
class MethodView:
    name: str  # Echo
    path: str  # /acme.echo.v1.EchoService/Echo, as gRPC and the logs name it
    kind: RpcKind
    request: PyType
    response: PyType
    doc: tuple[str, ...]  # the RPC's leading comment, line by line, docstring-safe

    @property
    def client_streams(self) -> bool:
        return self.kind.client_streams

    @property
    def server_streams(self) -> bool:
        return self.kind.server_streams

    @property
    def request_param(self) -> str:
        """The parameter's name in the generated servicer, which an override keeps."""
        return "request_iterator" if self.client_streams else "request"

    @property
    def request_annotation(self) -> str:
        ref = self.request.ref
        return f"AsyncIterator[{ref}]" if self.client_streams else ref

    @property
    def return_annotation(self) -> str:
        ref = self.response.ref
        return f"AsyncIterator[{ref}]" if self.server_streams else ref

    @property
    def docstring(self) -> str:
        return docstring(self.doc, 8)

    @property
    def call_argument(self) -> str:
        """What a test passes to the stub: one request, or a stream of them."""
        return "requests()" if self.client_streams else "request"

    @property
    def snake_name(self) -> str:
        """GetTaskStatus -> get_task_status, for test names."""
        return _CAMEL_BOUNDARY.sub("_", self.name).lower()


@dataclass(frozen=True)
class ServiceView:
    """Everything a template of `contracts new service` may use."""

    name: str  # k8s and folder name: orders
    package: str  # Python package: orders
    directory: str  # workspace-relative: services/orders
    service: str  # full name: acme.echo.v1.EchoService
    service_name: str  # the handler class: EchoService (ServiceHandlers for a Service)
    context_type: str  # the handlers' context annotation: Context
    doc: tuple[str, ...]
    descriptor: str  # echo_service_pb2.DESCRIPTOR.services_by_name["EchoService"]
    servicer: str  # echo_service_pb2_grpc.EchoServiceServicer
    add_to_server: str  # echo_service_pb2_grpc.add_EchoServiceServicer_to_server
    stub: str  # echo_service_pb2_grpc.EchoServiceStub
    imports: tuple[Import, ...]  # the generated modules the handlers name
    methods: tuple[MethodView, ...]
    generated_distribution: str  # acme-contracts
    generated_version: str
    generated_dir: str
    runtime_requirement: str
    runtime_dir: str  # "" when the workspace does not carry the runtime's source
    runtime_source: str = RUNTIME_SOURCE  # where the toolchain keeps the runtime
    python_version: str = PYTHON_VERSION
    grpc_port: int = GRPC_PORT
    metrics_port: int = METRICS_PORT
    grace_period_s: int = GRACE_PERIOD_S
    termination_grace_s: int = TERMINATION_GRACE_S
    liveness_period_s: int = LIVENESS_PERIOD_S
    liveness_failures: int = LIVENESS_FAILURES
    startup_period_s: int = STARTUP_PERIOD_S
    startup_budget_s: int = STARTUP_BUDGET_S
    # The runtime's extra the service installs ("inference": PyTorch), "" for none.
    runtime_extra: str = ""
    dev_requirements: tuple[str, ...] = (*DEV_PINS, *python_target.TYPING_PINS)
    # A template's extra view (template.toml `view = "inference"`), None for others.
    inference: InferenceView | None = None

    @property
    def docstring(self) -> str:
        return docstring(self.doc or (f"The {self.service} service.",), 4)

    @property
    def startup_failures(self) -> int:
        """The startup probe's failureThreshold: its budget in probe periods."""
        return math.ceil(self.startup_budget_s / self.startup_period_s)

    def runtime_pip_arg(self, folder: str) -> str:
        """The runtime's source `folder` as one pip argument with the service's extra:
        `runtime/python`, or `"runtime/python[inference]"` (quoted for the shell)."""
        return f'"{folder}[{self.runtime_extra}]"' if self.runtime_extra else folder

    @property
    def streams(self) -> bool:
        """Whether some handler is an async generator or reads a stream."""
        return any(m.client_streams or m.server_streams for m in self.methods)

    @property
    def server_imports(self) -> tuple[str, ...]:
        """server.py's third-party imports, in ruff's isort order."""
        return self._third_party(
            {i.alias for i in self.imports},
            "import grpc",
            "from contracts_runtime import Service",
            "from grpc.aio import ServicerContext",
        )

    @property
    def test_imports(self) -> tuple[str, ...]:
        """tests/test_service.py's third-party imports, in ruff's isort order."""
        # The tests build requests only; a module only responses come from is unused.
        used = {m.request.alias for m in self.methods}
        used.add(self.stub.rpartition(".")[0])
        return self._third_party(
            used,
            "import grpc",
            "import pytest",
            "from contracts_runtime import Server, Settings",
            "from grpc_health.v1 import health_pb2, health_pb2_grpc",
            "from grpc_reflection.v1alpha import reflection_pb2, reflection_pb2_grpc",
        )

    def imports_of(self, used: tuple[str, ...], *fixed: str) -> tuple[str, ...]:
        """A module's third-party imports: the fixed lines and the generated modules
        named by `used` (aliases), in ruff's isort order."""
        return self._third_party(set(used), *fixed)

    def _third_party(self, used: set[str], *fixed: str) -> tuple[str, ...]:
        """The fixed imports and those of the generated modules used (by alias), one
        line per package (aliased ones alone), `import x` before `from x import y`,
        each by module."""
        plain: dict[str, list[str]] = {}
        lines = list(fixed)
        for imp in self.imports:
            if imp.alias not in used:
                continue
            if imp.alias == imp.module and imp.package:
                plain.setdefault(imp.package, []).append(imp.module)
            else:
                lines.append(imp.line)
        lines += [f"from {p} import {', '.join(sorted(ms))}" for p, ms in plain.items()]
        return tuple(sorted(lines, key=_isort_key))

    @property
    def top_level_modules(self) -> tuple[str, ...]:
        """Generated modules of proto files outside any package: py.typed cannot mark
        a top-level module, so mypy must be told to read their stubs."""
        return tuple(sorted(i.module for i in self.imports if not i.package))

    @property
    def generated_requirement(self) -> str:
        return f"{self.generated_distribution}=={self.generated_version}"


def _isort_key(line: str) -> tuple[bool, str, str, str, str]:
    """ruff's isort order of one import line: `import x` before `from x import y`, by
    module (case-insensitively first), then, for lines of one module (an aliased one
    beside the others), by the first name imported and its alias."""
    words = line.replace(",", "").split()
    module = words[1]
    member = words[3] if words[0] == "from" else ""
    alias = words[-1] if words[-2] == "as" else ""
    return (words[0] == "from", module.lower(), module, member.lower(), alias)


def service_choices(model: Model, files: list[str]) -> list[str]:
    """Full names of the services declared in the workspace's own files."""
    return sorted(e.full_name for name in files for e in model.of_kind(name, Kind.SERVICE))


def build_view(
    model: Model,
    files: list[str],
    service: str,
    names: ServiceNames,
    directory: str,
    runtime_dir: str,
) -> ServiceView:
    """The view of `service` (a full name) among the workspace's own `files`."""
    choices = service_choices(model, files)
    if service not in choices:
        listed = "\n  ".join(choices) or "(none: the contracts declare no service)"
        raise UsageError(
            f"--service {service!r}: no such service in the contracts; the services are:"
            f"\n  {listed}"
        )
    element = model.by_name[service]
    roots = python_target.package_roots(files)
    if names.package in roots:
        raise UsageError(
            f"NAME {names.name!r}: the Python package {names.package!r} would hide the "
            "generated package of that name; choose another name"
        )
    pb2_module = f"{python_names.module_name(element.file.name)}_pb2"
    grpc_module = f"{pb2_module}_grpc"
    methods = [_method(model, service, m) for m in model.children(element, Kind.METHOD)]
    # The service's own _pb2 registers its descriptor, which the runtime looks up by
    # name; the _pb2_grpc module imports only the messages' modules.
    modules = {
        pb2_module,
        grpc_module,
        *(t.module for m in methods for t in (m.request, m.response)),
    }
    aliases = _aliases(modules)
    methods = [
        MethodView(
            m.name,
            m.path,
            m.kind,
            _with_alias(m.request, aliases),
            _with_alias(m.response, aliases),
            m.doc,
        )
        for m in methods
    ]
    grpc_alias = aliases[grpc_module]
    short = element.name
    taken = SERVER_MODULE_NAMES | set(aliases.values())
    handler_class = f"{short}Handlers" if short in taken else short
    rpc_names = {m.name for m in methods}
    context_type = next((c for c in _CONTEXT_TYPES if c not in rpc_names), "Context_")
    return ServiceView(
        name=names.name,
        package=names.package,
        directory=directory,
        service=service,
        service_name=handler_class,
        context_type=context_type,
        doc=_doc_lines(element),
        descriptor=f'{aliases[pb2_module]}.DESCRIPTOR.services_by_name["{short}"]',
        servicer=f"{grpc_alias}.{short}Servicer",
        add_to_server=f"{grpc_alias}.add_{short}Servicer_to_server",
        stub=f"{grpc_alias}.{short}Stub",
        imports=tuple(sorted((_import(m, aliases[m]) for m in modules), key=lambda i: i.line)),
        methods=tuple(methods),
        generated_distribution=python_target.distribution_name(files),
        generated_version=python_target.DISTRIBUTION_VERSION,
        generated_dir=GENERATED_PYTHON,
        runtime_requirement=RUNTIME_REQUIREMENT,
        runtime_dir=runtime_dir,
    )


def _method(model: Model, service: str, method: Element) -> MethodView:
    proto = method.proto
    return MethodView(
        name=method.name,
        path=f"/{service}/{method.name}",
        kind=RpcKind.of(proto.client_streaming, proto.server_streaming),
        request=_py_type(model, proto.input_type),
        response=_py_type(model, proto.output_type),
        doc=_doc_lines(method),
    )


def _py_type(model: Model, type_name: str) -> PyType:
    element = model.resolve(type_name)
    if element is None:  # the image compiled, so only a hand-made one gets here
        raise UsageError(f"type {type_name.lstrip('.')} is not in the contracts' image")
    prefix = f"{element.package}." if element.package else ""
    return PyType(
        full_name=element.full_name,
        module=f"{python_names.module_name(element.file.name)}_pb2",
        name=element.full_name.removeprefix(prefix),
    )


def _aliases(modules: set[str]) -> dict[str, str]:
    """Each module by its last name (`messages_pb2`), or by its whole dotted path with
    underscores where two modules share a last name."""
    last = [m.rpartition(".")[2] for m in modules]
    return {
        m: (m.rpartition(".")[2] if last.count(m.rpartition(".")[2]) == 1 else m.replace(".", "_"))
        for m in modules
    }


def _with_alias(t: PyType, aliases: dict[str, str]) -> PyType:
    return PyType(t.full_name, t.module, t.name, aliases[t.module])


def _import(module: str, alias: str) -> Import:
    package, _, name = module.rpartition(".")
    return Import(package, name, alias)


def _doc_lines(element: Element) -> tuple[str, ...]:
    """The element's leading comment, made safe inside a triple-quoted docstring."""
    text = element.location.doc.replace("\\", "\\\\").replace('"""', '\\"\\"\\"')
    lines = [line.rstrip() for line in text.strip("\n").splitlines()]
    # protoc keeps the space after `//`; strip one common indent.
    indent = min((len(s) - len(s.lstrip()) for s in lines if s.strip()), default=0)
    return tuple(line[indent:] for line in lines)


def docstring(lines: tuple[str, ...], indent: int) -> str:
    """A triple-quoted docstring of these lines at this indent; "" for none."""
    if not lines:
        return ""
    if len(lines) == 1:
        return f'"""{lines[0]}"""'
    pad = " " * indent
    rest = "".join(f"\n{pad}{line}" if line else "\n" for line in lines[1:])
    return f'"""{lines[0]}{rest}\n{pad}"""'
