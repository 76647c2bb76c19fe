"""Architecture contracts, read from the source with ``ast`` (the pipeline package is never imported).

Imports run one way, CLI -> stages -> domain -> foundation. That way a stage can be read, tested and
re-run on its own, and the domain code has no link back to the DVC entry points or the command line.
These checks keep it that way while the code changes.

DVC re-runs a stage only when one of its ``deps`` changes. If a stage imports a file that ``dvc.yaml``
does not list, an edit to that file leaves a stale, cached result that looks current: a reproducibility
bug. The second half of this module compares each stage's transitive imports with its ``deps``.
"""

from __future__ import annotations

import ast
import functools
import os
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml

REPO = Path(__file__).resolve().parents[1]
PACKAGE = "pipeline"
CLI = "pipeline.cli"
STAGES = "pipeline.stages"

# The bottom layer: code that every layer may use and that uses nothing above it. The set is written
# out by name (no pattern) so that moving a module into the foundation is a decision someone takes in
# review, not a side effect of its file name: the package pipeline/core. "pipeline" is the package's
# __init__.py, which runs before any of its modules.
FOUNDATION = frozenset({
    "pipeline",
    "pipeline.core.errors",
    "pipeline.core.params",
    "pipeline.core.paths",
    "pipeline.core.atomic",
    "pipeline.core.vocabulary",
    "pipeline.core.progress",
    "pipeline.core.console",
    "pipeline.core.git",
    "pipeline.core.reports",
    "pipeline.core",
})

# Top to bottom: a module may import a layer of its own rank or lower, never a higher one.
LAYER_RANK = {"cli": 3, "stages": 2, "domain": 1, "foundation": 0}

# Folders outside the package that may use the domain code but never a stage: a stage is a DVC entry
# point, and code a test or benchmark needs from it belongs in the domain layer.
OUTSIDE_DIRS = ("tests", "benchmarks")

STAGE_CMD = re.compile(r"python3?\s+-m\s+(pipeline\.stages\.[A-Za-z_]\w*(?:\.[A-Za-z_]\w*)*)")


@dataclass(frozen=True)
class Import:
    """One import of a pipeline module, resolved to the module that runs."""

    file: str  # relative to the repository, for messages
    line: int
    importer: str
    target: str

    def describe(self, reason: str) -> str:
        return f"{self.file}:{self.line}: {self.importer} imports {self.target} ({reason})"


