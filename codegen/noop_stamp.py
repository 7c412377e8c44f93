"""The no-op stamp: answering an unchanged `contracts gen` with the standard library.

Why this exists: a `contracts gen` that finds nothing to do spent ~0.2 s
importing click, protobuf, yaml and importlib.metadata just to learn that,
longer than `buf generate` takes to do real work. The console script
(`contracts_cli.entry`) asks `answer()` first; it imports only os, sys, json, hashlib
and pathlib, recomputes a fingerprint of everything generation depends on, and
compares it with the stamp the full path wrote after its last successful run.

`fingerprint` is the one definition of what generated output depends on:
the full path keys its per-target cache (gen/cache.py) on the same digest.

The full path writes the stamp (`take_snapshot` before it compiles, `record`
after it succeeds). A stamp is only a claim about the files it hashed, so:

- every input is hashed by content here, not trusted by name or mtime: the
  .proto files (discovered as `Workspace.proto_files` does, so a new or deleted
  file changes the hash), buf's config files, pyproject.toml, every source file
  of the `codegen` and `contracts_core` packages (generators, templates, the
  Go doc-comment printer, the tool pins), a [tool.contracts] templates override
  folder, and each generated/<target> tree;
- tools are identified by the path they resolve to now (env override, venv,
  PATH) and that file's stat; the interpreter by its path and version; the
  installed distributions (grpcio-tools, protobuf, mypy-protobuf, ...) by
  the .dist-info names on sys.path, which carry their versions (protobuf and
  grpcio's are written into generated/python/pyproject.toml);
- the snapshot is taken before the full path reads its inputs for generation,
  so an edit made during a run leaves a stamp that no longer matches;
- the stamp is written only when this module's own recomputation agrees with
  the full path's (image digest, settings text, tool lookup);
- it answers only while no other run holds the workspace's gen lock and no
  killed run's staging folder waits in generated/ (gen/swap.py finishes it).

Anything unexpected, missing or unreadable means "not provably fresh": the
caller falls through to the full path, which is always right.
"""

from __future__ import annotations

import hashlib
import json
import os
import sys
from pathlib import Path

from contracts_core import sources

# typing costs milliseconds to import, and this module exists to save them.
TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable

    from contracts_core.workspace import Workspace

FORMAT = 2
STAMP_NAME = "noop-stamp.json"
LOCK_NAME = "lock"
# gen/swap.py's staging folders in generated/: while one exists, a run must finish it.
STAGING_PREFIX = ".gen-"
# Workspace discovery looks for these (bufconfig.CONFIG_NAMES).
CONFIG_NAMES = ("buf.yaml", "buf.yml")
# The toolchain code generation runs: the generators and the core they import.
PACKAGE_DIRS = (Path(__file__).resolve().parent, Path(sources.__file__).resolve().parent)
# python_target runs protoc-gen-mypy_grpc from beside the protoc-gen-mypy it finds.
_SIBLINGS = {"protoc-gen-mypy": ["protoc-gen-mypy_grpc"]}

# JSON as parsed: checked with isinstance before use.
Json = object
Recipe = dict[str, object]


class Stale(Exception):
    """Something the stamp cannot vouch for: take the full path."""


# --- layout shared with the full path --------------------------------------------


def gen_cache_dir(root: Path) -> Path:
    # Workspace.cache_dir / "gen"; workspace.py imports yaml, so it is spelled out here.
    return root / sources.CACHE_DIR_NAME / "gen"


def cache_stamp_path(root: Path, target: str) -> Path:
    """Where gen/cache.py keeps a target's key and tree digest."""
    return gen_cache_dir(root) / f"{target}.json"


def stamp_path(root: Path) -> Path:
    return gen_cache_dir(root) / STAMP_NAME


def lock_path(root: Path) -> Path:
    """The file gen/lock.py flocks: one `contracts gen` at a time per workspace."""
    return gen_cache_dir(root) / LOCK_NAME


# --- the inputs fingerprint ------------------------------------------------------


def proto_paths(root: Path, modules: list[tuple[str, list[str]]]) -> list[str]:
    """Workspace.proto_files' paths: every module walked, excludes skipped, sorted."""
    found: list[str] = []
    for module, excludes in modules:
        if not (root / module).is_dir():
            raise Stale(f"module {module} is not a directory")
        found += sources.proto_paths(root, module, excludes)
    found.sort()
    return found


def _image_digest(root: Path, modules: list[tuple[str, list[str]]], buf_pin: str) -> str:
    """image.content_digest's key, from the same function."""
    paths = proto_paths(root, modules)
    if not paths:
        raise Stale("no .proto files")  # compile_workspace refuses this
    return sources.image_inputs_digest(root, buf_pin, paths)


