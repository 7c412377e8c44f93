""".proto source for a FileDescriptorProto, for registry answers in Confluent's form.

Confluent's registry answers a schema as `.proto` text (base64 only for
`format=serialized`), whatever form it was registered in; clients such as
confluent-kafka-go parse that text. `render` writes a file that protoc compiles
back to the same descriptor, up to what text cannot carry (`comparable` says
exactly what): the file's name, source positions, and `json_name` where it is
protoc's own derivation.

Choices:
- Type names are written fully qualified (`.pkg.Msg`), so no scope lookup can
  pick another type.
- Declarations keep the descriptor's order. Map entries and groups are
  declared by their fields, so a field is written where its synthetic message
  sits among the nested types.
- Options, standard and custom, are written from the options messages' set
  fields; message values as text-format aggregates. Custom options are
  extensions that the options message does not know, so they are read back
  through a pool of the file and its `dependencies`; an option that no given
  file defines is refused (`UnrenderableSchema`), not dropped.
- Refused too: a oneof whose members are not contiguous or not in declaration
  order, a group extension, a group whose field is not its lower-cased name.
"""

from __future__ import annotations

import math
import struct
from collections.abc import Iterable, Iterator, Sequence
from typing import Any, cast

from google.protobuf import (  # the well-known types, so the default pool holds them
    any_pb2,  # noqa: F401
    api_pb2,  # noqa: F401
    descriptor_pb2,
    descriptor_pool,
    duration_pb2,  # noqa: F401
    empty_pb2,  # noqa: F401
    field_mask_pb2,  # noqa: F401
    message_factory,
    source_context_pb2,  # noqa: F401
    struct_pb2,  # noqa: F401
    text_format,
    timestamp_pb2,  # noqa: F401
    type_pb2,  # noqa: F401
    wrappers_pb2,  # noqa: F401
)
from google.protobuf.descriptor import FieldDescriptor
from google.protobuf.message import Message
from google.protobuf.unknown_fields import UnknownFieldSet

from contracts_core.descriptors import json_name

FileProto = descriptor_pb2.FileDescriptorProto
MessageProto = descriptor_pb2.DescriptorProto
FieldProto = descriptor_pb2.FieldDescriptorProto
EnumProto = descriptor_pb2.EnumDescriptorProto

_INDENT = "  "
_MESSAGE_MAX = 536_870_911  # the highest field number; `max` in ranges
_MESSAGE_SET_MAX = 2_147_483_646
_ENUM_MAX = 2_147_483_647

_SCALARS = {
    FieldProto.TYPE_DOUBLE: "double",
    FieldProto.TYPE_FLOAT: "float",
    FieldProto.TYPE_INT64: "int64",
    FieldProto.TYPE_UINT64: "uint64",
    FieldProto.TYPE_INT32: "int32",
    FieldProto.TYPE_FIXED64: "fixed64",
    FieldProto.TYPE_FIXED32: "fixed32",
    FieldProto.TYPE_BOOL: "bool",
    FieldProto.TYPE_STRING: "string",
    FieldProto.TYPE_BYTES: "bytes",
    FieldProto.TYPE_UINT32: "uint32",
    FieldProto.TYPE_SFIXED32: "sfixed32",
    FieldProto.TYPE_SFIXED64: "sfixed64",
    FieldProto.TYPE_SINT32: "sint32",
    FieldProto.TYPE_SINT64: "sint64",
}
_OPTION_TYPES = frozenset(
    f"google.protobuf.{name}Options"
    for name in ("File", "Message", "Field", "Oneof", "Enum", "EnumValue", "Service", "Method")
) | {"google.protobuf.ExtensionRangeOptions"}
_SOURCE_ONLY = descriptor_pb2.FieldOptions.RETENTION_SOURCE
_FLOATS = (FieldProto.TYPE_FLOAT, FieldProto.TYPE_DOUBLE)
_ESCAPES = {
    ord("\n"): "\\n",
    ord("\r"): "\\r",
    ord("\t"): "\\t",
    ord('"'): '\\"',
    ord("'"): "\\'",
    ord("\\"): "\\\\",
}


class UnrenderableSchema(ValueError):
    """The descriptor holds something this renderer does not write as text."""


def render(file: FileProto, dependencies: Iterable[FileProto] = ()) -> str:
    """The file as .proto source; `dependencies` (its imports, any order) name its
    custom options."""
    return _Renderer(file, list(dependencies)).file()


