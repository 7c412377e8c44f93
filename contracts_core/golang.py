"""Facts about Go that code generation and lint rules share: the identifiers
protoc-gen-go derives from proto names, a file's Go package, and doc comments
in the canonical form gofmt prints.
"""

from __future__ import annotations

import functools
import posixpath
import re
import textwrap
from collections.abc import Iterable
from dataclasses import dataclass

from google.protobuf import descriptor_pb2

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
    lines = [line.rstrip() for line in textwrap.dedent(text.strip("\n")).splitlines()]
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
    """A list as gofmt prints it; a loose list (a blank line anywhere) gets one between items."""
    out: list[str] = []
    for line in span:
        stripped = line.strip()
        bullet, number = _BULLET.match(stripped), _NUMBER.match(stripped)
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