def which(name: str) -> str | None:
    """shutil.which(name) on POSIX; shutil costs milliseconds to import."""
    path = os.environ.get("PATH")
    if path is None:
        try:
            path = os.confstr("CS_PATH")
        except (AttributeError, ValueError):
            path = os.defpath
    if not path:
        return None
    seen: set[str] = set()
    for directory in os.fsdecode(path).split(os.pathsep):
        if directory in seen:
            continue
        seen.add(directory)
        candidate = os.path.join(directory, name)
        if (
            os.path.exists(candidate)
            and os.access(candidate, os.F_OK | os.X_OK)
            and not os.path.isdir(candidate)
        ):
            return candidate
    return None


def resolve_tool(name: str, env: str | None, venv_first: bool) -> Path | None:
    """The binary tools.probe would pick: env override, else the venv's bin, else PATH."""
    override = os.environ.get(env) if env else None
    candidates: list[Path] = []
    if override:
        candidates.append(Path(override))
    else:
        if venv_first:
            candidates.append(Path(sys.executable).parent / name)
        on_path = which(name)
        if on_path:
            candidates.append(Path(on_path))
    for candidate in candidates:
        if candidate.is_file() and os.access(candidate, os.X_OK):
            return candidate
    return None


def _file_identity(path: Path | None) -> str:
    if path is None:
        return "missing"
    real = os.path.realpath(path)
    try:
        st = os.stat(real)
    except OSError:
        return f"{path}\0unreadable"
    return f"{path}\0{real}\0{st.st_size}\0{st.st_mtime_ns}\0{st.st_ino}\0{st.st_dev}\0{st.st_mode}"


def _tools_part(tools: Json) -> str:
    if not isinstance(tools, list):
        raise Stale("bad tools")
    parts = []
    for spec in tools:
        match spec:
            case [str(name), str() | None as env, bool(venv_first), list(siblings)]:
                found = resolve_tool(name, env, venv_first)
                override = os.environ.get(env) if env else None
                parts.append(f"{name}\0{override!r}\0{_file_identity(found)}")
                for sibling in siblings:
                    if not isinstance(sibling, str):
                        raise Stale("bad sibling")
                    parts.append(_file_identity(found and found.with_name(sibling)))
            case _:
                raise Stale("bad tool spec")
    return "\n".join(parts)


def _environment_part() -> str:
    """The interpreter, and every installed distribution (name and version) it can see."""
    # The real interpreter, not the alias it was started as (python, python3):
    # the venv itself is sys.prefix, and its tools are identified one by one.
    parts = [os.path.realpath(sys.executable), sys.version, sys.prefix, json.dumps(sys.path)]
    for entry in sys.path:
        try:
            names = os.listdir(entry or ".")
        except OSError:
            continue
        dists = sorted(n for n in names if n.endswith((".dist-info", ".egg-info")))
        parts.append(entry + "\0" + "\0".join(dists))
    return "\n".join(parts)


def _modules(recipe: Recipe) -> list[tuple[str, list[str]]]:
    raw = recipe.get("modules")
    if not isinstance(raw, list):
        raise Stale("bad modules")
    out = []
    for item in raw:
        match item:
            case [str(path), list(excludes)] if all(isinstance(e, str) for e in excludes):
                out.append((path, [str(e) for e in excludes]))
            case _:
                raise Stale("bad module")
    return out


class Fingerprint:
    """The inputs' hash, and the parts the full path cross-checks before stamping."""

    def __init__(self, digest: str, image_digest: str, pyproject: bytes | None) -> None:
        self.digest = digest
        self.image_digest = image_digest
        self.pyproject = pyproject


def fingerprint(root: Path, recipe: Recipe) -> Fingerprint:
    """Hash everything generated output depends on, as the recipe says where to look.

    The one definition of "fresh": the fast path compares it with the stamp, and
    the full path keys gen/cache.py on it.
    """
    buf_pin = recipe.get("buf_pin")
    templates = recipe.get("templates")
    if not isinstance(buf_pin, str) or not (templates is None or isinstance(templates, str)):
        raise Stale("bad recipe")
    image_digest = _image_digest(root, _modules(recipe), buf_pin)
    pyproject_file = root / "pyproject.toml"
    pyproject = sources.read_bytes(pyproject_file) if pyproject_file.is_file() else None
    h = hashlib.sha256()
    h.update(f"format={FORMAT}\0".encode())
    h.update(json.dumps(recipe, sort_keys=True).encode() + b"\0")
    h.update(f"image={image_digest}\0".encode())
    h.update(b"pyproject\0" + (b"missing" if pyproject is None else b"=" + pyproject) + b"\0")
    for folder in PACKAGE_DIRS:
        h.update(f"package={sources.sources_digest(folder)}\0".encode())
    if templates is not None:
        # settings._templates resolves the folder against the workspace root.
        folder = (root / templates).resolve()
        if not folder.is_dir():
            raise Stale("templates folder missing")
        h.update(f"templates={folder}\0{sources.sources_digest(folder, False)}\0".encode())
    h.update(b"tools\0" + _tools_part(recipe.get("tools")).encode() + b"\0")
    h.update(b"environment\0" + _environment_part().encode())
    return Fingerprint(h.hexdigest(), image_digest, pyproject)


