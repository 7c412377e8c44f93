"""A schema as a registry holds one: a root .proto file plus the files it imports.

A `Schema` reads the one descriptor model and caches, per message, the shape
that the comparison needs (fields by number with their kind, label and
oneof), so that comparing a new version with fifty old ones walks each
version's descriptors once.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from google.protobuf import descriptor_pb2

from contracts_core.descriptors import Element, FileProto, Kind, Model, json_name
from contracts_core.errors import UsageError
from contracts_core.image import Image

_T = descriptor_pb2.FieldDescriptorProto

# Scalars in groups whose members read each other's encoding (protobuf's
# "updating a message type" rules, as Confluent groups them in FieldSchemaDiff).
# Enums read as the first group.
GENERAL_NUMBER = "GENERAL_NUMBER"
_SCALAR_GROUPS = {
    _T.TYPE_INT32: GENERAL_NUMBER,
    _T.TYPE_INT64: GENERAL_NUMBER,
    _T.TYPE_UINT32: GENERAL_NUMBER,
    _T.TYPE_UINT64: GENERAL_NUMBER,
    _T.TYPE_BOOL: GENERAL_NUMBER,
    _T.TYPE_SINT32: "SIGNED_NUMBER",
    _T.TYPE_SINT64: "SIGNED_NUMBER",
    _T.TYPE_STRING: "STRING_OR_BYTES",
    _T.TYPE_BYTES: "STRING_OR_BYTES",
    _T.TYPE_FIXED32: "FIXED32",
    _T.TYPE_SFIXED32: "FIXED32",
    _T.TYPE_FIXED64: "FIXED64",
    _T.TYPE_SFIXED64: "FIXED64",
    _T.TYPE_FLOAT: "FLOAT",
    _T.TYPE_DOUBLE: "DOUBLE",
}
NUMERIC_GROUPS = frozenset(set(_SCALAR_GROUPS.values()) - {"STRING_OR_BYTES"})


@dataclass(frozen=True, eq=False)
class TypeRef:
    """A field's type: a scalar (enums included) in its group, a message, or a map."""

    kind: str  # "scalar", "message" or "map"
    name: str  # as written: `int64`, or a full name
    group: str = ""  # the scalar group
    declaration: Element | None = None  # the message or enum
    key: TypeRef | None = None
    value: TypeRef | None = None

    def same(self, other: TypeRef) -> bool:
        """Whether nothing about the two can differ: the fast path of a comparison."""
        return self.kind == other.kind == "scalar" and self.name == other.name


@dataclass(frozen=True, eq=False)
class FieldShape:
    element: Element
    name: str
    json_name: str
    # As Confluent's parser sees it: None for a proto3 singular field without
    # `optional` and for any oneof member; else "optional", "required", "repeated".
    label: str | None
    type: TypeRef
    oneof: str | None  # the real oneof it belongs to; proto3 `optional` has none


@dataclass(frozen=True, eq=False)
class MessageShape:
    fields: dict[int, FieldShape]
    oneofs: dict[str, tuple[int, ...]]  # real, non-empty oneofs, by name
    oneof_elements: dict[str, Element]
    types: tuple[Element, ...]  # nested messages and enums, map entries left out


