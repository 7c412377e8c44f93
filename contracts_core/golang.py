"""Facts about Go that code generation and lint rules share: the identifiers
protoc-gen-go derives from proto names, a file's Go package, and doc comments
in the canonical form gofmt prints.
"""

from __future__ import annotations

import functools
import posixpath
import re
import textwrap
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass

from google.protobuf import descriptor_pb2

from contracts_core.descriptors import Element, Kind, walk
from contracts_core.errors import ConfigError, UsageError
from contracts_core.settings import GoPackageSettings

# fmt: off
GO_KEYWORDS = frozenset([
    "break", "case", "chan", "const", "continue", "default", "defer", "else", "fallthrough",
    "for", "func", "go", "goto", "if", "import", "interface", "map", "package", "range",
    "return", "select", "struct", "switch", "type", "var",
])
# fmt: on


def _is_ascii_lower(c: str) -> bool:
    return "a" <= c <= "z"


@functools.cache
def go_camel_case(name: str) -> str:
    """The Go identifier protoc-gen-go derives from a proto name (`get_foo` -> `GetFoo`).

    Words start at `_` or an upper-case letter; `_` before a lower-case letter is
    dropped, a leading `_` becomes `X`, other `_` and digits are kept as they are.
    """
    out: list[str] = []
    i = 0
    while i < len(name):
        c = name[i]
        nxt = name[i + 1] if i + 1 < len(name) else ""
        if c == "_" and i == 0:
            out.append("X")
        elif c == "_" and _is_ascii_lower(nxt):
            pass
        elif c == "_" or c.isdigit():
            out.append(c)
        else:
            out.append(c.upper() if _is_ascii_lower(c) else c)
            while i + 1 < len(name) and _is_ascii_lower(name[i + 1]):
                i += 1
                out.append(name[i])
        i += 1
    return "".join(out)


@dataclass(frozen=True)
class GoPackage:
    import_path: str
    name: str


def go_package(file_name: str, option: str) -> GoPackage:
    """The Go package of a proto file, from its go_package option, as protoc-gen-go reads it."""
    if not option:
        raise UsageError(
            f'{file_name}: no go_package option; add option go_package = "<module>/<dir>;<name>"'
        )
    import_path, _, name = option.partition(";")
    if not name:
        name = import_path.rsplit("/", 1)[-1]
        # protoc-gen-go's cleaning of a path element into a package name.
        name = re.sub(r"[^A-Za-z0-9_]", "_", name)
        if not name or name[0].isdigit() or name in GO_KEYWORDS:
            name = "_" + name
    return GoPackage(import_path, name)


def effective_go_package(
    file: descriptor_pb2.FileDescriptorProto, settings: GoPackageSettings
) -> str:
    """The go_package a file is generated with ("" if none): the one place gen,
    the Go clients and lint read it from.

    [tool.contracts] go_package_override first, then the file's own option, then
    go_package_prefix + "/" + the file's directory, named after that directory
    (`acme/weather/v1` -> `weatherv1`), as buf's managed mode would.
    """
    if file.name in settings.override:
        return settings.override[file.name]
    if file.options.go_package or settings.prefix is None:
        return file.options.go_package
    directory = posixpath.dirname(file.name)
    path = f"{settings.prefix}/{directory}" if directory else settings.prefix
    return f"{path};{_package_name(path)}"


def effective_go_packages(
    files: Iterable[descriptor_pb2.FileDescriptorProto], settings: GoPackageSettings
) -> dict[str, str]:
    """effective_go_package of every file by name; an override naming no file is an error."""
    out = {file.name: effective_go_package(file, settings) for file in files}
    unknown = sorted(set(settings.override) - set(out))
    if unknown:
        raise ConfigError(
            f"{settings.override_where}: go_package_override names {', '.join(map(repr, unknown))}, "
            "not a file of the workspace (name files as imports do, relative to their module)"
        )
    return out