# --- the fast path ------------------------------------------------------------------


def parse_gen_args(args: list[str]) -> tuple[str | None, list[str], bool] | None:
    """`gen [--root X] [--target T]... [--check]` as click would read it; None otherwise."""
    if not args or args[0] != "gen":
        return None
    root: str | None = None
    targets: list[str] = []
    check = False
    rest = args[1:]
    i = 0
    while i < len(rest):
        arg = rest[i]
        name, eq, value = arg.partition("=")
        if name in ("--root", "--target"):
            if not eq:
                i += 1
                if i == len(rest):
                    return None
                value = rest[i]
            # Odd values are click's to judge (and report).
            if not value or value.startswith("-"):
                return None
            if name == "--target":
                targets.append(value)
            elif root is not None:
                return None
            else:
                root = value
        elif arg == "--check" and not check:
            check = True
        else:
            return None
        i += 1
    return root, targets, check


def discover_root(root_arg: str | None) -> Path:
    """Workspace.discover's root: --root resolved, else the nearest buf.yaml above cwd."""
    if root_arg is not None:
        root = Path(root_arg).resolve()
        if not root.is_dir():
            raise Stale("--root is not a directory")
        return root
    here = Path.cwd().resolve()
    for candidate in (here, *here.parents):
        if any((candidate / n).is_file() for n in CONFIG_NAMES):
            return candidate
    raise Stale("no workspace")


def _load_stamp(root: Path) -> dict[str, object]:
    stamp = json.loads(sources.read_bytes(stamp_path(root)))
    if not isinstance(stamp, dict) or stamp.get("format") != FORMAT:
        raise Stale("no stamp of this format")
    return stamp


def _entry_fresh(root: Path, target: str, entry: Json, inputs: str) -> bool:
    if not isinstance(entry, dict) or entry.get("inputs") != inputs:
        return False
    recorded = entry.get("cache_stamp")
    # gen/cache.py must still hold exactly the stamp it held when we vouched for it,
    # and the committed tree must still be the one that stamp describes.
    current = sources.read_bytes(cache_stamp_path(root, target)).decode()
    if not isinstance(recorded, str) or current != recorded:
        return False
    tree = json.loads(current).get("tree")
    return isinstance(tree, str) and tree == sources.tree_digest(root / "generated" / target)


def check(root_arg: str | None, targets: list[str]) -> list[str]:
    """The summary lines of a no-op run, or Stale when any target might not be fresh."""
    root = discover_root(root_arg)
    import fcntl  # built in, and only POSIX has it; answer() checked os.name

    # Shared with other readers; a run that holds it, or a staging folder a
    # killed run left, sends us to the full path, which waits or finishes it.
    fd = os.open(lock_path(root), os.O_RDONLY)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
        except BlockingIOError:
            raise Stale("another contracts gen is running") from None
        if any(n.startswith(STAGING_PREFIX) for n in os.listdir(root / "generated")):
            raise Stale("a killed run's staging folder is in generated/")
        return _check_locked(root, targets)
    finally:
        os.close(fd)


def _check_locked(root: Path, targets: list[str]) -> list[str]:
    stamp = _load_stamp(root)
    recipe = stamp.get("recipe")
    entries = stamp.get("entries")
    all_targets = stamp.get("all_targets")
    if not isinstance(recipe, dict) or not isinstance(entries, dict):
        raise Stale("bad stamp")
    if recipe.get("root") != str(root) or not isinstance(all_targets, list):
        raise Stale("stamp of another workspace")
    selected = targets or [str(t) for t in all_targets]
    if len(set(selected)) != len(selected) or any(t not in entries for t in selected):
        raise Stale("target not stamped")
    fp = fingerprint(root, recipe)
    for target in selected:
        if not _entry_fresh(root, target, entries[target], fp.digest):
            raise Stale(f"{target} changed")
    image = root / sources.CACHE_DIR_NAME / "images" / f"{fp.image_digest}.binpb"
    if not image.is_file():
        raise Stale("cached image gone")  # the full path would rebuild it
    os.utime(image)  # compile_workspace marks it used, for the cache's pruning
    return [f"{target}: up to date (generated/{target})" for target in selected]


