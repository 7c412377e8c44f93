"""What a rule may ask about the rest of the image beyond its own element."""

from __future__ import annotations

import fnmatch
import functools

from contracts_core.descriptors import Element, Kind, Model
from contracts_core.golang import effective_go_packages
from contracts_core.settings import GoPackageSettings, LintSettings


class LintContext:
    """An index over the image's files, built once per lint run."""

    def __init__(
        self,
        model: Model,
        settings: LintSettings,
        go_module: str | None = None,
        go_packages: GoPackageSettings | None = None,
    ) -> None:
        self.settings = settings
        # [tool.contracts] go_module: the Go module generated code lives in, if set.
        self.go_module = go_module
        self.model = model
        # Each file's go_package as gen uses it: its option or [tool.contracts]'s.
        self.go_packages = effective_go_packages(
            list(model.files.values()), go_packages or GoPackageSettings()
        )
        self.elements: list[Element] = list(model.all_elements())

    def resolve(self, type_name: str) -> Element | None:
        """The message or enum a field's type_name refers to, if it is in the image."""
        return self.model.resolve(type_name)

    @functools.cache  # noqa: B019 - the context lives for one run
    def in_package(self, package: str, kind: Kind) -> tuple[Element, ...]:
        return tuple(e for e in self.elements if e.package == package and e.kind is kind)

    def travels_as_json(self, package: str) -> bool:
        patterns = self.settings.json_packages
        if patterns is None:
            return True
        return any(fnmatch.fnmatchcase(package, p) for p in patterns)