def comparable(file: FileProto, dependencies: Iterable[FileProto] = ()) -> FileProto:
    """What the text of a file carries: a copy without its name, source positions
    and derived `json_name`s, `proto2` spelled as protoc leaves it (unset),
    floating-point defaults by value and custom options (those `dependencies`
    define) re-encoded in field order (protoc and buf spell both differently),
    without the options that only source keeps (retention SOURCE: protoc's
    output leaves them out)."""
    out = FileProto()
    out.CopyFrom(file)
    _Options(out, list(dependencies)).canonicalize(out)
    out.ClearField("name")
    out.ClearField("source_code_info")
    if out.syntax == "proto2":
        out.ClearField("syntax")
    for field in _all_fields(out):
        if field.HasField("json_name") and field.json_name == _derived_json_name(field):
            field.ClearField("json_name")
        if field.HasField("default_value") and field.type in _FLOATS:
            value = float(field.default_value)
            if field.type == FieldProto.TYPE_FLOAT:
                value = struct.unpack("<f", struct.pack("<f", value))[0]
            field.default_value = _float(value)
    return out


def quote(data: bytes) -> str:
    """A protobuf string literal holding `data`: printable ASCII as is, the rest escaped."""
    out = ['"']
    for byte in data:
        if byte in _ESCAPES:
            out.append(_ESCAPES[byte])
        elif 0x20 <= byte < 0x7F:
            out.append(chr(byte))
        else:
            out.append(f"\\{byte:03o}")
    out.append('"')
    return "".join(out)


def _derived_json_name(field: FieldProto) -> str:
    bare = FieldProto()
    bare.name = field.name
    return json_name(bare)


def _all_fields(file: FileProto) -> Iterator[FieldProto]:
    yield from file.extension

    def walk(messages: Iterable[MessageProto]) -> Iterator[FieldProto]:
        for message in messages:
            yield from message.field
            yield from message.extension
            yield from walk(message.nested_type)

    yield from walk(file.message_type)


def _with_well_known(files: list[FileProto]) -> list[FileProto]:
    """`files` and the well-known types they import but do not hold (a registry
    leaves those out: every protoc has them), from the protobuf runtime."""
    out = list(files)
    names = {f.name for f in out}
    for f in out:  # grows while it runs: imports of imports
        for dep in f.dependency:
            if dep in names or not dep.startswith("google/protobuf/"):
                continue
            try:
                found = descriptor_pool.Default().FindFileByName(dep)
            except KeyError:
                continue
            proto = FileProto()
            found.CopyToProto(proto)
            out.append(proto)
            names.add(dep)
    return out


def _sorted_by_dependency(files: Sequence[FileProto]) -> list[FileProto]:
    by_name = {f.name: f for f in files}
    done: dict[str, FileProto] = {}

    def visit(name: str) -> None:
        if name in done or name not in by_name:
            return
        done[name] = by_name[name]  # marks before recursing: an import cycle stops here
        for dep in by_name[name].dependency:
            visit(dep)
        done.pop(name)
        done[name] = by_name[name]

    for f in files:
        visit(f.name)
    return list(done.values())


class _Options:
    """Options messages read with the custom options the file and its dependencies
    define: to the options message alone they are unknown fields."""

    def __init__(self, file: FileProto, dependencies: list[FileProto]) -> None:
        self.files = [*dependencies, file]
        self._pool: descriptor_pool.DescriptorPool | None = None

    def pool(self) -> descriptor_pool.DescriptorPool:
        if self._pool is None:
            pool = descriptor_pool.DescriptorPool()
            own = FileProto()
            descriptor_pb2.DESCRIPTOR.CopyToProto(own)
            pool.Add(own)
            given = _with_well_known([f for f in self.files if f.name != own.name])
            for f in _sorted_by_dependency(given):
                try:
                    pool.Add(f)
                except (TypeError, ValueError):
                    continue  # a file whose imports are missing; its options stay unknown
            self._pool = pool
        return self._pool

    def read(self, options: Message) -> Message:
        """`options` with its custom options known (as a message of the pool)."""
        if len(UnknownFieldSet(options)) == 0:
            return options
        try:
            kind = self.pool().FindMessageTypeByName(options.DESCRIPTOR.full_name)
        except KeyError:
            return options
        known = message_factory.GetMessageClass(kind)()
        known.ParseFromString(options.SerializeToString())
        return known

    def fields(self, options: Message, where: str) -> list[tuple[FieldDescriptor, Any]]:
        known = self.read(options)
        unknown = UnknownFieldSet(known)
        if len(unknown):
            numbers = sorted({unknown[i].field_number for i in range(len(unknown))})
            raise UnrenderableSchema(
                f"{where}: option field(s) {numbers} of {options.DESCRIPTOR.full_name} are "
                "extensions defined in no given file; pass the files that define them"
            )
        return list(known.ListFields())

    def canonicalize(self, message: Message) -> None:
        """Re-encodes, in place, every options message under `message`, without its
        source-retention options; one left empty goes (text cannot say it)."""
        for fd, value in message.ListFields():
            if fd.message_type is None:
                continue
            if fd.message_type.full_name not in _OPTION_TYPES:
                for item in value if fd.is_repeated else [value]:
                    self.canonicalize(item)
                continue
            known = self.read(value)
            for option, _ in known.ListFields():
                if option.GetOptions().retention == _SOURCE_ONLY:
                    if option.is_extension:
                        known.ClearExtension(cast(Any, option))
                    else:
                        known.ClearField(option.name)
            if known is not value:
                value.Clear()
                value.ParseFromString(known.SerializeToString(deterministic=True))
            if value.ByteSize() == 0:
                message.ClearField(fd.name)