def module_name(path: Path) -> str:
    """``pipeline/a/b.py`` -> ``pipeline.a.b``; ``pipeline/a/__init__.py`` -> ``pipeline.a``."""
    parts = list(path.relative_to(REPO).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def module_exists(name: str) -> bool:
    """True if ``name`` is a module file or a package directory (namespace packages count)."""
    base = REPO.joinpath(*name.split("."))
    return base.with_suffix(".py").is_file() or base.is_dir()


def module_file(name: str) -> str | None:
    """The file Python runs for ``name``, relative to the repository; None for a namespace package."""
    base = REPO.joinpath(*name.split("."))
    for candidate in (base.with_suffix(".py"), base / "__init__.py"):
        if candidate.is_file():
            return candidate.relative_to(REPO).as_posix()
    return None


def python_files(folder: str) -> list[Path]:
    root = REPO / folder
    return sorted(p for p in root.rglob("*.py") if "__pycache__" not in p.parts) if root.is_dir() else []


def _resolve_relative(importer: str, is_package: bool, level: int, module: str | None) -> str | None:
    """The absolute name of ``from <level dots><module> import ...``; None if it climbs above the top."""
    package = importer.split(".") if is_package else importer.split(".")[:-1]
    if level - 1 > len(package) - 1:
        return None
    base = package[: len(package) - (level - 1)]
    return ".".join([*base, *(module.split(".") if module else [])])


def _is_pipeline(name: str) -> bool:
    return name == PACKAGE or name.startswith(PACKAGE + ".")


def _literal_dynamic_import(node: ast.Call) -> str | None:
    """``importlib.import_module("x")`` or ``__import__("x")`` with a literal name: an import all the same."""
    func = node.func
    called = func.attr if isinstance(func, ast.Attribute) else func.id if isinstance(func, ast.Name) else None
    if called not in {"import_module", "__import__"} or not node.args:
        return None
    first = node.args[0]
    return first.value if isinstance(first, ast.Constant) and isinstance(first.value, str) else None


def _targets(node: ast.Import | ast.ImportFrom | ast.Call, importer: str, is_package: bool) -> Iterator[str]:
    if isinstance(node, ast.Import):
        for alias in node.names:
            yield alias.name
    elif isinstance(node, ast.ImportFrom):
        base = (_resolve_relative(importer, is_package, node.level, node.module) if node.level
                else node.module)
        if base is None:
            return
        for alias in node.names:
            # `from pipeline.a import b` runs pipeline/a/b.py only when b is a submodule; otherwise b is
            # a name defined in pipeline.a, and pipeline.a is the dependency.
            sub = f"{base}.{alias.name}"
            yield sub if alias.name != "*" and module_exists(sub) else base
    else:
        name = _literal_dynamic_import(node)
        if name is not None:
            yield name


@functools.cache
def imports_of(path: Path) -> tuple[Import, ...]:
    """Every pipeline import in ``path``, function-local and conditional ones included.

    A function-local import still ties the two modules together and still runs whenever the function
    does, so for both contracts it counts exactly like one at the top of the file.
    """
    rel = path.relative_to(REPO).as_posix()
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=rel)
    importer = module_name(path)
    is_package = path.name == "__init__.py"
    found = []
    for node in ast.walk(tree):
        if not isinstance(node, (ast.Import, ast.ImportFrom, ast.Call)):
            continue
        for target in _targets(node, importer, is_package):
            if _is_pipeline(target):
                found.append(Import(rel, node.lineno, importer, target))
    return tuple(sorted(found, key=lambda i: (i.file, i.line, i.target)))


def package_imports() -> list[Import]:
    return [imp for path in python_files(PACKAGE) for imp in imports_of(path)]


def outside_imports() -> list[Import]:
    return [imp for folder in OUTSIDE_DIRS for path in python_files(folder) for imp in imports_of(path)]


def _in(name: str, package: str) -> bool:
    return name == package or name.startswith(package + ".")


def layer(name: str) -> str:
    if _in(name, CLI):
        return "cli"
    if _in(name, STAGES):
        return "stages"
    if name in FOUNDATION:
        return "foundation"
    return "domain"


def stage_of(name: str) -> str | None:
    """``pipeline.stages.train`` and ``pipeline.stages.train.x`` -> ``train``; the runner package -> None."""
    rest = name[len(STAGES) + 1:] if name.startswith(STAGES + ".") else ""
    return rest.split(".")[0] or None


def report(violations: list[str], contract: str) -> str:
    return f"{len(violations)} import(s) break the contract: {contract}\n" + "\n".join(violations)


# --- 1. Import contract -------------------------------------------------------------------------------


def test_imports_only_point_down_the_layers() -> None:
    violations = []
    for imp in package_imports():
        if imp.target == PACKAGE:
            continue
        src, dst = layer(imp.importer), layer(imp.target)
        if LAYER_RANK[dst] > LAYER_RANK[src]:
            violations.append(imp.describe(f"{src} layer must not import the {dst} layer above it"))
    if violations:
        pytest.fail(report(violations, "cli -> stages -> domain -> foundation, never upward"), pytrace=False)


