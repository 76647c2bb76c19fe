"""Mutation testing of the statistics, features and atomic-write modules: do their tests catch one-line bugs?

    python benchmarks/mutation.py [--module pipeline/audit/quantify.py ...] [--max-children 1]

For each module below, mutmut (``pip install -e '.[mutation]'``) makes one-line mutants of it (an operator,
a number, a comparison, a call's argument) and runs each against that module's own fast tests only (the
files listed beside it), never the whole suite: a mutant the tests still pass is a *survivor*. Each
module runs in its own scratch copy of the working tree (``.mutation/<module>/``, ignored by git), so the
runs never touch the checkout and one module can be redone alone with ``--module``.

mutmut skips decorated functions; the script hands it the module with ``@contextlib.contextmanager`` and
``@property`` written as the equivalent assignment after the function (``f = contextlib.contextmanager(f)``)
so that the atomic groups and the error rates are mutated too (the scratch copy only, never the module).

A survivor is either a gap in the tests (write the test that kills it, and rerun) or *equivalent*: no
input can tell it from the original (``benchmarks/mutation_equivalent.json`` says why, matched by module,
function and the mutated lines). Writes ``reports/mutation.json``: per module, mutants made, killed,
survived, equivalent, and the score, killed / (made - equivalent); the goal is >= 90%. Modules not rerun
keep their previous entry. Exit status 1 if a module misses the goal or a survivor is unexplained.
"""

from __future__ import annotations

import argparse
import ast
import json
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from pipeline.core import atomic  # noqa: E402  (after the path: the checkout's package, not an installed one)

# Each module and its fast tests (no end-to-end module, no training).
MODULES: dict[str, tuple[str, ...]] = {
    "pipeline/evaluation/intervals.py": ("tests/evaluation/test_intervals.py",),
    "pipeline/evaluation/compare.py": ("tests/evaluation/test_compare.py",),
    "pipeline/evaluation/gate.py": ("tests/evaluation/test_gate.py", "tests/evaluation/test_gate_rules.py"),
    "pipeline/audit/quantify.py": ("tests/audit/test_quantify.py",),
    "pipeline/features.py": ("tests/test_features.py", "tests/test_features_batch.py"),
    "pipeline/core/atomic.py": ("tests/core/test_atomic.py", "tests/core/test_atomic_together.py",
                                "tests/core/test_atomic_formats.py"),
}
GOAL = 0.90
OUT = REPO / "reports" / "mutation.json"
EQUIVALENT = REPO / "benchmarks" / "mutation_equivalent.json"
SCRATCH = REPO / ".mutation"
# mutmut's exit codes of a mutant's test run (mutmut.stats.status_by_exit_code). A mutant that makes its
# tests hang past the timeout or kills their process is caught, as one that fails them.
TIMEOUT, CRASHED = {-24, 24, 36, 152, 255}, {-11, -9}
KILLED, SURVIVED, NO_TESTS = {1, 3} | TIMEOUT | CRASHED, {0}, {5, 33}
UNDECORATED = ("property", "contextlib.contextmanager")


def undecorate(source: str) -> str:
    """``@property`` / ``@contextlib.contextmanager`` functions as ``def f`` then ``f = decorator(f)``: the
    same objects, in a form mutmut mutates (it leaves decorated functions alone)."""
    lines = source.splitlines(keepends=True)
    edits = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.FunctionDef) and len(node.decorator_list) == 1:
            decorator = ast.unparse(node.decorator_list[0])
            if decorator in UNDECORATED:
                indent = re.match(r"\s*", lines[node.lineno - 1]).group(0)
                edits.append((node.decorator_list[0].lineno, node.end_lineno, indent, node.name, decorator))
    for deco_line, end_line, indent, name, decorator in sorted(edits, reverse=True):
        lines.insert(end_line, f"{indent}{name} = {decorator}({name})\n")
        del lines[deco_line - 1]
    return "".join(lines)


def scratch_copy(module: str, tests: tuple[str, ...]) -> Path:
    """The working tree's files (tracked and new, not ignored) in a fresh directory, with mutmut's settings."""
    work = SCRATCH / module.replace("/", ".")
    shutil.rmtree(work, ignore_errors=True)
    listed = subprocess.run(["git", "ls-files", "-co", "--exclude-standard", "-z"], cwd=REPO, check=True,
                            capture_output=True).stdout.decode().split("\0")
    for name in filter(None, listed):
        source = REPO / name
        if source.is_file() and not name.startswith(".mutation/"):
            (work / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, work / name)
    target = work / module
    target.write_text(undecorate(target.read_text(encoding="utf-8")), encoding="utf-8")
    pyproject = (work / "pyproject.toml").read_text(encoding="utf-8")
    pyproject = re.sub(r'(?m)^addopts = .*$', 'addopts = "-p no:cacheprovider"', pyproject)
    top = sorted({name.split("/")[0] for name in filter(None, listed)} - {"pipeline", "tests", "pyproject.toml"})
    pyproject += "\n[tool.mutmut]\n" + "\n".join([
        'source_paths = ["pipeline"]',
        f"only_mutate = {json.dumps([module])}",
        f"also_copy = {json.dumps(top)}",
        f"pytest_add_cli_args_test_selection = {json.dumps(list(tests))}",
        'pytest_add_cli_args = ["-n", "0", "-q", "-x", "-p", "no:randomly"]',
        "use_git_change_detection = false",
    ]) + "\n"
    (work / "pyproject.toml").write_text(pyproject, encoding="utf-8")
    return work