class _Renderer:
    def __init__(self, file: FileProto, dependencies: list[FileProto]) -> None:
        self.root = file
        self.known = _Options(file, dependencies)
        self.editions = file.syntax == "editions"
        self.proto3 = file.syntax == "proto3"

    # Options.
    def options(self, options: Message, where: str) -> list[str]:
        """`name = value` for each option set, one per element of a repeated one."""
        out: list[str] = []
        for fd, value in self.known.fields(options, where):
            if fd.name == "uninterpreted_option":
                raise UnrenderableSchema(f"{where}: uninterpreted options")
            name = f"(.{fd.full_name})" if fd.is_extension else fd.name
            values = value if fd.is_repeated else [value]
            out.extend(f"{name} = {self.value(fd, v)}" for v in values)
        return out

    def value(self, fd: FieldDescriptor, value: Any) -> str:
        if fd.type == FieldDescriptor.TYPE_MESSAGE or fd.type == FieldDescriptor.TYPE_GROUP:
            body = text_format.MessageToString(value, as_one_line=True)
            return "{ " + body + " }" if body else "{}"
        if fd.type == FieldDescriptor.TYPE_ENUM and fd.enum_type is not None:
            found = fd.enum_type.values_by_number.get(value)
            return found.name if found is not None else str(value)
        if fd.type == FieldDescriptor.TYPE_BOOL:
            return "true" if value else "false"
        if fd.type == FieldDescriptor.TYPE_STRING:
            return quote(str(value).encode("utf-8"))
        if fd.type == FieldDescriptor.TYPE_BYTES:
            return quote(bytes(value))
        if fd.type in (FieldDescriptor.TYPE_FLOAT, FieldDescriptor.TYPE_DOUBLE):
            return _float(float(value))
        return str(value)

    def option_lines(self, options: Message, where: str) -> list[str]:
        return [f"option {o};" for o in self.options(options, where)]

    # The file.
    def file(self) -> str:
        f = self.root
        where = f.name or "the file"
        head: list[str] = []
        if self.editions:
            head.append(f"edition = {quote(_edition(f).encode())};")
        else:
            head.append(f'syntax = "{"proto3" if self.proto3 else "proto2"}";')
        if f.package:
            head.append(f"package {f.package};")
        sections = [head]
        imports = []
        public, weak = set(f.public_dependency), set(f.weak_dependency)
        for i, dep in enumerate(f.dependency):
            kind = "public " if i in public else "weak " if i in weak else ""
            imports.append(f"import {kind}{quote(dep.encode())};")
        sections.append(imports)
        sections.append(self.option_lines(f.options, where))
        scope = f".{f.package}" if f.package else ""
        for message in f.message_type:
            sections.append(self.message(message, scope))
        for enum in f.enum_type:
            sections.append(self.enum(enum, scope))
        sections.append(self.extends(f.extension, where))
        for service in f.service:
            sections.append(self.service(service, scope))
        return "\n".join("\n".join(s) + "\n" for s in sections if s)

    # Messages.
    def message(self, m: MessageProto, scope: str, keyword: str = "message") -> list[str]:
        full = f"{scope}.{m.name}"
        opening = f"{keyword} {m.name} {{" if keyword == "message" else keyword
        body: list[str] = self.option_lines(m.options, full[1:])
        body += self.message_items(m, full)
        for enum in m.enum_type:
            body += self.enum(enum, full)
        body += self.ranges(m)
        body += self.extends(m.extension, full[1:])
        return [opening, *_indent(body), "}"]

    def message_items(self, m: MessageProto, full: str) -> list[str]:
        """Fields, oneofs and nested messages, in the order that rebuilds both lists."""
        synthetic: dict[int, int] = {}  # nested index -> index of the field declaring it
        nested_index = {f"{full}.{n.name}": i for i, n in enumerate(m.nested_type)}
        for i, field in enumerate(m.field):
            if field.type_name in nested_index and (
                field.type == FieldProto.TYPE_GROUP
                or m.nested_type[nested_index[field.type_name]].options.map_entry
            ):
                synthetic[nested_index[field.type_name]] = i
        self.check_oneofs(m, full)
        out: list[str] = []
        next_field = 0

        def fields_through(last: int) -> None:
            nonlocal next_field
            while next_field <= last:
                field = m.field[next_field]
                if self.in_real_oneof(field):
                    members = [
                        f
                        for f in m.field
                        if f.HasField("oneof_index") and f.oneof_index == field.oneof_index
                    ]
                    out.extend(self.oneof(m, field.oneof_index, members, full))
                    next_field += len(members)
                else:
                    out.extend(self.field(field, m, full, in_oneof=False))
                    next_field += 1

        for i, nested in enumerate(m.nested_type):
            if i in synthetic:
                fields_through(synthetic[i])
            else:
                out.extend(self.message(nested, full))
        fields_through(len(m.field) - 1)
        return out

    def in_real_oneof(self, field: FieldProto) -> bool:
        return field.HasField("oneof_index") and not field.proto3_optional

    def check_oneofs(self, m: MessageProto, full: str) -> None:
        seen: list[int] = []
        previous: int | None = None
        for field in m.field:
            index = field.oneof_index if self.in_real_oneof(field) else None
            if index is not None and index != previous:
                if index in seen:
                    raise UnrenderableSchema(
                        f"{full[1:]}: the fields of oneof {m.oneof_decl[index].name} "
                        "are not declared together"
                    )
                seen.append(index)
            previous = index
        if seen != list(range(len(seen))):
            raise UnrenderableSchema(f"{full[1:]}: oneofs are not in their fields' order")

    def oneof(self, m: MessageProto, index: int, members: list[FieldProto], full: str) -> list[str]:
        decl = m.oneof_decl[index]
        body = self.option_lines(decl.options, f"{full[1:]}.{decl.name}")
        for field in members:
            body += self.field(field, m, full, in_oneof=True)
        return [f"oneof {decl.name} {{", *_indent(body), "}"]

    def field(
        self, field: FieldProto, m: MessageProto | None, full: str, in_oneof: bool
    ) -> list[str]:
        where = f"{full[1:]}.{field.name}" if full else field.name
        nested = None
        if m is not None:
            nested = next((n for n in m.nested_type if f"{full}.{n.name}" == field.type_name), None)
        if nested is not None and nested.options.map_entry:
            key, value = nested.field[0], nested.field[1]
            head = f"map<{self.type_of(key)}, {self.type_of(value)}> {field.name}"
        elif field.type == FieldProto.TYPE_GROUP:
            if nested is None:
                raise UnrenderableSchema(f"{where}: a group extension or a group of another scope")
            if field.name != nested.name.lower():
                raise UnrenderableSchema(f"{where}: a group field not named after its group")
            head = f"{self.label(field, in_oneof)}group {nested.name}"
        else:
            head = f"{self.label(field, in_oneof)}{self.type_of(field)} {field.name}"
        line = f"{head} = {field.number}{self.field_options(field, where)}"
        if field.type == FieldProto.TYPE_GROUP and nested is not None:
            group = self.message(nested, full, keyword=f"{line} {{")
            return group
        return [line + ";"]

    def label(self, field: FieldProto, in_oneof: bool) -> str:
        if field.label == FieldProto.LABEL_REPEATED:
            return "repeated "
        if in_oneof or self.editions:
            return ""
        if field.label == FieldProto.LABEL_REQUIRED:
            return "required "
        if self.proto3:
            return "optional " if field.proto3_optional else ""
        return "optional "

    def type_of(self, field: FieldProto) -> str:
        if field.type in _SCALARS:
            return _SCALARS[field.type]
        return field.type_name

    def field_options(self, field: FieldProto, where: str) -> str:
        parts = []
        if field.HasField("default_value"):
            parts.append(f"default = {_default(field)}")
        if field.HasField("json_name") and field.json_name != _derived_json_name(field):
            parts.append(f"json_name = {quote(field.json_name.encode('utf-8'))}")
        parts += self.options(field.options, where)
        return f" [{', '.join(parts)}]" if parts else ""

    def ranges(self, m: MessageProto) -> list[str]:
        top = _MESSAGE_SET_MAX if m.options.message_set_wire_format else _MESSAGE_MAX
        out = []
        for r in m.extension_range:
            span = _span(r.start, r.end - 1, top)
            options = self.options(r.options, f"{m.name} extensions")
            suffix = f" [{', '.join(options)}]" if options else ""
            out.append(f"extensions {span}{suffix};")
        if m.reserved_range:
            spans = ", ".join(_span(r.start, r.end - 1, top) for r in m.reserved_range)
            out.append(f"reserved {spans};")
        out += self.reserved_names(m.reserved_name)
        return out

    def reserved_names(self, names: Sequence[str]) -> list[str]:
        if not names:
            return []
        if self.editions:  # editions take identifiers, not strings
            return [f"reserved {', '.join(names)};"]
        return [f"reserved {', '.join(quote(n.encode()) for n in names)};"]

    def extends(self, fields: Sequence[FieldProto], where: str) -> list[str]:
        """`extend` blocks, one per run of fields extending the same message."""
        out: list[str] = []
        run: list[FieldProto] = []
        for field in [*fields, None]:
            if run and (field is None or field.extendee != run[0].extendee):
                body: list[str] = []
                for f in run:
                    if f.type == FieldProto.TYPE_GROUP:
                        raise UnrenderableSchema(f"{where}: group extension {f.name}")
                    body += self.field(f, None, "", in_oneof=False)
                out += [f"extend {run[0].extendee} {{", *_indent(body), "}"]
                run = []
            if field is not None:
                run.append(field)
        return out

    # Enums and services.
    def enum(self, e: EnumProto, scope: str) -> list[str]:
        full = f"{scope}.{e.name}"
        body = self.option_lines(e.options, full[1:])
        for v in e.value:
            options = self.options(v.options, f"{full[1:]}.{v.name}")
            suffix = f" [{', '.join(options)}]" if options else ""
            body.append(f"{v.name} = {v.number}{suffix};")
        if e.reserved_range:
            spans = ", ".join(_span(r.start, r.end, _ENUM_MAX) for r in e.reserved_range)
            body.append(f"reserved {spans};")
        body += self.reserved_names(e.reserved_name)
        return [f"enum {e.name} {{", *_indent(body), "}"]

    def service(self, s: descriptor_pb2.ServiceDescriptorProto, scope: str) -> list[str]:
        full = f"{scope}.{s.name}"[1:]
        body = self.option_lines(s.options, full)
        for rpc in s.method:
            request = ("stream " if rpc.client_streaming else "") + rpc.input_type
            response = ("stream " if rpc.server_streaming else "") + rpc.output_type
            head = f"rpc {rpc.name}({request}) returns ({response})"
            options = self.option_lines(rpc.options, f"{full}.{rpc.name}")
            if options:
                body += [f"{head} {{", *_indent(options), "}"]
            else:
                body.append(head + ";")
        return [f"service {s.name} {{", *_indent(body), "}"]


def _indent(lines: Iterable[str]) -> list[str]:
    return [_INDENT + line if line else line for line in lines]


def _span(start: int, last: int, top: int) -> str:
    if start == last:
        return str(start)
    return f"{start} to {'max' if last >= top else last}"


def _float(value: float) -> str:
    if math.isnan(value):
        return "nan"
    if math.isinf(value):
        return "inf" if value > 0 else "-inf"
    return repr(value)


def _default(field: FieldProto) -> str:
    text = field.default_value
    if field.type == FieldProto.TYPE_STRING:
        return quote(text.encode("utf-8"))
    if field.type == FieldProto.TYPE_BYTES:
        return f'"{text}"'  # protoc keeps bytes defaults C-escaped
    return text  # numbers, inf/nan, true/false and enum value names as protoc spells them


def _edition(file: FileProto) -> str:
    name = descriptor_pb2.Edition.Name(file.edition)
    if not name.startswith("EDITION_") or not name[len("EDITION_") :].isdigit():
        raise UnrenderableSchema(f"{file.name}: edition {name} has no .proto spelling")
    return name[len("EDITION_") :]
