"""The one descriptor model: elements with their names, parents and source positions.

The walk over an image is written once here, and `Model` indexes it once per
image. Lint rules, the breaking classification, the generators' view models
(JSON Schema, Go clients) and, later, the compatibility engine and the
scaffolder all read elements from it; none keeps its own walker or its own
copy of descriptor.proto's field numbers. Paths follow those field numbers,
which is how SourceCodeInfo addresses an element.
"""

from __future__ import annotations

import functools
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from google.protobuf import descriptor_pb2

FileProto = descriptor_pb2.FileDescriptorProto
FieldProto = descriptor_pb2.FieldDescriptorProto

# Field numbers in descriptor.proto, used to build SourceCodeInfo paths.
_FILE_MESSAGE, _FILE_ENUM, _FILE_SERVICE = 4, 5, 6
_MSG_FIELD, _MSG_NESTED, _MSG_ENUM, _MSG_ONEOF = 2, 3, 4, 8
_ENUM_VALUE = 2
_SERVICE_METHOD = 2
# File-level statements whose comments belong to the file element: package (2),
# file options (8, n), syntax (12) and edition (14).
_FILE_PACKAGE, _FILE_OPTIONS, _FILE_SYNTAX, _FILE_EDITION = 2, 8, 12, 14
# The `options` field of each element's descriptor message.
_OPTIONS_FIELD = {
    "file": 8,
    "message": 7,
    "field": 8,
    "oneof": 2,
    "enum": 3,
    "enum_value": 3,
    "service": 3,
    "method": 4,
}


class Kind(StrEnum):
    FILE = "file"
    MESSAGE = "message"
    FIELD = "field"
    ONEOF = "oneof"
    ENUM = "enum"
    ENUM_VALUE = "enum_value"
    SERVICE = "service"
    METHOD = "method"


@dataclass(frozen=True)
class Location:
    line: int  # 1-based
    column: int  # 1-based
    leading_comments: str = ""
    trailing_comments: str = ""
    leading_detached_comments: tuple[str, ...] = ()

    @property
    def comments(self) -> str:
        return "\n".join(filter(None, (self.leading_comments, self.trailing_comments)))

    @property
    def doc(self) -> str:
        """The leading comment, which documents the element in generated code."""
        return self.leading_comments


# Not frozen, though nothing changes an element: a frozen dataclass's __init__ costs
# twice as much, and it runs for every element of every image (a registry checking
# a schema against 50 versions builds 51 models).
@dataclass(eq=False)
class Element:
    """One named element of a file: the thing a rule judges and a finding points at."""

    kind: Kind
    name: str
    full_name: str
    proto: Any
    file: FileProto
    path: tuple[int, ...]
    parent: Element | None
    # The file's source positions, shared by all of its elements and indexed on
    # first use: most elements of a large image never need a position.
    source: SourceIndex

    @functools.cached_property
    def location(self) -> Location:
        if self.kind is Kind.FILE:
            return _file_location(self.source.by_path)
        return _decode(self.source.by_path.get(self.path))

    @functools.cached_property
    def package(self) -> str:
        return self.file.package

    @functools.cached_property
    def in_map_entry(self) -> bool:
        """Whether the element is, or sits inside, a synthesized map entry message."""
        return self.is_map_entry or (self.parent is not None and self.parent.in_map_entry)

    def ancestors(self) -> Iterator[Element]:
        node = self.parent
        while node is not None:
            yield node
            node = node.parent

    @property
    def is_map_entry(self) -> bool:
        return self.kind is Kind.MESSAGE and self.proto.options.map_entry


class SourceIndex:
    """A file's SourceCodeInfo locations by path; the first of a path is the element's span."""

    def __init__(self, file: FileProto) -> None:
        self._file = file

    @functools.cached_property
    def by_path(self) -> dict[tuple[int, ...], Any]:
        out: dict[tuple[int, ...], Any] = {}
        for loc in self._file.source_code_info.location:
            out.setdefault(tuple(loc.path), loc)
        return out


def _decode(loc: Any) -> Location:
    if loc is None:
        return Location(0, 0)
    span = loc.span
    return Location(
        line=span[0] + 1 if span else 0,
        column=span[1] + 1 if len(span) > 1 else 0,
        leading_comments=loc.leading_comments,
        trailing_comments=loc.trailing_comments,
        leading_detached_comments=tuple(loc.leading_detached_comments),
    )


def option_location(element: Element, option_number: int) -> Location | None:
    """Where an option of the element is written, e.g. go_package (11) of a file."""
    path = (*element.path, _OPTIONS_FIELD[element.kind.value], option_number)
    raw = element.source.by_path.get(path)
    return None if raw is None else _decode(raw)


def _file_location(source: dict[tuple[int, ...], Any]) -> Location:
    """The file's position (its first statement) with the comments of its file-level
    statements, so that a `contracts:ignore` on `package` or an option covers the file."""
    base = _decode(source.get(()))
    statements = [
        _decode(loc)
        for path, loc in source.items()
        if (len(path) == 1 and path[0] in (_FILE_PACKAGE, _FILE_SYNTAX, _FILE_EDITION))
        or (len(path) == 2 and path[0] == _FILE_OPTIONS)
    ]
    statements.sort(key=lambda loc: (loc.line, loc.column))
    return Location(
        line=base.line,
        column=base.column,
        leading_comments="\n".join(filter(None, (s.leading_comments for s in statements))),
        trailing_comments="\n".join(filter(None, (s.trailing_comments for s in statements))),
        leading_detached_comments=base.leading_detached_comments,
    )


