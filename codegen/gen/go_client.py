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
from contracts_core.errors import GenerationError, UsageError
from contracts_core.golang import GoPackage, doc_comment, go_camel_case, go_package

GENERATOR = "protoc-gen-contracts-go-client"
OPTIONS_FILE = "client_options.go"
FILE_SUFFIX = "_client.go"

# Source-info path components (descriptor.proto field numbers).
_FILE_SERVICE, _SERVICE_METHOD = 6, 2

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
    """Full proto name -> (Go package, Go identifier) for every message in the request."""

    def __init__(
        self, files: Sequence[descriptor_pb2.FileDescriptorProto], params: Parameters
    ) -> None:
        self.types: dict[str, tuple[GoPackage, str]] = {}
        self.package_names: dict[str, set[str]] = {}  # import path -> Go identifiers
        self.unplaced: dict[str, str] = {}  # full name -> file without go_package
        for file in files:
            option = params.go_package_of(file)
            if not option:
                # Fine until one of its types appears in a service we generate.
                scope = f".{file.package}." if file.package else "."
                self.unplaced.update((scope + m.name, file.name) for m in file.message_type)
                continue
            pkg = go_package(file.name, option)
            names = self.package_names.setdefault(pkg.import_path, set())
            prefix = f".{file.package}." if file.package else "."
            for msg in file.message_type:
                self._message(pkg, names, prefix, "", msg)
            for enum in file.enum_type:
                self._enum(names, "", enum)

    def _message(
        self,
        pkg: GoPackage,
        names: set[str],
        prefix: str,
        go_prefix: str,
        msg: descriptor_pb2.DescriptorProto,
    ) -> None:
        go_name = go_prefix + go_camel_case(msg.name)
        self.types[prefix + msg.name] = (pkg, go_name)
        names.add(go_name)
        for nested in msg.nested_type:
            self._message(pkg, names, f"{prefix}{msg.name}.", f"{go_name}_", nested)
        for enum in msg.enum_type:
            self._enum(names, f"{go_name}_", enum)

    @staticmethod
    def _enum(names: set[str], go_prefix: str, enum: descriptor_pb2.EnumDescriptorProto) -> None:
        go_name = go_prefix + go_camel_case(enum.name)
        # Values of a nested enum are prefixed by the message, not the enum.
        value_prefix = go_prefix if go_prefix else f"{go_name}_"
        names.update({go_name, f"{go_name}_name", f"{go_name}_value"})
        names.update(value_prefix + v.name for v in enum.value)


def _comments(file: descriptor_pb2.FileDescriptorProto) -> dict[tuple[int, ...], str]:
    return {
        tuple(loc.path): loc.leading_comments
        for loc in file.source_code_info.location
        if loc.leading_comments.strip()
    }


def _doc(comment: str, fallback: str, deprecated: bool) -> list[str]:
    """A proto comment as Go doc lines; the fallback sentence when it is empty."""
    fallback_lines = [f"// {fallback}"] if fallback else []
    lines = doc_comment(comment) if comment.strip() else fallback_lines
    if deprecated:
        lines += [*(["//"] if lines else []), "// Deprecated: Do not use."]
    return lines


def _services(
    file: descriptor_pb2.FileDescriptorProto, go_file: _GoFile, index: _TypeIndex
) -> Iterator[Service]:
    comments = _comments(file)
    for s_index, svc in enumerate(file.service):
        full_name = f"{file.package}.{svc.name}" if file.package else svc.name
        go_name = go_camel_case(svc.name)
        methods = []
        for m_index, rpc in enumerate(svc.method):
            method_go = go_camel_case(rpc.name)
            comment = comments.get((_FILE_SERVICE, s_index, _SERVICE_METHOD, m_index), "")
            methods.append(
                Method(
                    go_name=method_go,
                    full_method=f"/{full_name}/{rpc.name}",
                    request=_go_type(rpc.input_type, go_file, index),
                    response=_go_type(rpc.output_type, go_file, index),
                    client_streaming=rpc.client_streaming,
                    server_streaming=rpc.server_streaming,
                    doc=_doc(
                        comment,
                        f"{method_go} calls {full_name}.{rpc.name}.",
                        rpc.options.deprecated,
                    ),
                )
            )
        doc = _doc(comments.get((_FILE_SERVICE, s_index), ""), "", svc.options.deprecated)
        yield Service(go_name, full_name, doc, methods, svc.options.deprecated)


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
) -> dict[str, str]:
    """Output path -> Go source, for the services of the files to generate."""
    by_name = {f.name: f for f in files}
    index = _TypeIndex(files, params)
    out: dict[str, str] = {}
    # (file, its Go package, output folder) of every file with services.
    placed: list[tuple[descriptor_pb2.FileDescriptorProto, GoPackage, str]] = []
    for name in to_generate:
        file = by_name[name]
        if not file.service:
            continue
        pkg = go_package(file.name, params.go_package_of(file))
        go_file = _GoFile(file, pkg)
        go_file.services = list(_services(file, go_file, index))
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
    _check_collisions(out, placed, index)
    return out


def _check_collisions(
    out: dict[str, str],
    placed: list[tuple[descriptor_pb2.FileDescriptorProto, GoPackage, str]],
    index: _TypeIndex,
) -> None:
    """A declared message or enum whose Go name our clients also declare would
    not compile; say so here, naming the proto element, not later in `go build`."""
    declared: dict[str, dict[str, str]] = {}  # directory -> Go identifier -> output file
    for path, source in out.items():
        names = declared.setdefault(posixpath.dirname(path), {})
        for match in _EXPORTED_DECL.finditer(source):
            names[match.group(1) or match.group(2)] = path
    for file, pkg, directory in placed:
        ours = declared.get(directory, {})
        clashes = sorted(index.package_names.get(pkg.import_path, set()) & set(ours))
        if clashes:
            clash = clashes[0]
            raise GenerationError(
                f"{file.name}: Go identifier {clash} of package {pkg.name} is declared by "
                f"protoc-gen-go for a message or enum and by the generated client "
                f"({posixpath.basename(ours[clash])}); rename the message or enum"
            )
