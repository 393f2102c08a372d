#!/usr/bin/env python3
"""The project's own small mutation tester (F22): do a module's tests catch a wrong change?

    .venv/bin/python scripts/mutate.py blueprints/core/amounts.py tests/test_amounts.py [more tests...] \
        [--module blueprints/core/timeutil.py tests/test_timeutil.py ...] [--timeout-factor 4] [--list] \
        [--sample N --seed S] [--budget SECONDS] [--json OUT.json]

A module may be restricted to some of its top-level functions: `blueprints/core/settlement.py::checks,submit`
mutates only inside those definitions. A test may be a pytest node id (tests/test_x.py::test_y).

  --sample N    a fixed, seeded sample of N mutants per module (random.Random(f"{seed}:{module}")), so two
                runs with the same seed and source try the same mutants; the rest are counted as not sampled
  --budget S    a wall-clock budget for the whole run, shared out between the modules still to do (each one
                gets what is left divided by the modules left); mutants not reached in time are reported as
                "not run" and left out of the score
  --json PATH   also write the results (per module: total, sampled, run, killed, score, survivors) as JSON

For each module, one mutation at a time: comparisons flipped (== / !=, < / <=, > / >=, in / not in,
is / is not, SQLAlchemy's in_ / not_in and is_ / is_not), min <-> max, and <-> or (also SQLAlchemy's and_ / or_), `not` dropped, a set of roles widened by
one role. The module's tests run with -x -q after each mutation; a failing (or timed-out) run kills the mutant.
Prints killed / run per module (the score) and lists the survivors (line, what was changed).

It never touches the working tree: the project is copied (without .venv, instance, .git) into a temporary
directory, the copy's file is mutated and restored in a `finally` (Ctrl-C included), and the copy is removed
at the end. The tests run with this project's interpreter (sys.executable) and environment, so
TEST_DATABASE_URL chooses the engine as for any test run.
"""
from __future__ import annotations

import argparse
import ast
import copy
import json
import os
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

FLIP = {ast.Eq: ast.NotEq, ast.NotEq: ast.Eq, ast.Lt: ast.LtE, ast.LtE: ast.Lt, ast.Gt: ast.GtE,
        ast.GtE: ast.Gt, ast.In: ast.NotIn, ast.NotIn: ast.In, ast.Is: ast.IsNot, ast.IsNot: ast.Is}
SYMBOL = {ast.Eq: "==", ast.NotEq: "!=", ast.Lt: "<", ast.LtE: "<=", ast.Gt: ">", ast.GtE: ">=",
          ast.In: "in", ast.NotIn: "not in", ast.Is: "is", ast.IsNot: "is not"}
# SQLAlchemy's comparison methods: column.in_(...) <-> column.not_in(...), is_(None) <-> is_not(None).
METHOD_FLIP = {"in_": "not_in", "not_in": "in_", "is_": "is_not", "is_not": "is_"}
ROLE_NAMES = ("ENTERPRISE", "SUPPLIER", "CITY", "PROVINCE", "EXPERT")
ROLE_ALIASES = {"E": "ENTERPRISE", "S": "SUPPLIER", "C": "CITY", "P": "PROVINCE", "X": "EXPERT"}


@dataclass
class Mutant:
    index: int  # the n-th candidate site of this kind, in walk order
    kind: str
    line: int
    what: str


def _role_of(node) -> str | None:
    if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) and node.value.id == "Role" \
            and node.attr in ROLE_NAMES:
        return node.attr
    if isinstance(node, ast.Name) and node.id in ROLE_ALIASES:
        return ROLE_ALIASES[node.id]
    return None


def _sites(tree: ast.AST):
    """Yield (node, kind, detail, apply) for every mutation of the tree, in a stable order."""
    for node in ast.walk(tree):
        if isinstance(node, ast.Compare):
            for i, op in enumerate(node.ops):
                if type(op) in FLIP:
                    new = FLIP[type(op)]

                    def apply(n=node, i=i, new=new):
                        n.ops[i] = new()
                    yield node, "compare", f"{SYMBOL[type(op)]} -> {SYMBOL[new]}", apply
        elif isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id in ("min", "max"):
            other = "max" if node.func.id == "min" else "min"

            def apply(n=node, other=other):
                n.func.id = other
            yield node, "minmax", f"{node.func.id} -> {other}", apply
        elif isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr in METHOD_FLIP:
            other = METHOD_FLIP[node.func.attr]

            def apply(n=node, other=other):
                n.func.attr = other
            yield node, "compare", f".{node.func.attr}() -> .{other}()", apply
        elif isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr in ("and_", "or_"):
            other = "or_" if node.func.attr == "and_" else "and_"

            def apply(n=node, other=other):
                n.func.attr = other
            yield node, "andor", f"{node.func.attr} -> {other}", apply
        elif isinstance(node, ast.BoolOp):
            new = ast.Or if isinstance(node.op, ast.And) else ast.And

            def apply(n=node, new=new):
                n.op = new()
            yield node, "andor", f"{'and' if new is ast.Or else 'or'} -> {'or' if new is ast.Or else 'and'}", apply
        elif isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.Not):
            yield node, "not", "drop `not`", None  # applied by the parent rewrite below
        elif isinstance(node, ast.Set) and node.elts and all(_role_of(e) for e in node.elts):
            present = {_role_of(e) for e in node.elts}
            for extra in ROLE_NAMES:
                if extra not in present:
                    def apply(n=node, extra=extra):
                        n.elts.append(ast.Attribute(value=ast.Name(id="Role", ctx=ast.Load()), attr=extra,
                                                    ctx=ast.Load()))
                    yield node, "roles", f"roles {sorted(present)} + {extra}", apply


