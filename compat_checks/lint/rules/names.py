"""Names that break the generated Go or Python code.

Every collision below was reproduced on real generated code before it became a
check: images from buf 1.75, Python from grpcio-tools 1.85 (`--python_out`,
`--pyi_out`, `--grpc_python_out`) run on protobuf 7.36 with both the upb and the
pure-Python runtime, Go from protoc-gen-go 1.36 compiled with `go build`. Names
that only look risky (oneof names in Python, soft keywords such as `match`,
`_sym_db`-style module helpers that nothing reads after the names are bound)
were tried too and are deliberately not flagged.
"""

from __future__ import annotations

import keyword
import posixpath
from dataclasses import dataclass

from compat_checks.lint.context import LintContext
from compat_checks.lint.registry import Verdict, rule
from compat_checks.lint.rules._common import (
    PY_MESSAGE_ATTRS,
    field_number_constant,
    go_camel_case,
    in_map_entry,
    per_run,
)
from contracts_core.descriptors import Element, Kind, Location, option_location
from contracts_core.findings import Severity
from contracts_core.golang import GO_KEYWORDS

# Hard keywords only: `match`, `case`, `type` and `_` are soft keywords and work as names.
PY_KEYWORDS = frozenset(keyword.kwlist)

# Globals a generated _pb2 module still reads after it has bound the file's
# top-level messages, enums and enum values into its own namespace. A top-level
# name equal to one of these replaces it:
PY_MODULE_GLOBALS = {
    # `x_pb2.DESCRIPTOR` (used by importers, gRPC reflection) becomes the new
    # object; under the pure-Python runtime the module then fails to import.
    "DESCRIPTOR": "replaces the module's FileDescriptor `DESCRIPTOR` (what gRPC "
    "reflection and importers read), and under the pure-Python runtime the module "
    "fails to import",
    # Read by the pure-Python branch after the build: TypeError on import.
    "_globals": "replaces the module's `_globals` namespace, so the module fails to "
    "import under the pure-Python runtime",
    # `_descriptor._USE_C_DESCRIPTORS` is read after the build: import fails everywhere.
    "_descriptor": "replaces the module's `_descriptor` import, so the module fails to "
    "import (AttributeError) under every runtime",
}

# protoc-gen-go: methods generated on every message. A field or oneof whose Go
# name equals one of the first group is renamed with a trailing `_`; the Go
# struct field of one named `proto_reflect` collides with the ProtoReflect()
# method, which protoc-gen-go does not guard against, so the package fails to build.
GO_RENAMED_METHODS = frozenset(
    {
        "Reset",
        "String",
        "ProtoMessage",
        "Marshal",
        "Unmarshal",
        "ExtensionRangeArray",
        "ExtensionMap",
        "Descriptor",
    }
)
GO_UNGUARDED_METHOD = "ProtoReflect"

# fmt: off
# go/types Universe: a package of that name shadows the builtin in every importing file.
GO_PREDECLARED = frozenset([
    "any", "append", "bool", "byte", "cap", "clear", "close", "comparable", "complex",
    "complex128", "complex64", "copy", "delete", "error", "false", "float32", "float64",
    "imag", "int", "int16", "int32", "int64", "int8", "iota", "len", "make", "max", "min",
    "new", "nil", "panic", "print", "println", "real", "recover", "rune", "string", "true",
    "uint", "uint16", "uint32", "uint64", "uint8", "uintptr",
])
# fmt: on

_GO_PACKAGE_OPTION = 11  # FileOptions.go_package


@rule(
    "NAME_RESERVED_WORD",
    (
        Kind.FILE,
        Kind.MESSAGE,
        Kind.FIELD,
        Kind.ONEOF,
        Kind.ENUM,
        Kind.ENUM_VALUE,
        Kind.SERVICE,
        Kind.METHOD,
    ),
    severity=Severity.ERROR,
    rationale="A name that is a Python keyword, a generated Python attribute or a generated "
    "Go identifier makes the generated code fail to import or build, or silently renames "
    "or hides an accessor.",
    fix="Rename the element (e.g. `class` -> `class_name`, `descriptor` -> `descriptor_text`, "
    "go_package `;type` -> `;typev1`); adding a word is enough.",
)
def name_reserved_word(element: Element, ctx: LintContext) -> Verdict:
    if in_map_entry(element):  # key/value/XEntry are fixed names protoc chose
        return None
    if element.kind is Kind.FILE:
        return _file_names(element)
    problems = _python_name(element) + _go_name(element, ctx)
    if not problems:
        return None
    return f"{_what(element)} `{element.full_name}`: " + "; ".join(problems)