def mutated_lines(diff: str) -> list[str]:
    """The lines a mutant removes and adds, stripped: what an equivalence entry is matched on."""
    return [line[0] + line[1:].strip() for line in diff.splitlines()
            if line[:1] in "+-" and not line.startswith(("+++", "---"))]


def run_module(module: str, tests: tuple[str, ...], max_children: int, equivalent: list[dict]) -> dict:
    work = scratch_copy(module, tests)
    mutmut = [sys.executable, "-m", "mutmut"]
    started = time.monotonic()
    run = subprocess.run([*mutmut, "run", "--max-children", str(max_children)], cwd=work, capture_output=True,
                         text=True)
    seconds = round(time.monotonic() - started, 1)
    meta = work / "mutants" / (module + ".meta")
    if not meta.is_file():
        raise SystemExit(f"mutmut made no mutants of {module} (exit {run.returncode}):\n{run.stdout[-3000:]}"
                         f"\n{run.stderr[-3000:]}")
    codes = json.loads(meta.read_text(encoding="utf-8"))["exit_code_by_key"]
    survivors, killed, untested, timeouts = [], 0, [], 0
    for name, code in sorted(codes.items()):
        if code in KILLED:
            killed += 1
            timeouts += code in TIMEOUT
        elif code in SURVIVED or code in NO_TESTS or code is None:
            shown = subprocess.run([*mutmut, "show", name], cwd=work, capture_output=True, text=True).stdout
            function = name.split("__mutmut_")[0].rsplit(".", 1)[-1].removeprefix("x_").removeprefix("xǁ")
            lines = mutated_lines(shown)
            why = next((e["why"] for e in equivalent if e["module"] == module and e["lines"] == lines), None)
            survivors.append({"mutant": name, "function": function, "lines": lines, "equivalent": why,
                              "status": "no test ran it" if code in NO_TESTS else
                              "not run" if code is None else "survived"})
            if code is None:
                untested.append(name)
        else:
            raise SystemExit(f"{module}: mutant {name} ended with exit code {code} (mutmut could not run it)")
    made = len(codes)
    n_equivalent = sum(1 for s in survivors if s["equivalent"])
    score = killed / max(made - n_equivalent, 1)
    return {"tests": list(tests), "made": made, "killed": killed, "timeouts_counted_killed": timeouts,
            "survived": len(survivors), "equivalent": n_equivalent, "score": round(score, 4),
            "goal_met": score >= GOAL and all(s["equivalent"] for s in survivors), "seconds": seconds,
            "survivors": survivors}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--module", action="append", choices=sorted(MODULES),
                        help="only this module (repeat for more); the others keep their last entry")
    parser.add_argument("--max-children", type=int, default=1, help="mutants run at once (default 1)")
    args = parser.parse_args(argv)
    equivalent = json.loads(EQUIVALENT.read_text(encoding="utf-8")) if EQUIVALENT.is_file() else []
    report = json.loads(OUT.read_text(encoding="utf-8")) if OUT.is_file() else {"modules": {}}
    for module in args.module or list(MODULES):
        entry = run_module(module, MODULES[module], args.max_children, equivalent)
        report["modules"][module] = entry
        print(f"{module}: {entry['made']} mutants, {entry['killed']} killed, {entry['survived']} survived "
              f"({entry['equivalent']} equivalent): {100 * entry['score']:.1f}% of the non-equivalent killed "
              f"in {entry['seconds']} s", flush=True)
        for s in entry["survivors"]:
            print(f"  {s['status']}: {s['mutant']}: {' | '.join(s['lines'])}"
                  + (f"  [equivalent: {s['equivalent']}]" if s["equivalent"] else ""), flush=True)
    modules = report["modules"]
    made = sum(m["made"] for m in modules.values())
    killed = sum(m["killed"] for m in modules.values())
    n_equivalent = sum(m["equivalent"] for m in modules.values())
    report["total"] = {"modules": len(modules), "made": made, "killed": killed,
                       "survived": sum(m["survived"] for m in modules.values()), "equivalent": n_equivalent,
                       "score": round(killed / max(made - n_equivalent, 1), 4), "goal": GOAL}
    report["tool"] = f"mutmut {_version('mutmut')}"
    atomic.write_json(OUT, report)
    print(f"total: {100 * report['total']['score']:.1f}% of {made - n_equivalent} non-equivalent mutants killed "
          f"over {len(modules)} modules; wrote {OUT.relative_to(REPO)}")
    return 0 if all(m["goal_met"] for m in modules.values()) else 1


def _version(package: str) -> str:
    from importlib.metadata import version

    return version(package)


if __name__ == "__main__":
    sys.exit(main())
