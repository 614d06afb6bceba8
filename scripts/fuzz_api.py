#!/usr/bin/env python3
"""A long fuzzing campaign of fastckpt's public Python API with damaged real files.

Runs the mutators and entry points of ``tests/api_fuzz.py`` (the ones ``tests/test_api_fuzz.py``
runs a bounded, fixed set of) for ``--minutes`` or ``--cases``, from a random ``--seed``, in child
processes (``tests/child_jobs.py``). Each distinct finding (an exception that is not a
``fastckpt.CheckpointError``, a message without the file, a CLI traceback, a crash, a hang, a
peak RSS over budget) is written to ``OUT/NNN-target/``: the damaged input folder, and
``finding.txt`` with the case's seed, the entry point, the traceback. ``OUT/summary.json`` holds
the counts (cases per target, runs per entry point, findings by signature).

    python scripts/fuzz_api.py --minutes 30 --out /tmp/fuzz-api
    python scripts/fuzz_api.py --cases 200 --targets npz,safetensors --seed 7

Needs TensorFlow (it writes the seed files) and the ``safetensors`` package.
"""

from __future__ import annotations

import argparse
import collections
import json
import os
import random
import shutil
import sys
import tempfile
import time

TESTS = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "tests")
sys.path.insert(0, TESTS)
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import api_fuzz  # noqa: E402
from child_jobs import RSS_BUDGET_MB, run_jobs  # noqa: E402


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--minutes", type=float, help="stop after this long")
    parser.add_argument("--cases", type=int, help="stop after this many cases")
    parser.add_argument("--seed", type=int, help="random seed of the campaign (default: random)")
    parser.add_argument("--targets", help="comma-separated subset of: " + ", ".join(api_fuzz.TARGETS))
    parser.add_argument("--batch", type=int, default=48, help="cases per batch of child processes")
    parser.add_argument("--out", required=True, help="folder receiving findings and summary.json")
    args = parser.parse_args()
    if args.minutes is None and args.cases is None:
        parser.error("give --minutes or --cases")
    seed = args.seed if args.seed is not None else random.SystemRandom().randrange(2**32)
    targets = args.targets.split(",") if args.targets else list(api_fuzz.TARGETS)
    os.makedirs(args.out, exist_ok=True)
    work = tempfile.mkdtemp(prefix="fuzz-api-")
    seeds = os.path.join(work, "seeds")
    os.makedirs(seeds)
    import tensorflow as tf

    api_fuzz.write_seeds(seeds, tf)
    print(f"seed {seed}, targets {', '.join(targets)}, work folder {work}", flush=True)

    stop_at = time.monotonic() + args.minutes * 60 if args.minutes is not None else float("inf")
    cases_per_target: collections.Counter[str] = collections.Counter()
    runs_per_op: collections.Counter[str] = collections.Counter()
    outcomes_per_op: collections.Counter[str] = collections.Counter()
    findings: dict[str, dict[str, object]] = {}
    done = 0
    batch_no = 0
    while time.monotonic() < stop_at and (args.cases is None or done < args.cases):
        batch_no += 1
        batch = os.path.join(work, f"batch-{batch_no}")
        os.makedirs(os.path.join(batch, "harness"))
        count = args.batch if args.cases is None else min(args.batch, args.cases - done)
        jobs, cases = [], {}
        for i in range(count):
            target = targets[(done + i) % len(targets)]
            case_id = f"case-{target}-{done + i}"
            case_seed = f"{seed}:{target}:{done + i}"
            case_dir = os.path.join(batch, case_id)
            cases[case_id] = (target, case_seed, api_fuzz.make_case(seeds, target, case_dir, case_seed), case_dir)
            jobs.append({"id": case_id, "func": "run_case", "kwargs": {"target": target, "case_dir": case_dir, "seeds": seeds}})
        results = run_jobs(jobs, os.path.join(batch, "harness"), "api_fuzz")
        for case_id, (target, case_seed, what, case_dir) in cases.items():
            cases_per_target[target] += 1
            result = results[case_id]
            problems: list[tuple[str, str]] = []
            if result.status != "done" or result.error:
                problems.append(("*", f"{result.status}: {result.detail} {result.error or ''}"))
            else:
                for op, out in result.value.items():
                    runs_per_op[f"{target} | {op}"] += 1
                    outcomes_per_op[f"{target} | {op} | {'ok' if out['ok'] else 'refused'}"] += 1
                problems += api_fuzz.judge(result.value, case_id)
                if result.rss_growth_mb > RSS_BUDGET_MB:
                    problems.append(("*", f"peak RSS grew by {result.rss_growth_mb:.0f} MB"))
            for op, problem in problems:
                key = api_fuzz.signature(target, op, problem)
                if key in findings:
                    findings[key]["count"] += 1  # type: ignore[operator]
                    continue
                folder = os.path.join(args.out, f"{len(findings):03d}-{target}")
                shutil.copytree(case_dir, os.path.join(folder, "input"), ignore=shutil.ignore_patterns("out*", "many", "cli-out*", "frozen*", "g.pbtxt"))
                with open(os.path.join(folder, "finding.txt"), "w") as f:
                    f.write(f"target: {target}\ncase seed: {case_seed!r}\ndamaged: {what}\nentry point: {op}\n\n{problem}\n")
                findings[key] = {"folder": folder, "count": 1, "case_seed": case_seed}
                print(f"NEW FINDING {folder}: {key}", flush=True)
        done += count
        shutil.rmtree(batch, ignore_errors=True)
        summary = {
            "seed": seed, "cases": done, "cases_per_target": dict(cases_per_target),
            "runs_per_entry_point": dict(sorted(runs_per_op.items())),
            "outcomes": dict(sorted(outcomes_per_op.items())), "findings": findings,
        }
        with open(os.path.join(args.out, "summary.json"), "w") as f:
            json.dump(summary, f, indent=1)
        print(f"{done} cases, {len(findings)} distinct findings", flush=True)
    shutil.rmtree(work, ignore_errors=True)
    return 1 if findings else 0


if __name__ == "__main__":
    sys.exit(main())