def test_stages_are_imported_only_by_the_runner_and_never_by_each_other() -> None:
    violations = []
    for imp in package_imports():
        if not _in(imp.target, STAGES):
            continue
        if not _in(imp.importer, STAGES):
            violations.append(imp.describe(
                f"{layer(imp.importer)} code must not use a stage; move what it needs into the domain layer"))
        elif stage_of(imp.importer) is not None and stage_of(imp.target) not in {None, stage_of(imp.importer)}:
            violations.append(imp.describe(
                "a stage may import the runner package pipeline.stages but never another stage"))
    for imp in outside_imports():
        if _in(imp.target, STAGES):
            violations.append(imp.describe(
                "tests and benchmarks must not import stages; test the domain code or run the stage as a process"))
    if violations:
        pytest.fail(report(violations, "only pipeline.stages.* imports pipeline.stages, one stage per module"),
                    pytrace=False)


def test_foundation_imports_only_foundation() -> None:
    violations = [
        imp.describe("foundation may import only foundation modules: " + ", ".join(sorted(FOUNDATION)))
        for imp in package_imports()
        if imp.importer in FOUNDATION and imp.target not in FOUNDATION
    ]
    if violations:
        pytest.fail(report(violations, "the foundation depends on nothing else in pipeline"), pytrace=False)


# --- 2. DVC deps are complete -------------------------------------------------------------------------


def _load_stages() -> dict[str, dict[str, Any]]:
    data = yaml.safe_load((REPO / "dvc.yaml").read_text(encoding="utf-8")) or {}
    return {name: body for name, body in (data.get("stages") or {}).items() if isinstance(body, dict)}


def stage_module(stage: dict[str, Any]) -> str | None:
    """The module a ``python -m pipeline.stages.<mod>`` cmd runs; None for any other cmd."""
    cmd = stage.get("cmd")
    if not isinstance(cmd, str):
        return None
    match = STAGE_CMD.fullmatch(cmd.strip())
    return match.group(1) if match else None


def stage_deps(stage: dict[str, Any]) -> list[str]:
    """The stage's deps as repository-relative POSIX paths (a dep is a string or a one-key mapping)."""
    wdir = stage.get("wdir") or "."
    deps = []
    for dep in stage.get("deps") or []:
        for path in (dep.keys() if isinstance(dep, dict) else [dep]):
            deps.append(Path(os.path.normpath(os.path.join(wdir, str(path)))).as_posix())
    return deps


def covered(file: str, deps: list[str]) -> bool:
    return any(file == dep or file.startswith(dep.rstrip("/") + "/") for dep in deps)


def with_parent_packages(name: str) -> list[str]:
    """Importing ``pipeline.a.b`` runs ``pipeline/__init__.py`` and ``pipeline/a/__init__.py`` first."""
    parts = name.split(".")
    return [".".join(parts[:i]) for i in range(1, len(parts) + 1)]


def import_closure(start: str) -> set[str]:
    """Every pipeline module that can run when ``start`` runs, function-local imports included."""
    seen: set[str] = set()
    todo = [start]
    while todo:
        for name in with_parent_packages(todo.pop()):
            if name in seen:
                continue
            seen.add(name)
            file = module_file(name)
            if file is not None:
                todo.extend(imp.target for imp in imports_of(REPO / file))
    return seen


STAGE_SPECS = _load_stages()
PYTHON_STAGES = {name: mod for name, body in STAGE_SPECS.items() if (mod := stage_module(body)) is not None}


def test_dvc_yaml_has_python_stages() -> None:
    # Guards the parametrized test below: if the cmd pattern stopped matching, it would silently test nothing.
    assert PYTHON_STAGES, "no stage in dvc.yaml has a cmd of the form `python -m pipeline.stages.<mod>`"


def test_stage_cmds_and_pipeline_deps_exist() -> None:
    problems = []
    for name, body in STAGE_SPECS.items():
        module = PYTHON_STAGES.get(name)
        if module is not None and module_file(module) is None:
            problems.append(f"{name}: cmd runs {module}, but there is no {module.replace('.', '/')}.py")
        for dep in stage_deps(body):
            if (dep == PACKAGE or dep.startswith(PACKAGE + "/")) and not (REPO / dep).exists():
                problems.append(f"{name}: dep {dep} does not exist (stale after a move or rename?)")
    if problems:
        pytest.fail(f"{len(problems)} problem(s) in dvc.yaml:\n" + "\n".join(problems), pytrace=False)


