"""The workspace: the directory holding buf.yaml, its modules and our settings.

Every command starts here, so every command works from any folder inside the
repo, or on another tree through --root.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from contracts_core import bufconfig, settings, sources
from contracts_core.bufconfig import BufConfig, Module
from contracts_core.errors import ConfigError, UsageError
from contracts_core.settings import Settings


@dataclass(frozen=True)
class ProtoFile:
    """A .proto source of the workspace: where it is, and its name inside its module."""

    path: str  # workspace-relative, e.g. contracts/fleet/tasks/v1/envelope.proto
    name: str  # module-relative, as imports and images name it
    module: Module


@dataclass(frozen=True)
class Workspace:
    root: Path
    buf: BufConfig
    settings: Settings

    @classmethod
    def discover(cls, start: Path | None = None, root: Path | None = None) -> Workspace:
        """Find the workspace: --root if given, else the nearest buf.yaml above `start`
        (or the buf.work.yaml above it that lists its folder, as buf does)."""
        if root is not None:
            root = root.resolve()
            if not root.is_dir():
                raise UsageError(f"--root {root}: not a directory")
            return cls._open(root, allow_missing_config=True)
        here = (start or Path.cwd()).resolve()
        found: Path | None = None
        for candidate in (here, *here.parents):
            work = next(
                (candidate / n for n in bufconfig.WORK_NAMES if (candidate / n).is_file()), None
            )
            if work is not None and (found is None or _lists(work, candidate, found)):
                return cls._open(candidate, allow_missing_config=False)
            if found is None and any((candidate / n).is_file() for n in bufconfig.CONFIG_NAMES):
                found = candidate
        if found is not None:
            return cls._open(found, allow_missing_config=False)
        raise UsageError(
            f"no buf.yaml found in {here} or any parent directory; run inside a contracts "
            "workspace or pass --root DIR"
        )

    @classmethod
    def _open(cls, root: Path, allow_missing_config: bool) -> Workspace:
        if bufconfig.find(root) is None and not allow_missing_config:
            raise UsageError(f"{root}: no buf.yaml")
        buf = bufconfig.load_dir(root)
        return cls(root=root, buf=buf, settings=settings.load(root / "pyproject.toml"))

    def proto_files(self) -> list[ProtoFile]:
        """Every .proto file of every module, sorted, skipping excluded dirs.

        Hidden directories count: buf compiles them too, and the image cache key
        must cover every file that buf reads.
        """
        found: list[ProtoFile] = []
        for module in self.buf.modules:
            base = self.root / module.path
            if not base.is_dir():
                raise ConfigError(
                    f"{self.buf.where('path', module.path)}: module path {module.path!r} "
                    "is not a directory"
                )
            for rel in sources.proto_paths(self.root, module.path, module.excludes):
                found.append(ProtoFile(rel, module.to_module_relative(rel), module))
        found.sort(key=lambda f: f.path)
        return found

    def module_of(self, name: str) -> Module | None:
        """The module a module-relative file name resolves to, if it is one of ours."""
        for module in self.buf.modules:
            if (self.root / module.to_workspace_relative(name)).is_file():
                return module
        return None

    @property
    def cache_dir(self) -> Path:
        """<root>/.contracts-cache, made (with a .gitignore of `*`) on first use."""
        return sources.cache_dir(self.root)


def _lists(work: Path, root: Path, module_dir: Path) -> bool:
    """Whether a buf.work.yaml at root lists module_dir among its directories."""
    rel = module_dir.relative_to(root).as_posix()
    return rel in bufconfig.work_directories(work, root)
