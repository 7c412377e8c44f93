"""Typed Go clients, one per service, rendered from Jinja2 templates.

Each client wraps the protoc-gen-go-grpc client of its service in the same Go
package and dials with the defaults a Go team ships: round-robin balancing,
client-side health checking, a retry policy for UNAVAILABLE, keepalive, a
default deadline, message size limits and optional gzip. The package-level
options live in one file per Go package; each proto file with services gets
one file of clients.

This module works on plain descriptors so that the same code serves
`contracts gen` (from the image) and `protoc-gen-contracts-go-client` (from a
CodeGeneratorRequest).
"""

from __future__ import annotations

import posixpath
import re
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field

from google.protobuf import descriptor_pb2

from codegen.gen.templates import Templates
from contracts_core.descriptors import Kind, Model
from contracts_core.errors import GenerationError, UsageError
from contracts_core.golang import (
    CLIENT_PACKAGE_NAMES,
    TYPED_CLIENT,
    GoDecl,
    GoPackage,
    doc_comment,
    go_camel_case,
    go_collisions,
    go_ident,
    go_package,
    package_decls,
)

GENERATOR = "protoc-gen-contracts-go-client"
OPTIONS_FILE = "client_options.go"
FILE_SUFFIX = "_client.go"

# grpc-go's own copy of grpc/health/v1/health.proto, which the options file
# links through `google.golang.org/grpc/health` (client-side health checking).
GRPC_HEALTH_PACKAGE = "grpc.health.v1"
GRPC_HEALTH_FILE = "grpc/health/v1/health.proto"
GRPC_HEALTH_GO = "google.golang.org/grpc/health/grpc_health_v1"

_EXPORTED_DECL = re.compile(r"^(?:func|type|var|const) ([A-Z]\w*)|^\t([A-Z]\w*)\s+=", re.M)


@dataclass(frozen=True)
class Parameters:
    """The plugin parameter, in protoc-gen-go's vocabulary."""

    module: str = ""
    source_relative: bool = False
    # Folder whose templates override the built-in ones (plugin use only;
    # `contracts gen` takes it from [tool.contracts] templates).
    templates: str = ""
    # File name -> go_package, overriding the file's option (protoc-gen-go's M<file>=).
    go_packages: Mapping[str, str] = field(default_factory=dict)

    def go_package_of(self, file: descriptor_pb2.FileDescriptorProto) -> str:
        return self.go_packages.get(file.name, file.options.go_package)

    @classmethod
    def parse(cls, parameter: str) -> Parameters:
        module, source_relative, templates = "", False, ""
        go_packages: dict[str, str] = {}
        for item in filter(None, (p.strip() for p in parameter.split(","))):
            key, _, value = item.partition("=")
            if key.startswith("M") and key.endswith(".proto") and value:
                go_packages[key[1:]] = value
            elif key == "module" and value:
                module = value
            elif key == "paths" and value in ("import", "source_relative"):
                source_relative = value == "source_relative"
            elif key == "templates" and value:
                templates = value
            else:
                raise UsageError(
                    f"unknown parameter {item!r} for {GENERATOR}; known: module=<go module "
                    "path>, paths=import|source_relative, templates=<folder>, "
                    "M<file>=<go_package>"
                )
        return cls(module, source_relative, templates, go_packages)


@dataclass(frozen=True)
class Method:
    go_name: str
    full_method: str
    request: str
    response: str
    client_streaming: bool
    server_streaming: bool
    doc: list[str]


@dataclass(frozen=True)
class Service:
    go_name: str
    full_name: str
    doc: list[str]
    methods: list[Method]
    deprecated: bool


@dataclass
class _GoFile:
    proto: descriptor_pb2.FileDescriptorProto
    package: GoPackage
    services: list[Service] = field(default_factory=list)
    imports: dict[str, str] = field(default_factory=dict)  # import path -> alias