def _package_name(import_path: str) -> str:
    elements = import_path.split("/")
    name = elements[-1]
    if re.fullmatch(r"v[0-9]+[a-z0-9]*", name) and len(elements) > 1:
        name = elements[-2] + name  # weather/v1 -> weatherv1, as our lint rule asks
    name = re.sub(r"[^a-z0-9_]", "_", name.lower())
    if not name or name[0].isdigit() or name in GO_KEYWORDS:
        name = "_" + name
    return name


# go/doc/comment's list markers: -, *, +, or U+2022, or a number then . or ).
_BULLET = re.compile(r"^[-*+\u2022][ \t]+(?=\S)")
_NUMBER = re.compile(r"^([0-9]+)[.)][ \t]+(?=\S)")


def doc_comment(text: str, indent: str = "") -> list[str]:
    """A proto comment as `//` lines in the form gofmt leaves unchanged.

    gofmt (Go 1.19+) rewrites doc comments: an indented span starting with a list
    marker is a list (items "  - ", continuations "    "), any other indented
    span is a code block (one tab), and a blank line separates a list or code
    block from the paragraph after it. Printing that form directly keeps the
    generated files gofmt-clean without running gofmt, whose version would then
    decide our bytes.
    """
    # Tabs as spaces first, so the common indentation is removed even where
    # lines mix the two: gofmt removes it too, and a comment left indented
    # throughout would be reparsed differently by gofmt.
    dedented = textwrap.dedent(text.strip("\n").expandtabs(4))
    lines = [line.rstrip() for line in dedented.splitlines()]
    out: list[str] = []
    i = 0
    while i < len(lines):
        if not lines[i][:1].isspace():
            # A paragraph line, or a blank line; runs of blank lines print as one.
            if lines[i] or (out and out[-1]):
                out.append(lines[i])
            i += 1
            continue
        j = i
        while j < len(lines) and (not lines[j] or lines[j][0].isspace()):
            j += 1
        span = lines[i:j]
        while not span[-1]:
            span.pop()
        first = span[0].lstrip()
        if _BULLET.match(first) or _NUMBER.match(first):
            loose = "" in span
            if loose and out and out[-1]:
                out.append("")
            out.extend(_list(span, loose))
        else:
            if out and out[-1]:
                out.append("")
            out.extend(_code(span))
        if j < len(lines):
            out.append("")
        i = j
    while out and not out[-1]:
        out.pop()
    return [f"{indent}//{_gap(line)}{line}" for line in out]


def _gap(line: str) -> str:
    return " " if line and not line.startswith("\t") else ""


def _list(span: list[str], loose: bool) -> list[str]:
    """A list as gofmt prints it; a loose list (a blank line anywhere) gets one between items.
    Only markers of the first item's kind (bullet or number) start items."""
    out: list[str] = []
    numbered = _NUMBER.match(span[0].strip()) is not None
    for line in span:
        stripped = line.strip()
        bullet, number = _BULLET.match(stripped), _NUMBER.match(stripped)
        # A marker of the other kind (`-` in a numbered list) continues the item.
        bullet, number = (None, number) if numbered else (bullet, None)
        if bullet or number:
            if out and loose and out[-1]:
                out.append("")
            if bullet:
                out.append("  - " + stripped[bullet.end() :])
            elif number:
                out.append(f" {number.group(1)}. " + stripped[number.end() :])
        elif stripped:
            out.append("    " + stripped)
    return out


def _code(span: list[str]) -> list[str]:
    body = textwrap.dedent("\n".join(span)).splitlines()
    return ["\t" + line if line else "" for line in body]


# -- Exported names the generated Go declares -----------------------------------
#
# One list, read by the lint rule GO_NAME_COLLISION and by the typed-client
# generator, of every exported identifier that protoc-gen-go, protoc-gen-go-grpc
# (v1.6) and our typed clients declare in a Go package. Two declarations of one
# name in one package fail `go build` with "redeclared in this block".

PROTOC_GEN_GO = "protoc-gen-go"
PROTOC_GEN_GO_GRPC = "protoc-gen-go-grpc"
TYPED_CLIENT = "the typed Go client"