class Schema:
    """One root file of a model and everything the model holds that it imports."""

    def __init__(
        self,
        model: Model,
        root: str,
        label: str = "",
        paths: Mapping[str, str] | None = None,
    ) -> None:
        if root not in model.files:
            known = ", ".join(sorted(model.files)) or "none"
            raise UsageError(f"schema root {root!r} is not among the files ({known})")
        self.model = model
        self.root = root
        self.label = label
        self._paths = dict(paths or {})
        self._shapes: dict[Element, MessageShape] = {}
        self._types: dict[str, TypeRef] = {}
        self._bare: dict[str, bytes] = {}

    @classmethod
    def from_files(cls, files: Iterable[FileProto], root: str, label: str = "") -> Schema:
        """From FileDescriptorProtos, dependencies first (as a registry stores references)."""
        return cls(Model(files), root, label)

    @classmethod
    def from_image(cls, image: Image, root: str, label: str = "") -> Schema:
        """A root file of a compiled image (its module-relative name)."""
        return cls(image.model, root, label, image.targets)

    def display_path(self, element: Element) -> str:
        """The path a finding names: the workspace path of one of its own files."""
        return self._paths.get(element.file.name, element.file.name)

    @property
    def file(self) -> Element:
        return self.model.file_element(self.root)

    def top_types(self, file: str) -> tuple[Element, ...]:
        """A file's top-level messages and enums."""
        root = self.model.file_element(file)
        return tuple(
            e for e in self.model.of_kind(file, Kind.MESSAGE, Kind.ENUM) if e.parent is root
        )

    def in_root(self, element: Element) -> bool:
        return element.file.name == self.root

    def local_name(self, element: Element) -> str:
        """A type's name inside its package: `Outer.Inner`."""
        package = element.file.package
        return element.full_name[len(package) + 1 :] if package else element.full_name

    def file_bytes(self, name: str) -> bytes:
        """A file's descriptor without source positions: equal bytes, equal types."""
        if name not in self._bare:
            bare = descriptor_pb2.FileDescriptorProto()
            bare.CopyFrom(self.model.files[name])
            bare.ClearField("source_code_info")
            self._bare[name] = bare.SerializeToString(deterministic=True)
        return self._bare[name]

    def shape(self, message: Element) -> MessageShape:
        shape = self._shapes.get(message)
        if shape is None:
            shape = self._shapes[message] = self._build_shape(message)
        return shape

    def _build_shape(self, message: Element) -> MessageShape:
        proto = message.proto
        syntax3 = message.file.syntax == "proto3"
        # Real oneofs only: a proto3 `optional` field's synthetic one is no oneof.
        oneof_names: dict[int, str] = {}
        if proto.oneof_decl:
            for f in proto.field:
                if f.HasField("oneof_index") and not f.proto3_optional:
                    oneof_names[f.oneof_index] = proto.oneof_decl[f.oneof_index].name
        fields: dict[int, FieldShape] = {}
        members: dict[str, list[int]] = {name: [] for name in oneof_names.values()}
        for element in self.model.children(message, Kind.FIELD):
            f = element.proto
            oneof = (
                oneof_names.get(f.oneof_index)
                if oneof_names and f.HasField("oneof_index") and not f.proto3_optional
                else None
            )
            if oneof is not None:
                members[oneof].append(f.number)
            fields[f.number] = FieldShape(
                element=element,
                name=f.name,
                json_name=json_name(f),
                label=None if oneof is not None else _label(f, syntax3),
                type=self.type_of(f),
                oneof=oneof,
            )
        oneof_elements = {
            e.name: e for e in self.model.children(message, Kind.ONEOF) if e.name in members
        }
        types = tuple(
            e
            for kind in (Kind.MESSAGE, Kind.ENUM)
            for e in self.model.children(message, kind)
            if not e.is_map_entry
        )
        return MessageShape(
            fields, {k: tuple(v) for k, v in members.items()}, oneof_elements, types
        )

    def type_of(self, f: descriptor_pb2.FieldDescriptorProto) -> TypeRef:
        key = f.type_name or str(f.type)
        ref = self._types.get(key)
        if ref is None:
            ref = self._types[key] = self._build_type(f)
        return ref

    def _build_type(self, f: descriptor_pb2.FieldDescriptorProto) -> TypeRef:
        if f.type in _SCALAR_GROUPS:
            name = _T.Type.Name(f.type)[len("TYPE_") :].lower()
            return TypeRef("scalar", name, _SCALAR_GROUPS[f.type])
        name = f.type_name.lstrip(".")
        declaration = self.model.resolve(name)
        if f.type == _T.TYPE_ENUM:
            return TypeRef("scalar", name, GENERAL_NUMBER, declaration)
        if declaration is not None and declaration.is_map_entry:
            key, value = (e.proto for e in self.model.children(declaration, Kind.FIELD))
            return TypeRef(
                "map",
                name,
                declaration=declaration,
                key=self.type_of(key),
                value=self.type_of(value),
            )
        return TypeRef("message", name, declaration=declaration)


def _label(f: descriptor_pb2.FieldDescriptorProto, syntax3: bool) -> str | None:
    if f.proto3_optional:
        return "optional"
    if f.label == _T.LABEL_REPEATED:
        return "repeated"
    if syntax3:
        return None
    return "required" if f.label == _T.LABEL_REQUIRED else "optional"
