"""Which label-free criterion should ``lambda_max="auto"`` choose by? Measured on the shift suite.

For every (task, network, seed) of ``scripts/shift_suite.py`` each candidate ``lambda_max`` is
trained on its own (the same seed, so the same initial weights and batches), then scored by every
criterion from what a user has: labelled source validation rows and unlabelled target rows. The
report gives, per criterion, the Spearman rank correlation of its score with the target test
accuracy across the candidates of one draw (mean over draws), and what picking by it yields:
the mean gain over source-only, the worst loss, how often it loses more than 2 points, and how
often it keeps source-only where every adapted candidate is worse.

    python scripts/lambda_criteria.py --workers 2
    python scripts/lambda_criteria.py --tasks moons_40 breast_cancer --networks relu64 --seeds 1
"""

from __future__ import annotations

import argparse
import sys

from dann_lightning.experiments.criteria import DEFAULT_TASKS, check_candidates, report, run_study
from dann_lightning.experiments.suite import NETWORKS, QUICK_NETWORKS, TASKS, check_names
from dann_lightning.lambda_search import DEFAULT_LAMBDA_CANDIDATES


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--tasks", nargs="+", default=DEFAULT_TASKS)
    parser.add_argument("--networks", nargs="+", default=QUICK_NETWORKS)
    parser.add_argument("--lambdas", nargs="+", type=float, default=list(DEFAULT_LAMBDA_CANDIDATES))
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--epochs", type=int, default=60)
    parser.add_argument("--workers", type=int, default=1)
    args = parser.parse_args()
    tasks = check_names("task", args.tasks, TASKS, program="lambda_criteria")
    networks = check_names("network", args.networks, NETWORKS, program="lambda_criteria")
    lambdas = check_candidates(args.lambdas)
    draws = run_study(tasks, networks, lambdas, args.seeds, args.epochs, args.workers)
    print(f"python scripts/lambda_criteria.py {' '.join(sys.argv[1:])}".strip())
    print(f"candidates lambda_max in {args.lambdas}; {len(draws)} draws (task x network x seed), {args.epochs} epochs")
    print("\n".join(report(draws)))


if __name__ == "__main__":
    main()