# What client_options.go declares once in every Go package with a service.
# tests/test_go_client.py checks this against the built-in template's output.
# fmt: off
CLIENT_PACKAGE_NAMES = frozenset([
    "DefaultCallTimeout", "DefaultServerStreamTimeout", "DefaultClientStreamTimeout",
    "DefaultBidiStreamTimeout", "DefaultMaxMessageBytes", "DefaultKeepaliveTime",
    "DefaultKeepaliveTimeout", "RetryPolicy", "DefaultRetryPolicy", "ClientOption",
    "WithCallTimeout", "WithServerStreamTimeout", "WithClientStreamTimeout",
    "WithBidiStreamTimeout", "WithRetryPolicy", "WithoutRetry", "WithKeepalive",
    "WithMaxMessageSize", "WithGzip", "WithTransportCredentials", "WithInsecure",
    "WithHealthCheckService", "WithoutHealthCheck", "WithLoadBalancingPolicy",
    "WithDialOptions",
])
# fmt: on


@dataclass(frozen=True)
class GoDecl:
    """One exported Go identifier and the proto element it is generated for."""

    name: str
    generator: str  # PROTOC_GEN_GO, PROTOC_GEN_GO_GRPC or TYPED_CLIENT
    role: str  # what the identifier is: "the client interface", "the message type"
    kind: str  # the proto element: "message", "enum", "enum value", "field", "service", "method"
    full_name: str  # the element's full proto name; "" for package-level names
    # The element of the one descriptor model; None for package-level names.
    element: Element | None = None

    @property
    def file(self) -> str:
        return self.element.file.name if self.element is not None else ""

    @property
    def path(self) -> tuple[int, ...]:
        return self.element.path if self.element is not None else ()

    def own(self) -> str:
        """How the element's own finding names it: "its Go message type `Foo`"."""
        return f"its Go {self.role.removeprefix('the ')} `{self.name}`"

    def describe(self) -> str:
        if not self.full_name:
            return f"{self.role} that {self.generator} declares in every package with a service"
        return f"{self.role} that {self.generator} declares for {self.kind} `{self.full_name}`"


def go_ident(element: Element) -> str:
    """protoc-gen-go's identifier for a message or enum: its own and its enclosing
    messages' CamelCase names joined by `_` (`Order_Line`)."""
    chain = [e for e in (element, *element.ancestors()) if e.kind in (Kind.MESSAGE, Kind.ENUM)]
    return "_".join(go_camel_case(e.name) for e in reversed(chain))


def message_decls(file: descriptor_pb2.FileDescriptorProto) -> Iterator[GoDecl]:
    """protoc-gen-go's exported names for a file's messages and enums, in the
    order it declares them (a message, its oneof wrappers, then nested types)."""

    def decl(name: str, role: str, element: Element) -> GoDecl:
        kind = element.kind.value.replace("_", " ")
        return GoDecl(name, PROTOC_GEN_GO, role, kind, element.full_name, element)

    for element in walk(file):
        if element.in_map_entry:  # map<k, v> entries get no Go type
            continue
        parent = element.parent
        if element.kind is Kind.MESSAGE:
            yield decl(go_ident(element), "the message type", element)
        elif element.kind is Kind.ENUM:
            go_name = go_ident(element)
            yield decl(go_name, "the enum type", element)
            yield decl(go_name + "_name", "the value-name map", element)
            yield decl(go_name + "_value", "the name-value map", element)
        elif element.kind is Kind.ENUM_VALUE and parent is not None:
            # A nested enum's values are prefixed by the message, a top-level one's by the enum.
            scope = parent.parent
            prefix = (
                go_ident(scope)
                if scope is not None and scope.kind is Kind.MESSAGE
                else (go_ident(parent))
            )
            yield decl(f"{prefix}_{element.name}", "the constant", element)
        elif element.kind is Kind.FIELD and parent is not None:
            field: descriptor_pb2.FieldDescriptorProto = element.proto
            if field.HasField("oneof_index") and not field.proto3_optional:
                message: descriptor_pb2.DescriptorProto = parent.proto
                nested = {go_camel_case(n.name) for n in message.nested_type}
                nested |= {go_camel_case(e.name) for e in message.enum_type}
                member = go_camel_case(field.name)
                # protoc-gen-go renames a wrapper that would take a nested type's name.
                wrapper = f"{go_ident(parent)}_{member}" + ("_" if member in nested else "")
                yield decl(wrapper, "the oneof wrapper type", element)


