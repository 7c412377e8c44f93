"""Proto file names the Python target can make modules of, and a last check that it did.

protoc names a file's module after its path (`a/b-c.proto` becomes `a.b_c_pb2`,
only `-` replaced) and writes `import a.b_c_pb2` into other modules and into
the gRPC stubs. A space, a dot or a non-ASCII letter there (non-ASCII names
also depend on how the file system normalises them, and Python imports them
in NFKC) gives modules that cannot be imported or stubs that do not parse.
Such names are refused before anything is generated, and every generated
module must parse before it may be swapped in.
"""

from __future__ import annotations

import ast
import keyword
import re
from pathlib import Path

from contracts_core.errors import GenerationError
from contracts_core.image import Image

_IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


def module_name(proto: str) -> str:
    """The Python module protoc makes of a proto file name."""
    return proto.removesuffix(".proto").replace("-", "_").replace("/", ".")


def check_names(image: Image) -> None:
    """Refuse a file whose module name is not a dotted path of plain identifiers."""
    for file in image.target_files():
        # Per path component: a dot inside a folder name is no package boundary.
        parts = file.name.removesuffix(".proto").replace("-", "_").split("/")
        for i, part in enumerate(parts):
            # The last part gets `_pb2` appended, so a keyword there is fine.
            if _IDENTIFIER.fullmatch(part) and (i == len(parts) - 1 or not keyword.iskeyword(part)):
                continue
            raise GenerationError(
                f"{image.workspace_path(file.name)}: the python target cannot make a module "
                f"of this file: {part!r} is not a Python identifier of ASCII letters, digits "
                "and underscores (protoc would write `import "
                f"{module_name(file.name)}_pb2`); rename the file or folder, or generate "
                "only the other targets (--target go --target jsonschema)"
            )


def check_syntax(out: Path) -> None:
    """Every generated module must parse; never swap in one that does not. (The
    `.pyi` stubs, most of the bytes, are left to the name check: parsing costs
    about 0.1 ms per KiB.)"""
    for path in sorted(out.rglob("*.py")):
        try:
            ast.parse(path.read_bytes(), filename=path.name)
        except (SyntaxError, ValueError) as exc:
            rel = path.relative_to(out).as_posix()
            raise GenerationError(
                f"the python target wrote generated/python/{rel}, which is not valid Python "
                f"({exc}); nothing was written"
            ) from None