def walk(file: FileProto) -> Iterator[Element]:
    """Every element of a file, parents before children, in declaration order."""
    source = SourceIndex(file)
    prefix = f"{file.package}." if file.package else ""

    def make(
        kind: Kind, proto: Any, path: tuple[int, ...], scope: str, parent: Element | None
    ) -> Element:
        full = f"{scope}{proto.name}"
        return Element(kind, proto.name, full, proto, file, path, parent, source)

    root = Element(Kind.FILE, file.name, file.package, file, file, (), None, source)
    yield root

    def enum(proto: Any, path: tuple[int, ...], scope: str, parent: Element) -> Iterator[Element]:
        node = make(Kind.ENUM, proto, path, scope, parent)
        yield node
        # Enum values live in the enum's enclosing scope (C++ scoping), not inside the enum.
        for i, value in enumerate(proto.value):
            yield make(Kind.ENUM_VALUE, value, (*path, _ENUM_VALUE, i), scope, node)

    def message(
        proto: Any, path: tuple[int, ...], scope: str, parent: Element
    ) -> Iterator[Element]:
        node = make(Kind.MESSAGE, proto, path, scope, parent)
        yield node
        inner = f"{node.full_name}."
        for i, oneof in enumerate(proto.oneof_decl):
            yield make(Kind.ONEOF, oneof, (*path, _MSG_ONEOF, i), inner, node)
        for i, fld in enumerate(proto.field):
            yield make(Kind.FIELD, fld, (*path, _MSG_FIELD, i), inner, node)
        for i, nested in enumerate(proto.nested_type):
            yield from message(nested, (*path, _MSG_NESTED, i), inner, node)
        for i, nested_enum in enumerate(proto.enum_type):
            yield from enum(nested_enum, (*path, _MSG_ENUM, i), inner, node)

    for i, msg in enumerate(file.message_type):
        yield from message(msg, (_FILE_MESSAGE, i), prefix, root)
    for i, en in enumerate(file.enum_type):
        yield from enum(en, (_FILE_ENUM, i), prefix, root)
    for i, svc in enumerate(file.service):
        node = make(Kind.SERVICE, svc, (_FILE_SERVICE, i), prefix, root)
        yield node
        for j, method in enumerate(svc.method):
            yield make(
                Kind.METHOD,
                method,
                (_FILE_SERVICE, i, _SERVICE_METHOD, j),
                f"{node.full_name}.",
                node,
            )


def field_type_name(field: FieldProto) -> str:
    """The field's type as written in .proto: `int64`, `fleet.x.v1.Foo`, `map<..>` excluded."""
    if field.type_name:
        return field.type_name.lstrip(".")
    return descriptor_pb2.FieldDescriptorProto.Type.Name(field.type)[len("TYPE_") :].lower()


# Kinds that declare a type or a service: what a field's type_name or an RPC's
# input_type can name, and what breaking checks look up by full name.
_DECLARATIONS = frozenset({Kind.MESSAGE, Kind.ENUM, Kind.SERVICE})


class Model:
    """Every element of a set of files, walked once and indexed by full name.

    Built from the image's FileDescriptorProtos (dependencies first, as buf
    orders them) or from a protoc plugin's request, which carries the same.
    """

    def __init__(self, files: Iterable[FileProto]) -> None:
        self.files: dict[str, FileProto] = {}
        self._elements: dict[str, tuple[Element, ...]] = {}
        self.by_name: dict[str, Element] = {}
        # Elements hash by identity (eq=False), so a parent is its own key.
        self._children: dict[Element, list[Element]] = {}
        for file in files:
            self.files[file.name] = file
            elements = tuple(walk(file))
            self._elements[file.name] = elements
            for element in elements:
                if element.parent is not None:
                    self._children.setdefault(element.parent, []).append(element)
                if element.kind is not Kind.FILE:
                    # Enum values share their enum's scope: the first declaration wins,
                    # as protoc reports the second one as a duplicate anyway.
                    self.by_name.setdefault(element.full_name, element)

    def elements(self, file: str) -> tuple[Element, ...]:
        """A file's elements, parents before children, in declaration order."""
        return self._elements[file]

    def all_elements(self) -> Iterator[Element]:
        """Every file's elements, files in the model's (dependency) order."""
        for elements in self._elements.values():
            yield from elements

    def file_element(self, file: str) -> Element:
        return self._elements[file][0]

    def resolve(self, type_name: str) -> Element | None:
        """The message, enum or service a (possibly dot-prefixed) full name refers to."""
        element = self.by_name.get(type_name.lstrip("."))
        return element if element is not None and element.kind in _DECLARATIONS else None

    @functools.cached_property
    def declared_names(self) -> frozenset[str]:
        """Full names of every message, enum and service, nested ones included."""
        return frozenset(n for n, e in self.by_name.items() if e.kind in _DECLARATIONS)

    def of_kind(self, file: str, *kinds: Kind) -> Iterator[Element]:
        """A file's elements of these kinds, in walk order."""
        return (e for e in self._elements[file] if e.kind in kinds)

    def children(self, element: Element, kind: Kind) -> Iterator[Element]:
        """The direct children of an element of one kind (a message's fields, ...)."""
        return (e for e in self._children.get(element, ()) if e.kind is kind)


def json_name(field: FieldProto) -> str:
    """The field's proto3 JSON name: its `json_name`, else protoc's derivation
    (`order_id` -> `orderId`: each underscore dropped, the next letter upper-cased).

    buf's images always carry json_name; descriptors from a registry client or a
    plugin request need not."""
    if field.HasField("json_name"):
        return field.json_name
    out: list[str] = []
    upper = False
    for ch in field.name:
        if ch == "_":
            upper = True
        else:
            out.append(ch.upper() if upper else ch)
            upper = False
    return "".join(out)