def _replace(tree: ast.AST, old: ast.AST, new: ast.AST) -> None:
    """Put `new` where `old` is in the tree (for dropping a `not`: the operand takes its place)."""
    for parent in ast.walk(tree):
        for name, value in ast.iter_fields(parent):
            if value is old:
                setattr(parent, name, new)
                return
            if isinstance(value, list) and any(v is old for v in value):
                value[[i for i, v in enumerate(value) if v is old][0]] = new
                return


def _line_ranges(tree: ast.AST, functions: list[str]) -> list[tuple[int, int]]:
    """The line spans of the named top-level functions (and classes)."""
    found = {n.name: (n.lineno, n.end_lineno) for n in tree.body
             if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef))}
    missing = [f for f in functions if f not in found]
    if missing:
        raise SystemExit(f"no top-level function named {', '.join(missing)}")
    return [found[f] for f in functions]


def mutants(source: str, functions: list[str] | None = None) -> list[tuple[Mutant, str]]:
    """Every mutant of `source` as (description, mutated source); only inside `functions` when given."""
    tree = ast.parse(source)
    spans = _line_ranges(tree, functions) if functions else None
    out = []
    for k in range(sum(1 for _ in _sites(tree))):
        t = copy.deepcopy(tree)  # the copy walks in the same order: its k-th site is the same place
        node, kind, what, apply = list(_sites(t))[k]
        if spans and not any(a <= node.lineno <= b for a, b in spans):
            continue
        if kind == "not":
            _replace(t, node, node.operand)
        else:
            apply()
        ast.fix_missing_locations(t)
        out.append((Mutant(k, kind, node.lineno, what), ast.unparse(t)))
    return sorted(out, key=lambda c: (c[0].line, c[0].index))


def _copy_project(dest: Path) -> None:
    ignore = shutil.ignore_patterns(".venv", "instance", ".git", "__pycache__", ".pytest_cache", "node_modules",
                                    "*.pyc", "uploads")
    shutil.copytree(ROOT, dest, ignore=ignore, symlinks=True)
    (dest / "instance").mkdir(exist_ok=True)


def _run_tests(work: Path, tests: list[str], timeout: float) -> tuple[bool, float]:
    """True when the tests pass. A timeout counts as a failure (the mutant is killed, and said to be by timeout:
    on a loaded machine that may be slowness rather than a test catching the change)."""
    env = dict(os.environ, PYTHONDONTWRITEBYTECODE="1")
    env["INSTANCE_DIR"] = str(work / "instance" / "test")
    started = time.perf_counter()
    try:
        proc = subprocess.run([sys.executable, "-m", "pytest", "-x", "-q", "-p", "no:cacheprovider",
                               "-p", "no:randomly", *tests], cwd=work, env=env, stdout=subprocess.DEVNULL,
                              stderr=subprocess.DEVNULL, timeout=timeout)
        ok = proc.returncode == 0
    except subprocess.TimeoutExpired:
        ok = False
    return ok, time.perf_counter() - started


