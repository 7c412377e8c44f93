"""The Jinja2 templates of the templated generators, and the one way to render them.

A workspace may override any template by placing a file of the same relative
name under the folder named by `[tool.contracts] templates`; the rest come from
this package. A template that fails is reported as its file and line.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import jinja2

from contracts_core.errors import GenerationError

BUILTIN_DIR = Path(__file__).resolve().parent


class Templates:
    """Templates by relative name: the override folder's first, then the built-in ones
    (this package's, or another built-in folder such as the scaffolder's)."""

    def __init__(self, override_dir: Path | None = None, builtin_dir: Path = BUILTIN_DIR) -> None:
        search = [str(override_dir)] if override_dir else []
        self._env = jinja2.Environment(
            loader=jinja2.FileSystemLoader([*search, str(builtin_dir)]),
            undefined=jinja2.StrictUndefined,
            trim_blocks=True,
            lstrip_blocks=True,
            keep_trailing_newline=True,
            autoescape=False,
        )

    def render(self, name: str, **context: Any) -> str:
        try:
            return self._env.get_template(name).render(**context)
        except jinja2.TemplateSyntaxError as exc:
            where = f"{exc.filename or name}:{exc.lineno}"
            raise GenerationError(f"{where}: template error: {exc.message}") from None
        except jinja2.TemplateError as exc:
            raise GenerationError(f"{_render_position(name)}: template error: {exc}") from None


def _render_position(name: str) -> str:
    """The template file and line a render-time error came from.

    Jinja2 rewrites tracebacks so that template frames carry the template's
    own file name and line number; the innermost such frame is the culprit.
    """
    position = name
    tb = sys.exc_info()[2]
    while tb is not None:
        filename = tb.tb_frame.f_code.co_filename
        if filename.endswith(".j2"):
            position = f"{filename}:{tb.tb_lineno}"
        tb = tb.tb_next
    return position