def _what(element: Element) -> str:
    return element.kind.value.replace("_", " ")


def _python_name(element: Element) -> list[str]:
    name, kind = element.name, element.kind
    out: list[str] = []
    if kind is Kind.ONEOF:  # Python only names oneofs in strings (WhichOneof("x"))
        return out
    if name in PY_KEYWORDS:
        out.append(_keyword_problem(element))
    if kind is Kind.FIELD:
        if name == "DESCRIPTOR":
            out.append(
                "`DESCRIPTOR` is the descriptor of every Python message: under upb "
                "`msg.DESCRIPTOR` returns the field value, so json_format and reflection "
                "fail on the message, and the pure-Python runtime fails to import the module"
            )
        elif name in PY_MESSAGE_ATTRS:
            use = f"msg.{name}[...]" if name == "Extensions" else f"msg.{name}(...)"
            out.append(
                f"`{name}` is an attribute of every Python message, so the field and the "
                f"message API share `msg.{name}` and one hides the other (under upb the "
                f"field wins and `{use}` raises TypeError)"
            )
        if name == "self":
            out.append(
                "`self` is the first parameter of the Python message constructor: "
                "`Msg(self=...)` raises TypeError under the pure-Python runtime"
            )
    if kind in (Kind.MESSAGE, Kind.ENUM):
        parent = element.parent
        if parent is not None and parent.kind is Kind.FILE and name in PY_MODULE_GLOBALS:
            out.append(f"as a top-level name of the _pb2 module it {PY_MODULE_GLOBALS[name]}")
        if parent is not None and parent.kind is Kind.MESSAGE:
            constants = {field_number_constant(f.name) for f in parent.proto.field}
            if name in PY_MESSAGE_ATTRS:
                out.append(
                    f"Python nests it as `{parent.name}.{name}`, which is already an "
                    "attribute of every message class: one of the two becomes unreachable"
                    + (
                        f" (under upb `msg.{name}()` then builds a `{name}` instead)"
                        if kind is Kind.MESSAGE and name != "DESCRIPTOR"
                        else ""
                    )
                )
            elif name in constants:
                out.append(
                    f"Python nests it as `{parent.name}.{name}`, which is already the "
                    "field-number constant of a field: one of the two becomes unreachable"
                )
    return out


def _keyword_problem(element: Element) -> str:
    name = element.name
    if element.kind in (Kind.SERVICE, Kind.METHOD):
        return (
            f"`{name}` is a Python keyword: the generated _pb2_grpc.py module defines a "
            f"class or method named `{name}` and fails to import with SyntaxError"
        )
    if element.kind is Kind.FIELD:
        return (
            f"`{name}` is a Python keyword: `msg.{name}` and `Msg({name}=...)` are "
            "SyntaxErrors, so Python code can only use the field through getattr/setattr "
            "and the generated .pyi stub leaves it out"
        )
    return (
        f"`{name}` is a Python keyword: `module.{name}` is a SyntaxError, so Python code "
        "can only reach it with getattr, and the stub from protoc's --pyi_out declares it "
        "by name and does not parse"
    )


# -- Go field and oneof names ------------------------------------------------


@dataclass(frozen=True)
class _GoMessage:
    """protoc-gen-go's names for one message's fields and oneofs."""

    fields: dict[int, str]  # field index -> Go name after conflict resolution
    oneofs: dict[int, str]  # oneof index -> Go name after conflict resolution
    synthetic: frozenset[int]  # oneof indexes of proto3 `optional` fields


