"""Naming the option that makes mypy-protobuf fail.

mypy-protobuf reads field options numbered 1151-1154 on FieldOptions as its
own (`(mypy_protobuf.casttype)` and friends) whatever extension a tree really
declares under those numbers; a string option such as `(acme.label) =
"display name"` then fails an assertion deep in the plugin, which says
nothing about which file or option did it. The image knows both.
"""

from __future__ import annotations

from collections.abc import Iterator

from google.protobuf import descriptor_pb2, unknown_fields

from contracts_core.image import Image

# mypy_protobuf/extensions.proto: casttype, keytype, valuetype, options.
NUMBERS = {1151: "casttype", 1152: "keytype", 1153: "valuetype", 1154: "options"}
_OWN_FILE = "mypy_protobuf/extensions.proto"
_FIELD_OPTIONS = ".google.protobuf.FieldOptions"


def _fields(
    scope: str, messages: list[descriptor_pb2.DescriptorProto]
) -> Iterator[tuple[str, descriptor_pb2.FieldDescriptorProto]]:
    for message in messages:
        name = f"{scope}.{message.name}" if scope else message.name
        for field in message.field:
            yield f"{name}.{field.name}", field
        yield from _fields(name, list(message.nested_type))


def _extensions(image: Image) -> dict[int, tuple[str, str]]:
    """Extensions of FieldOptions under mypy-protobuf's numbers: number -> (name, file)."""
    found: dict[int, tuple[str, str]] = {}

    def visit(file: str, scope: str, exts: list[descriptor_pb2.FieldDescriptorProto]) -> None:
        for ext in exts:
            if ext.extendee == _FIELD_OPTIONS and ext.number in NUMBERS:
                found[ext.number] = (f"{scope}.{ext.name}" if scope else ext.name, file)

    for file in image.descriptor_set.file:
        if file.name == _OWN_FILE:
            continue
        visit(file.name, file.package, list(file.extension))
        stack = [(file.package, m) for m in file.message_type]
        while stack:
            scope, message = stack.pop()
            name = f"{scope}.{message.name}" if scope else message.name
            visit(file.name, name, list(message.extension))
            stack += [(name, m) for m in message.nested_type]
    return found


def explain(image: Image) -> str | None:
    """What in the image clashes with mypy-protobuf's own options, or None."""
    declared = _extensions(image)
    if not declared:
        return None
    for file in image.target_files():
        for name, field in _fields(file.package, list(file.message_type)):
            unknown = unknown_fields.UnknownFieldSet(field.options)
            used = {unknown[i].field_number for i in range(len(unknown))}
            for number in sorted(used & declared.keys()):
                option, where = declared[number]
                declared_in = image.workspace_path(where)
                return (
                    f"{image.workspace_path(file.name)}: field {name} sets option ({option}), "
                    f"number {number} on google.protobuf.FieldOptions (declared in "
                    f"{declared_in}), which mypy-protobuf reads as its own "
                    f"(mypy_protobuf.{NUMBERS[number]}) and fails on; give that extension a "
                    "number outside 1151-1154"
                )
    return None