def answer(args: list[str]) -> list[str] | None:
    """What `contracts gen` would print (to stderr) for these args, if provably a no-op."""
    if os.name != "posix":
        return None
    parsed = parse_gen_args(args)
    if parsed is None:
        return None
    root_arg, targets, _check = parsed  # a fresh --check prints what a fresh gen does
    try:
        return check(root_arg, targets)
    # Any surprise at all means "not provably fresh"; the full path decides.
    except Exception:
        return None


# --- the full path's side: snapshot before, record after ----------------------------


class Snapshot:
    """The fingerprint of the inputs, taken before the full path reads them."""

    def __init__(self, root: Path, recipe: Recipe, fp: Fingerprint) -> None:
        self.root = root
        self.recipe = recipe
        self.fingerprint = fp


def _recipe(ws: Workspace) -> Recipe | None:
    import shutil
    import tomllib

    from contracts_core import tools

    templates: object = None
    if ws.settings.templates is not None:
        section = tomllib.loads(ws.settings.raw).get("tool", {}).get("contracts", {})
        templates = section.get("templates")
        if not isinstance(templates, str) or (ws.root / templates).resolve() != (
            ws.settings.templates
        ):
            return None
    specs: list[list[object]] = [
        [spec.name, spec.env_override, True, list(_SIBLINGS.get(spec.name, []))]
        for spec in tools.TOOLS
    ]
    specs.append(["go", None, False, []])  # go_target runs `go mod tidy` from PATH
    if any(which(str(spec[0])) != shutil.which(str(spec[0])) for spec in specs):
        return None
    return {
        "root": str(ws.root),
        "modules": [[m.path, list(m.excludes)] for m in ws.buf.modules],
        "buf_pin": tools.BUF.pinned,
        "templates": templates,
        "tools": specs,
    }


def take_snapshot(ws: Workspace, rediscover: Callable[[], Workspace]) -> Snapshot | None:
    """Fingerprint the workspace's inputs now, or None when they cannot be vouched for.

    `rediscover` opens the workspace again afterwards: if buf.yaml or pyproject.toml
    changed between the first read and the fingerprint, the two disagree.
    """
    try:
        recipe = _recipe(ws)
        if recipe is None:
            return None
        fp = fingerprint(ws.root, recipe)
    except (Stale, OSError, ValueError):
        return None
    try:
        raw = fp.pyproject.decode() if fp.pyproject is not None else None
    except UnicodeDecodeError:
        return None
    # The settings the full path parsed must be the text we hashed.
    if raw != (ws.settings.raw if ws.settings.file is not None else None):
        return None
    from contracts_core.errors import ContractsError

    try:
        if rediscover() != ws:
            return None
    except ContractsError:
        return None  # a config broken mid-run: the full path already read a good one
    return Snapshot(ws.root, recipe, fp)


def record(
    snapshot: Snapshot,
    image_digest: str,
    fresh: list[str],
    stale: list[str],
    all_targets: list[str],
) -> None:
    """Stamp `fresh` targets as up to date for the snapshot's inputs; forget `stale` ones.

    Call only after generation succeeded: `fresh` targets' committed trees are
    exactly what gen/cache.py recorded for them.
    """
    root = snapshot.root
    if image_digest != snapshot.fingerprint.image_digest:
        return  # our proto discovery disagrees with the full path's: never vouch
    inputs = snapshot.fingerprint.digest
    entries: dict[str, object] = {}
    try:
        old = _load_stamp(root)
        old_entries = old.get("entries")
        if old.get("recipe") == snapshot.recipe and isinstance(old_entries, dict):
            entries = {
                t: e
                for t, e in old_entries.items()
                if isinstance(e, dict) and e.get("inputs") == inputs and t not in stale
            }
    except (Stale, OSError, ValueError):
        pass
    try:
        for target in fresh:
            text = sources.read_bytes(cache_stamp_path(root, target)).decode()
            entries[target] = {"inputs": inputs, "cache_stamp": text}
        body = {
            "format": FORMAT,
            "recipe": snapshot.recipe,
            "all_targets": all_targets,
            "entries": entries,
        }
        sources.write_atomically(stamp_path(root), json.dumps(body, indent=1, sort_keys=True))
    except (OSError, ValueError):
        pass  # no stamp only costs the next run its speed