def _go_message(message: Element, ctx: LintContext) -> _GoMessage:
    def compute(_: LintContext) -> _GoMessage:
        proto = message.proto
        # Every generated method name is taken; each field takes its name and its
        # getter's, each oneof only its name; a taken name gets `_` appended.
        used: dict[str, bool] = dict.fromkeys(GO_RENAMED_METHODS, True)

        def unique(name: str, getter: bool) -> str:
            while used.get(name, False) or (getter and used.get("Get" + name, False)):
                name += "_"
            used[name] = True
            used["Get" + name] = getter
            return name

        fields: dict[int, str] = {}
        oneofs: dict[int, str] = {}
        for i, field in enumerate(proto.field):
            fields[i] = unique(go_camel_case(field.name), True)
            if field.HasField("oneof_index") and field.oneof_index not in oneofs:
                index = field.oneof_index
                oneofs[index] = unique(go_camel_case(proto.oneof_decl[index].name), False)
        synthetic = frozenset(
            f.oneof_index for f in proto.field if f.HasField("oneof_index") and f.proto3_optional
        )
        return _GoMessage(fields, oneofs, synthetic)

    return per_run(ctx, f"go_message:{message.full_name}", compute)


def _go_type(element: Element) -> str:
    chain = [element, *element.ancestors()]
    return "_".join(go_camel_case(e.name) for e in reversed(chain) if e.kind is Kind.MESSAGE)


def _go_name(element: Element, ctx: LintContext) -> list[str]:
    message = element.parent
    if element.kind not in (Kind.FIELD, Kind.ONEOF) or message is None:
        return []
    go = _go_message(message, ctx)
    index = element.path[-1]
    wanted = go_camel_case(element.name)
    out: list[str] = []
    if element.kind is Kind.ONEOF:
        if index in go.synthetic:
            return []
        got = go.oneofs[index]
    else:
        got = go.fields[index]
    struct = _go_type(message)
    if got == GO_UNGUARDED_METHOD:
        out.append(
            f"its Go struct field `{struct}.{got}` has the name of the generated "
            f"`{got}()` method, so the Go package does not compile"
        )
    elif got != wanted:
        out.append(
            f"protoc-gen-go renames its Go field `{wanted}` to `{got}` because "
            f"{_go_taken_by(element, wanted)}; the Go name then depends on field order"
        )
    if element.kind is Kind.FIELD:
        for oneof_index, oneof_name in go.oneofs.items():
            if oneof_index not in go.synthetic and got == "Get" + oneof_name:
                out.append(
                    f"its Go struct field `{struct}.{got}` has the name of the getter "
                    f"`{got}()` of oneof `{message.proto.oneof_decl[oneof_index].name}`, "
                    "so the Go package does not compile"
                )
        # A oneof member named like a nested type gets its wrapper renamed to
        # `M_Name_`. That name is fixed (it does not depend on field order) and the
        # package builds; on public trees it is a deliberate, common pattern (a oneof
        # of nested messages named after their fields), so it is not flagged.
    return out


def _go_taken_by(element: Element, wanted: str) -> str:
    if wanted in GO_RENAMED_METHODS:
        return f"every generated message has a `{wanted}()` method"
    assert element.parent is not None
    siblings = [f.name for f in element.parent.proto.field if f.name != element.name]
    for other in siblings:
        if "Get" + go_camel_case(other) == wanted:
            return f"field `{other}` already has the getter `{wanted}()`"
        if go_camel_case(other) == "Get" + wanted:
            return f"field `{other}` is the Go field `Get{wanted}`, the name of this field's getter"
    return "another generated name already uses it"


# -- Files: Python module path and Go package name ------------------------------