def mutate_module(work: Path, spec: str, tests: list[str], factor: float, list_only: bool,
                  sample: int | None = None, seed: int = 0, deadline: float | None = None) -> dict:
    module, _, funcs = spec.partition("::")
    functions = [f for f in funcs.split(",") if f] or None
    path = work / module
    original = path.read_text(encoding="utf-8")
    cases = mutants(original, functions)
    total = len(cases)
    if sample is not None and sample < total:
        chosen = sorted(random.Random(f"{seed}:{spec}").sample(range(total), sample))
        cases = [cases[i] for i in chosen]
    where = f" (only in {', '.join(functions)})" if functions else ""
    sampled = f", {len(cases)} sampled (seed {seed})" if len(cases) < total else ""
    print(f"\n== {module}{where}: {total} mutants{sampled}; tests: {' '.join(tests)}", flush=True)
    result = {"module": spec, "total": total, "sampled": len(cases), "run": 0, "killed": 0, "timeouts": 0,
              "survivors": [],
              "not_run": 0, "seconds": 0.0}
    if list_only:
        for m, _ in cases:
            print(f"   line {m.line:4d}  {m.kind:7s} {m.what}")
        return result
    started = time.perf_counter()
    if deadline is not None and started >= deadline:
        print("   budget spent: not run", flush=True)
        result.update(not_run=len(cases))
        return result
    ok, base = _run_tests(work, tests, timeout=1800)
    if not ok:
        raise SystemExit(f"{module}: the tests fail without any mutation; fix them first")
    print(f"   unmutated run: passed in {base:.1f} s", flush=True)
    killed, survivors, run, timeouts = 0, [], 0, 0
    try:
        for m, text in cases:
            if deadline is not None and time.perf_counter() + base > deadline:
                break  # the next run would not end in time
            path.write_text(text, encoding="utf-8")
            limit = max(30.0, base * factor)
            ok, took = _run_tests(work, tests, timeout=limit)
            run += 1
            if ok:
                survivors.append(m)
                print(f"   SURVIVED line {m.line:4d}  {m.what}  ({took:.0f} s)", flush=True)
            else:
                killed += 1
                timed_out = took >= limit
                timeouts += timed_out
                print(f"   killed   line {m.line:4d}  {m.what}  ({took:.0f} s{', timeout' if timed_out else ''})",
                      flush=True)
    finally:
        path.write_text(original, encoding="utf-8")
    if run < len(cases):
        print(f"   budget spent: {len(cases) - run} mutants not run", flush=True)
    result.update(run=run, killed=killed, timeouts=timeouts, survivors=[vars(m) for m in survivors],
                  not_run=len(cases) - run, seconds=round(time.perf_counter() - started, 1))
    return result


def score(r: dict) -> float | None:
    return 100.0 * r["killed"] / r["run"] if r["run"] else None


VALUED = ("--timeout-factor", "--sample", "--seed", "--budget", "--json")


def _parse(argv: list[str]):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--timeout-factor", type=float, default=4.0)
    p.add_argument("--list", action="store_true", help="only list the mutants")
    p.add_argument("--sample", type=int, default=None, help="a seeded sample of N mutants per module")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--budget", type=float, default=None, help="wall-clock seconds for the whole run")
    p.add_argument("--json", default=None, help="write the results as JSON to this file")
    groups, current = [], None
    rest = []
    for arg in argv:
        if arg == "--module":
            current = None
            continue
        if arg.startswith("--"):
            rest.append(arg)
            continue
        if rest and rest[-1] in VALUED:
            rest.append(arg)
            continue
        if current is None:
            current = [arg, []]
            groups.append(current)
        else:
            current[1].append(arg)
    opts = p.parse_args(rest)
    if not groups or any(not tests for _, tests in groups):
        p.error("give a module followed by its test files (repeat with --module)")
    return opts, groups


def _interrupt(signum, frame):
    raise KeyboardInterrupt  # SIGTERM too: restore and remove the copy on the way out


def main(argv: list[str] | None = None) -> int:
    opts, groups = _parse(sys.argv[1:] if argv is None else argv)
    signal.signal(signal.SIGTERM, _interrupt)
    tmp = Path(tempfile.mkdtemp(prefix="mutate-"))
    work = tmp / "project"
    results = []
    end = time.perf_counter() + opts.budget if opts.budget else None
    try:
        _copy_project(work)
        for n, (module, tests) in enumerate(groups):
            # each module gets an equal share of what is left, so a slow one cannot starve the rest
            deadline = None if end is None else time.perf_counter() + (end - time.perf_counter()) / (len(groups) - n)
            results.append(mutate_module(work, module, tests, opts.timeout_factor, opts.list, opts.sample,
                                         opts.seed, deadline))
    except KeyboardInterrupt:
        print("\ninterrupted: the copy is removed, the working tree was never touched", file=sys.stderr)
        return 130
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    if opts.list:
        return 0
    print("\nmodule                                   killed/run  score")
    for r in results:
        sc = score(r)
        counted = f"{r['total']} mutants" + ("" if r["sampled"] == r["total"] else f", {r['sampled']} sampled")
        if r["timeouts"]:
            counted += f", {r['timeouts']} killed by timeout"
        if r["not_run"]:
            counted += f", {r['not_run']} not run (budget)"
        shown = "-" if sc is None else f"{sc:5.1f}%"
        print(f"{r['module']:40s} {r['killed']:6d}/{r['run']:<4d} {shown}  ({counted})")
        for m in r["survivors"]:
            print(f"    survived: line {m['line']}: {m['what']}")
    if opts.json:
        for r in results:
            r["score"] = score(r)
        Path(opts.json).write_text(json.dumps({"seed": opts.seed, "sample": opts.sample, "budget": opts.budget,
                                               "modules": results}, ensure_ascii=False, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
