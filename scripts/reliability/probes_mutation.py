"""F22: mutation testing of the policy modules (money, access, workflow, deadlines, eligibility, settlement,
payout) with scripts/mutate.py. Imported at the end of probes.py, which lists it in probes.ALL (full run only).

The whole mutant set of these modules (about 600) takes 40-60 minutes on this 2-core machine, so the probe runs a fixed,
seeded sample of mutants per module (the same ones every run while the source is unchanged) within a time
budget, on SQLite, and reports the score per module and every survivor. The whole sets are run by hand:
`.venv/bin/python scripts/mutate.py <module> <tests...>` (scripts/mutate.py's docstring).
"""
from __future__ import annotations

import json
import os
import subprocess

from reliability import probes
from reliability.common import BIN, ROOT, Probe, Result

SEED = 22
SAMPLE = 10  # mutants per module
BUDGET = 400.0  # seconds for all modules: the full `make reliability` stays within 15 minutes
TARGET = 90.0  # % of the sampled mutants killed, per module

# (module[::functions], the fastest tests that exercise it). settlement.py and payout.py: their decision and
# check functions (the rest is database flows, covered by the slower tests/test_settlement_rules.py and
# tests/test_payout_core.py).
MODULES = [
    ("blueprints/core/amounts.py", ["tests/test_amounts.py"]),
    ("blueprints/core/money.py", ["tests/test_money.py"]),
    ("blueprints/core/timeutil.py", ["tests/test_timeutil.py"]),
    ("blueprints/core/access.py", ["tests/test_access_scope.py"]),
    ("blueprints/core/workflow.py", ["tests/test_workflow_core.py",
                                     "tests/test_workflow_roles.py::test_every_workflow_is_written_out_here",
                                     "tests/test_workflow_roles.py::test_the_code_table_states_exactly_these_roles"]),
    ("blueprints/core/eligibility.py", ["tests/test_eligibility.py"]),
    ("blueprints/core/settlement.py::same_name,claim_keys,checks,filing_problem,bonus_due,release_counts_as_void,"
     "suspended_for", ["tests/test_settlement_checks.py"]),
    ("blueprints/core/payout.py::Allocation,allocate,in_publicity,publicity_over,check_objection,payment_problems",
     ["tests/test_payout_checks.py", "tests/test_payout_core.py::test_the_issues_example",
      "tests/test_payout_core.py::test_allocation_table",
      "tests/test_payout_core.py::test_objections_only_during_publicity_and_with_a_reachable_contact"]),
]

# Mutants that change nothing a user (or any caller) can see: not counted in the score, listed in the result.
# Keyed by (module, line, change); a line that moves shows up as a survivor again, to be looked at anew.
EQUIVALENT = {
    ("timeutil", 81, "< -> <="): "one more day counted past the last date read",
    ("eligibility", 98, "and -> or"): "a claim always has its supplier and contract number: the added condition "
                                      "matches none",
}


def _short(spec: str) -> str:
    return spec.split("/")[-1].split("::")[0].removesuffix(".py")


def f22_mutation(ctx) -> Result:
    out = ctx.run_dir / "mutation.json"
    argv = [str(BIN / "python"), str(ROOT / "scripts" / "mutate.py"), "--seed", str(SEED), "--sample", str(SAMPLE),
            "--budget", str(BUDGET), "--json", str(out)]
    for n, (module, tests) in enumerate(MODULES):
        argv += (["--module"] if n else []) + [module, *tests]
    # The module tests run on SQLite (their own files), not on the run's PostgreSQL database.
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "TEST_DATABASE_URL")}
    proc = subprocess.run(argv, cwd=ROOT, env=env, capture_output=True, text=True, timeout=BUDGET + 240)
    (ctx.run_dir / "mutation.log").write_text(proc.stdout + proc.stderr)
    if proc.returncode != 0 or not out.exists():
        tail = (proc.stderr or proc.stdout).strip().splitlines()[-1:] or ["no output"]
        return Result("F22", "Authz test strength", "scripts/mutate.py", f"mutator failed: {tail[0][:200]}",
                      f"≥ {TARGET:.0f}% per module", False)
    modules = json.loads(out.read_text())["modules"]
    parts, survivors, equivalent, ok = [], [], [], True
    for m in modules:
        name = _short(m["module"])
        same = [s for s in m["survivors"] if (name, s["line"], s["what"]) in EQUIVALENT]
        counted = m["run"] - len(same)
        if not counted:
            parts.append(f"{name} not run (budget)")
            ok = False
            continue
        score = 100.0 * m["killed"] / counted
        ok = ok and score >= TARGET
        slow = f" ({m['timeouts']} by timeout)" if m.get("timeouts") else ""
        parts.append(f"{name} {m['killed']}/{counted} {score:.0f}%{slow}")
        survivors += [f"{name}:{s['line']} {s['what']}" for s in m["survivors"] if s not in same]
        equivalent += [f"{name}:{s['line']} {s['what']} ({EQUIVALENT[name, s['line'], s['what']]})" for s in same]
    not_run = sum(m["not_run"] for m in modules)
    total = sum(m["total"] for m in modules)
    tried = (f"scripts/mutate.py, seed {SEED}: {SAMPLE} mutants per module, of {total} in all (settlement, payout: "
             f"their decision functions), budget {BUDGET:.0f} s, tests on SQLite")
    result = "; ".join(parts) + (f"; {not_run} not run (budget)" if not_run else "")
    result += "; survivors: " + (", ".join(survivors) if survivors else "none")
    if equivalent:
        result += "; equivalent, not counted: " + ", ".join(equivalent)
    return Result("F22", "Authz test strength", tried, result, f"≥ {TARGET:.0f}% per module (of its sample)", ok)


probes.ALL.append(Probe("F22", "Authz test strength", f22_mutation, quick=False))