@pytest.mark.parametrize("stage", sorted(PYTHON_STAGES))
def test_stage_deps_cover_every_imported_file(stage: str) -> None:
    deps = stage_deps(STAGE_SPECS[stage])
    files = {file for name in import_closure(PYTHON_STAGES[stage]) if (file := module_file(name)) is not None}
    missing = sorted(file for file in files if not covered(file, deps))
    if missing:
        pytest.fail(
            f"dvc.yaml stage {stage!r} runs {PYTHON_STAGES[stage]}, which imports {len(missing)} file(s) its deps "
            f"do not cover, so editing them would not re-run the stage:\n" + "\n".join(f"  - {f}" for f in missing),
            pytrace=False)


@pytest.mark.parametrize("stage", sorted(PYTHON_STAGES))
def test_stage_deps_name_no_pipeline_file_the_stage_cannot_run(stage: str) -> None:
    # A stale dep re-runs the stage (and, for train, minutes of training) when an unrelated module changes.
    files = {file for name in import_closure(PYTHON_STAGES[stage]) if (file := module_file(name)) is not None}
    stale = sorted(dep for dep in stage_deps(STAGE_SPECS[stage]) if dep.endswith(".py")
                   and (dep == PACKAGE or dep.startswith(PACKAGE + "/")) and dep not in files)
    if stale:
        pytest.fail(f"dvc.yaml stage {stage!r} depends on {len(stale)} pipeline file(s) that "
                    f"{PYTHON_STAGES[stage]} never imports:\n" + "\n".join(f"  - {f}" for f in stale), pytrace=False)


def test_mlflow_bookkeeping_never_imports_tensorflow() -> None:
    # `igfake mlflow sync` and the killed-run bookkeeping import pipeline.tracking.runs; loading TensorFlow there
    # cost ~10 s per call. Only logging the Keras model needs it, and imports it where it does.
    import subprocess
    import sys

    code = ("import sys, pipeline.tracking.runs, pipeline.cli.mlflow; "
            "heavy = sorted(m for m in sys.modules if m.split('.')[0] in ('tensorflow', 'keras', 'tf_keras')); "
            "assert not heavy, heavy[:5]")
    result = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True)
    assert result.returncode == 0, result.stderr[-2000:]


# Tests of the project as a whole, not of one module: the layer contract, the docs' links, the CI script and
# the registries (in the spirit of scikit-learn's tests/test_common.py).
PROJECT_TESTS = frozenset({"test_architecture", "test_docs", "test_ci_run", "test_common"})
# At most this many plain modules at the top of pipeline/ besides the packages: the top shows the architecture.
MAX_TOP_MODULES = 4


def test_the_top_of_the_package_holds_packages_not_modules() -> None:
    top = sorted(p.name for p in (REPO / PACKAGE).glob("*.py") if p.name != "__init__.py")
    assert len(top) <= MAX_TOP_MODULES, top


def test_tests_mirror_the_packages() -> None:
    """tests/<package>/test_<module>[_<aspect>].py tests pipeline/<package>/<module>.py (tests/e2e apart; a
    package's ``__init__.py`` is ``init``), so a module's tests are found where the module is."""
    orphans = []
    for path in sorted((REPO / "tests").rglob("test_*.py")):
        relative = path.relative_to(REPO / "tests")
        if relative.parts[0] == "e2e" or (len(relative.parts) == 1 and path.stem in PROJECT_TESTS):
            continue
        folder = REPO / PACKAGE / Path(*relative.parts[:-1])
        name = path.stem.removeprefix("test_")
        modules = {p.stem.strip("_") for p in folder.glob("*.py")} if folder.is_dir() else set()
        if not any(name == m or name.startswith(m + "_") for m in modules):
            orphans.append(f"{relative}: no {PACKAGE}/{Path(*relative.parts[:-1], name)}.py (or a prefix of it)")
    assert not orphans, "\n".join(orphans)