class _TypeIndex:
    """Full proto name (dot-prefixed, as RPCs name types) -> (Go package, Go identifier)
    for every message of the model."""

    def __init__(self, model: Model, params: Parameters) -> None:
        self.types: dict[str, tuple[GoPackage, str]] = {}
        self.unplaced: dict[str, str] = {}  # full name -> file without go_package
        packages: dict[str, GoPackage | None] = {}
        for element in model.all_elements():
            if element.kind is not Kind.MESSAGE:
                continue
            file = element.file
            if file.name not in packages:
                option = params.go_package_of(file)
                packages[file.name] = go_package(file.name, option) if option else None
            pkg = packages[file.name]
            if pkg is None:
                # Fine until one of its types appears in a service we generate.
                self.unplaced["." + element.full_name] = file.name
            else:
                self.types["." + element.full_name] = (pkg, go_ident(element))


def _doc(comment: str, fallback: str, deprecated: bool) -> list[str]:
    """A proto comment as Go doc lines; the fallback sentence when it is empty."""
    fallback_lines = [f"// {fallback}"] if fallback else []
    lines = doc_comment(comment) if comment.strip() else fallback_lines
    if deprecated:
        lines += [*(["//"] if lines else []), "// Deprecated: Do not use."]
    return lines


def _services(
    model: Model, file: descriptor_pb2.FileDescriptorProto, go_file: _GoFile, index: _TypeIndex
) -> Iterator[Service]:
    for svc in model.of_kind(file.name, Kind.SERVICE):
        full_name = svc.full_name
        methods = []
        for method in model.children(svc, Kind.METHOD):
            rpc: descriptor_pb2.MethodDescriptorProto = method.proto
            method_go = go_camel_case(rpc.name)
            methods.append(
                Method(
                    go_name=method_go,
                    full_method=f"/{full_name}/{rpc.name}",
                    request=_go_type(rpc.input_type, go_file, index),
                    response=_go_type(rpc.output_type, go_file, index),
                    client_streaming=rpc.client_streaming,
                    server_streaming=rpc.server_streaming,
                    doc=_doc(
                        method.location.doc,
                        f"{method_go} calls {full_name}.{rpc.name}.",
                        rpc.options.deprecated,
                    ),
                )
            )
        deprecated = svc.proto.options.deprecated
        doc = _doc(svc.location.doc, "", deprecated)
        yield Service(go_camel_case(svc.name), full_name, doc, methods, deprecated)


def _go_type(proto_type: str, go_file: _GoFile, index: _TypeIndex) -> str:
    try:
        pkg, name = index.types[proto_type]
    except KeyError:
        where = index.unplaced.get(proto_type)
        reason = f"its file {where} has no go_package option" if where else "it is not declared"
        raise UsageError(
            f"{go_file.proto.name}: cannot name type {proto_type.lstrip('.')} in Go: {reason}"
        ) from None
    if pkg.import_path == go_file.package.import_path:
        return name
    alias = go_file.imports.get(pkg.import_path)
    if alias is None:
        taken = set(go_file.imports.values()) | {go_file.package.name, "context", "grpc"}
        alias, n = pkg.name, 1
        while alias in taken:
            n += 1
            alias = f"{pkg.name}{n}"
        go_file.imports[pkg.import_path] = alias
    return f"{alias}.{name}"


def _output_dir(
    file: descriptor_pb2.FileDescriptorProto, pkg: GoPackage, params: Parameters
) -> str:
    if params.source_relative:
        return posixpath.dirname(file.name)
    path = pkg.import_path
    if params.module:
        if path != params.module and not path.startswith(params.module + "/"):
            raise UsageError(
                f'{file.name}: go_package "{path}" is not inside module={params.module}'
            )
        path = path[len(params.module) :].lstrip("/")
    return path


def _join(directory: str, name: str) -> str:
    return f"{directory}/{name}" if directory else name