def _file_names(element: Element) -> Verdict:
    file = element.file
    problems: list[str] = []
    where: Location | None = None
    for part in posixpath.dirname(file.name).split("/"):
        if part and (part in PY_KEYWORDS or not part.isidentifier()):
            module = file.name.removesuffix(".proto").replace("/", ".") + "_pb2"
            problems.append(
                f"directory `{part}` is {'a Python keyword' if part in PY_KEYWORDS else 'not a Python identifier'}: "
                f"`import {module}` is a SyntaxError, so Python code can only load the "
                "generated module through importlib"
            )
            break
    if file.options.HasField("go_package"):
        go_package = file.options.go_package
        path, _, explicit = go_package.partition(";")
        name = explicit or posixpath.basename(path)
        if name in GO_KEYWORDS:
            consequence = (
                f"protoc-gen-go fails on it (`package {name}` is not valid Go)"
                if explicit
                else f"protoc-gen-go renames the package to `_{name}`, which every importer must use"
            )
            problems.append(
                f'go_package "{go_package}" makes the Go package name the keyword `{name}`: {consequence}'
            )
        elif name in GO_PREDECLARED:
            problems.append(
                f'go_package "{go_package}" makes the Go package name `{name}`, a predeclared '
                f"Go identifier: every Go file that imports it without an alias loses the "
                f"builtin `{name}`"
            )
        if name in GO_KEYWORDS or name in GO_PREDECLARED:
            where = option_location(element, _GO_PACKAGE_OPTION)
    if not problems:
        return None
    message = f"file `{file.name}`: " + "; ".join(problems)
    return (message, where) if where is not None else message


# -- Enum values in Python's scopes -------------------------------------------

_FIELD_NUMBER = "_FIELD_NUMBER"

# The enum wrapper's own API: `Color.Name` stays the method, so a value of that
# name is only reachable at module (or containing class) level, while the .pyi
# stub declares `Color.Name` to be the value.
PY_ENUM_WRAPPER_ATTRS = frozenset(
    {"Name", "Value", "keys", "values", "items", "ValueType", "DESCRIPTOR"}
)


@rule(
    "ENUM_VALUE_PYTHON_SCOPE",
    Kind.ENUM_VALUE,
    severity=Severity.ERROR,
    rationale="Python puts enum values next to the _pb2 module's globals (top-level enums) or "
    "the message class's attributes (nested enums), and behind the enum wrapper's methods; "
    "a shared name breaks the import or hides a method or the value.",
    fix="Prefix the value with its enum's name in UPPER_SNAKE_CASE (e.g. `COLOR_KEYS`), "
    "as buf's ENUM_VALUE_PREFIX asks.",
)
def enum_value_python_scope(element: Element, ctx: LintContext) -> str | None:
    enum = element.parent
    scope = enum.parent if enum is not None else None
    if enum is None or scope is None:
        return None
    name = element.name
    problems: list[str] = []
    if scope.kind is Kind.FILE and name in PY_MODULE_GLOBALS:
        problems.append(
            "values of a top-level enum are globals of the _pb2 module, and this one "
            + PY_MODULE_GLOBALS[name]
        )
    if scope.kind is Kind.MESSAGE:
        constants = {field_number_constant(f.name): f.name for f in scope.proto.field}
        if name == "DESCRIPTOR":
            problems.append(
                "values of a nested enum are attributes of the message class, and "
                f"`{scope.name}.DESCRIPTOR` is the message's descriptor: the pure-Python "
                "runtime fails to import the module, and under upb the value is unreachable"
            )
        elif name in PY_MESSAGE_ATTRS:
            problems.append(
                "values of a nested enum are attributes of the message class, and "
                f"`{scope.name}.{name}` is an attribute of every message: one hides the other "
                "(under upb the value is unreachable; under the pure-Python runtime a value "
                "named after an inherited method such as CopyFrom replaces it, and "
                "`msg.CopyFrom(...)` raises TypeError)"
            )
        elif name in constants:
            problems.append(
                "values of a nested enum are attributes of the message class, and "
                f"`{scope.name}.{name}` is already the field-number constant of field "
                f"`{constants[name]}`: `{scope.name}.{name}` is not this value"
            )
        elif name.endswith(_FIELD_NUMBER) and len(name) > len(_FIELD_NUMBER):
            problems.append(
                "values of a nested enum are attributes of the message class, and upb "
                f"resolves every `*{_FIELD_NUMBER}` class attribute as a field-number "
                f"constant: `{scope.name}.{name}` raises AttributeError under upb"
            )
    if name in PY_ENUM_WRAPPER_ATTRS:
        problems.append(
            f"`{enum.name}.{name}` is the enum wrapper's own `{name}`, not this value, "
            "although the generated .pyi stub says it is"
        )
    if not problems:
        return None
    return f"enum value `{element.full_name}` of `{enum.name}`: " + "; ".join(problems)
