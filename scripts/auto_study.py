"""Which lambda_max="auto" (criterion, margin, candidates, or IWA combination) and which fixed
defaults should users get? Measured on the shift suite, from one run per (task, network, seed).

    python scripts/auto_study.py --workers 2 --json results/auto_study.json          # 15 tasks x 2 networks
    python scripts/auto_study.py --quick --networks tanh128 gelu256_batchnorm relu64_dropout --workers 2
    python scripts/auto_study.py --heldout --workers 2                               # the held-out families
    python scripts/auto_study.py --from-json results/auto_study.json --show auto:iwcv@1/lambdas

Each run trains the candidates of dann_lightning.experiments.auto_study.STUDY_CANDIDATES side by
side; every criterion then picks within each candidate set with each margin, IWA combines each set,
and every pick is scored on the target test rows. The peers' recipe (constant lambda 1, Adam 1e-3,
no annealing) trains on its own. Tables: contenders ranked against source-only, each (task,
network) pair for the contenders named by --show, and how well each criterion orders candidates.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

from dann_lightning.experiments.auto_report import criteria_table, ranked_summary, study_results
from dann_lightning.experiments.auto_study import KNOWN_TASKS, peer_run, study_run
from dann_lightning.experiments.suite import (
    NETWORKS,
    QUICK_NETWORKS,
    QUICK_TASKS,
    TASKS,
    check_names,
)
from dann_lightning.experiments.suite_report import pair_table
from dann_lightning.selection import SCORE_SPECS

DEFAULT_SHOW = ["lambda_0.1", "peer_recipe", "auto:consistency@0/lambdas", "auto:iwcv@1/lambdas"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help=f"tasks {QUICK_TASKS}")
    parser.add_argument("--heldout", action="store_true", help="the held-out task families")
    parser.add_argument("--tasks", nargs="+")
    parser.add_argument("--networks", nargs="+", default=QUICK_NETWORKS)
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--epochs", type=int, default=60)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--json", help="write every run's record here")
    parser.add_argument("--from-json", nargs="+", help="report these records instead of running")
    parser.add_argument("--rerun-peers", help="train the peer_recipe runs of this records file again, in place")
    parser.add_argument("--show", nargs="+", default=DEFAULT_SHOW, help="contenders of the per-pair table")
    parser.add_argument("--best", type=int, default=30, help="rows of the ranked summary")
    args = parser.parse_args()

    if args.rerun_peers:
        rerun_peers(args.rerun_peers, args.workers)
        args.from_json = [args.rerun_peers]
    if args.from_json:
        records, peers, command = {}, {}, []
        for path in args.from_json:
            saved = json.loads(Path(path).read_text())
            command.append(saved["command"])
            for pair in saved["pairs"]:
                key = (pair["task"], pair["network"])
                records[key], peers[key] = pair["records"], {"peer_recipe": pair["peer_recipe"]}
    else:
        command = [f"python scripts/auto_study.py {' '.join(sys.argv[1:])}".strip()]
        records, peers = run(args)
    print("\n".join(command))
    results = study_results(records, peers)
    contenders = [name for name in next(iter(results.values())) if name != "lambda_0"]
    print(f"\ntarget test accuracy, median over seeds; {len(results)} (task, network) pairs\n")
    print("\n".join(ranked_summary(results, contenders, args.best)))
    print()
    print("\n".join(pair_table(results, ["source_only", *args.show])))
    print()
    print("\n".join(criteria_table(records, list(SCORE_SPECS))))


def run(args: argparse.Namespace) -> tuple[dict, dict]:
    from dann_lightning.experiments.heldout import HELDOUT_TASKS

    default = list(HELDOUT_TASKS) if args.heldout else (QUICK_TASKS if args.quick else list(TASKS))
    tasks = check_names("task", args.tasks or default, KNOWN_TASKS, program="auto_study")
    networks = check_names("network", args.networks, NETWORKS, program="auto_study")
    pairs = [(task, network) for task in tasks for network in networks]
    study_jobs = [(t, n, seed, args.epochs, args.batch_size) for t, n in pairs for seed in range(args.seeds)]
    peer_jobs = [
        (t, n, "peer_recipe", seed, args.epochs, args.batch_size) for t, n in pairs for seed in range(args.seeds)
    ]
    start = time.perf_counter()
    with ProcessPoolExecutor(args.workers) as pool:
        studied = list(pool.map(study_run, study_jobs))
        peered = list(pool.map(peer_run, peer_jobs))
    records: dict = {}
    peers: dict = {}
    for job, record in zip(study_jobs, studied, strict=True):
        records.setdefault(job[:2], []).append(record)
    for job, accuracy in zip(peer_jobs, peered, strict=True):
        peers.setdefault(job[:2], {}).setdefault("peer_recipe", []).append(accuracy)
    print(
        f"{len(study_jobs)} study runs and {len(peer_jobs)} peer runs, {time.perf_counter() - start:.0f} s",
        file=sys.stderr,
    )
    if args.json:
        saved = {
            "command": f"python scripts/auto_study.py {' '.join(sys.argv[1:])}".strip(),
            "pairs": [
                {"task": t, "network": n, "records": records[(t, n)], "peer_recipe": peers[(t, n)]["peer_recipe"]}
                for t, n in pairs
            ],
        }
        Path(args.json).parent.mkdir(parents=True, exist_ok=True)
        Path(args.json).write_text(json.dumps(saved) + "\n")
    return records, peers


def rerun_peers(path: str, workers: int) -> None:
    """Train every peer_recipe run of a records file again (same tasks, networks, seeds, epochs) and save it."""
    saved = json.loads(Path(path).read_text())
    epochs = int(saved["command"].split("--epochs ")[1].split()[0]) if "--epochs " in saved["command"] else 60
    jobs = [
        (pair["task"], pair["network"], "peer_recipe", seed, epochs, 64)
        for pair in saved["pairs"]
        for seed in range(len(pair["peer_recipe"]))
    ]
    with ProcessPoolExecutor(workers) as pool:
        accuracies = iter(list(pool.map(peer_run, jobs)))
    for pair in saved["pairs"]:
        pair["peer_recipe"] = [next(accuracies) for _ in pair["peer_recipe"]]
    saved["command"] += " (peer_recipe rerun with lambda_max=1.0)"
    Path(path).write_text(json.dumps(saved) + "\n")


if __name__ == "__main__":
    main()