def generate(
    files: Sequence[descriptor_pb2.FileDescriptorProto],
    to_generate: Sequence[str],
    params: Parameters,
    templates: Templates,
    model: Model | None = None,
) -> dict[str, str]:
    """Output path -> Go source, for the services of the files to generate.

    `model` is the files' descriptor model when the caller has one (the image's).
    """
    by_name = {f.name: f for f in files}
    generated = [by_name[name] for name in to_generate]
    model = model or Model(files)
    index = _TypeIndex(model, params)
    out: dict[str, str] = {}
    # (file, its Go package, output folder) of every file with services.
    placed: list[tuple[descriptor_pb2.FileDescriptorProto, GoPackage, str]] = []
    for name in to_generate:
        file = by_name[name]
        if not file.service:
            continue
        pkg = go_package(file.name, params.go_package_of(file))
        go_file = _GoFile(file, pkg)
        go_file.services = list(_services(model, file, go_file, index))
        directory = _output_dir(file, pkg, params)
        base = posixpath.basename(file.name).removesuffix(".proto")
        imports = sorted(
            [("", "context"), ("", "google.golang.org/grpc")]
            + [(alias, path) for path, alias in go_file.imports.items()],
            key=lambda item: (item[1] != "context", item[1]),
        )
        out[_join(directory, base + FILE_SUFFIX)] = templates.render(
            "go_client/service.go.j2",
            generator=GENERATOR,
            source=file.name,
            package=pkg.name,
            imports=imports,
            services=go_file.services,
        )
        placed.append((file, pkg, directory))
    # One options file per Go package, however many of its files have services.
    for directory, package in {d: pkg.name for _, pkg, d in placed}.items():
        out[_join(directory, OPTIONS_FILE)] = templates.render(
            "go_client/options.go.j2", generator=GENERATOR, package=package
        )
    if placed:
        _check_health_proto(generated, params)
    _check_collisions(out, placed, generated, params)
    return out


def _check_health_proto(
    generated: Sequence[descriptor_pb2.FileDescriptorProto], params: Parameters
) -> None:
    """A second Go copy of grpc.health.v1 next to grpc-go's makes every program
    that links both panic at start-up (protobuf-go refuses a second registration
    of a file path or full name), and the options file links grpc-go's."""
    for file in generated:
        if file.package != GRPC_HEALTH_PACKAGE and file.name != GRPC_HEALTH_FILE:
            continue
        if params.go_package_of(file).partition(";")[0] == GRPC_HEALTH_GO:
            continue  # grpc-go's own package, not a second copy
        what = (
            f"package {GRPC_HEALTH_PACKAGE}"
            if file.package == GRPC_HEALTH_PACKAGE
            else f"the file path {GRPC_HEALTH_FILE}"
        )
        raise GenerationError(
            f"{file.name}: declares {what}, which grpc-go already registers "
            f"({GRPC_HEALTH_GO}, linked by the typed clients' client-side health checking); "
            "a Go program linking both panics at start-up with a protobuf registration "
            "conflict. Leave this file out of the tree Go is generated from (e.g. list its "
            "folder under `excludes` in buf.yaml) and use grpc-go's copy, the same service "
            "on the wire"
        )


def _check_collisions(
    out: dict[str, str],
    placed: list[tuple[descriptor_pb2.FileDescriptorProto, GoPackage, str]],
    generated: Sequence[descriptor_pb2.FileDescriptorProto],
    params: Parameters,
) -> None:
    """An exported Go name declared twice in a package we write a client into
    would not compile; say so here, naming the proto element, not later in
    `go build`. Names come from contracts_core.golang (shared with the lint rule
    GO_NAME_COLLISION), plus whatever an overriding template declares."""
    decls = package_decls(generated, {f.name: params.go_package_of(f) for f in generated})
    rendered: dict[str, dict[str, str]] = {}  # directory -> Go identifier -> output file
    for path, source in out.items():
        names = rendered.setdefault(posixpath.dirname(path), {})
        for match in _EXPORTED_DECL.finditer(source):
            names[match.group(1) or match.group(2)] = path
    for _, pkg, directory in placed:
        package = list(decls.get(pkg.import_path, []))
        known = {d.name for d in package if d.generator == TYPED_CLIENT} | CLIENT_PACKAGE_NAMES
        # Names an overriding template adds; the built-in ones are all in `known`.
        package[:0] = (
            GoDecl(name, TYPED_CLIENT, f"`{name}` in {posixpath.basename(file)}", "", "")
            for name, file in sorted(rendered.get(directory, {}).items())
            if name not in known
        )
        for decl, earlier in go_collisions(package):
            where = pkg.import_path
            if decl.element is not None:
                location = decl.element.location
                where = f"{decl.file}:{location.line}:{location.column}"
            raise GenerationError(
                f"{where}: Go identifier {decl.name} of package {pkg.name} is {decl.describe()} "
                f"and also {earlier.describe()}, so the package would not compile; rename "
                f"the {decl.kind or 'template declaration'} (lint rule GO_NAME_COLLISION)"
            )