def service_decls(file: descriptor_pb2.FileDescriptorProto) -> Iterator[GoDecl]:
    """protoc-gen-go-grpc's and our typed client's exported names for a file's services."""
    for element in walk(file):
        if element.kind is Kind.SERVICE:
            s = go_camel_case(element.name)
            for name, generator, role in (
                (f"{s}Client", PROTOC_GEN_GO_GRPC, "the client interface"),
                (f"New{s}Client", PROTOC_GEN_GO_GRPC, "the client constructor"),
                (f"{s}Server", PROTOC_GEN_GO_GRPC, "the server interface"),
                (f"Unimplemented{s}Server", PROTOC_GEN_GO_GRPC, "the embeddable server"),
                (f"Unsafe{s}Server", PROTOC_GEN_GO_GRPC, "the opt-out server interface"),
                (f"Register{s}Server", PROTOC_GEN_GO_GRPC, "the registration function"),
                (f"{s}_ServiceDesc", PROTOC_GEN_GO_GRPC, "the service descriptor"),
                (f"{s}Conn", TYPED_CLIENT, "the client type"),
                (f"New{s}Conn", TYPED_CLIENT, "the client constructor"),
            ):
                yield GoDecl(name, generator, role, "service", element.full_name, element)
        elif element.kind is Kind.METHOD and element.parent is not None:
            s, m = go_camel_case(element.parent.name), go_camel_case(element.name)
            rpc: descriptor_pb2.MethodDescriptorProto = element.proto
            names = [(f"{s}_{m}_FullMethodName", "the method name constant")]
            if rpc.client_streaming or rpc.server_streaming:
                names += [
                    (f"{s}_{m}Client", "the client stream type"),
                    (f"{s}_{m}Server", "the server stream type"),
                ]
            for name, role in names:
                yield GoDecl(name, PROTOC_GEN_GO_GRPC, role, "method", element.full_name, element)


def package_decls(
    files: Iterable[descriptor_pb2.FileDescriptorProto],
    go_packages: Mapping[str, str] | None = None,
) -> dict[str, list[GoDecl]]:
    """Go import path -> every exported identifier generated into that package.

    `go_packages` gives each file's effective go_package (effective_go_packages);
    without it, the files' own options. Files without one are left out (they get
    no Go code). Package-level
    names come first, then service names, then message names, so that a
    message is what collides when it takes a gRPC or client name.
    """
    packages: dict[str, list[descriptor_pb2.FileDescriptorProto]] = {}
    for file in files:
        option = (go_packages or {}).get(file.name, file.options.go_package)
        if option:
            import_path = option.partition(";")[0]
            packages.setdefault(import_path, []).append(file)
    out: dict[str, list[GoDecl]] = {}
    for import_path, members in packages.items():
        members = sorted(members, key=lambda f: f.name)
        decls = out[import_path] = []
        if any(f.service for f in members):
            decls += (
                GoDecl(n, TYPED_CLIENT, "the package-level name", "", "")
                for n in sorted(CLIENT_PACKAGE_NAMES)
            )
        for f in members:
            decls += service_decls(f)
        for f in members:
            decls += message_decls(f)
    return out


def go_collisions(decls: Iterable[GoDecl]) -> list[tuple[GoDecl, GoDecl]]:
    """(declaration, the earlier one of the same name) for every identifier of
    one package's declarations that is declared twice."""
    first: dict[str, GoDecl] = {}
    out: list[tuple[GoDecl, GoDecl]] = []
    for d in decls:
        earlier = first.setdefault(d.name, d)
        if earlier is not d:
            out.append((d, earlier))
    return out
