"""Two-moons DANN on one process vs DDP on two CPU processes (gloo), through the CLI: target
accuracy and wall time per fit (the runs and what each compares: dann_lightning.experiments.ddp).

    python scripts/ddp_moons.py --seeds 3
"""

from __future__ import annotations

import argparse
import statistics
import sys

from dann_lightning.experiments.ddp import RUNS, run


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seeds", type=int, default=3)
    args = parser.parse_args()
    print(f"python scripts/ddp_moons.py {' '.join(sys.argv[1:])}".strip())
    print(f"| run | target accuracy, median of {args.seeds} seeds | per seed | wall time per fit (s) |")
    print("|---|---|---|---|")
    for name, options in RUNS.items():
        results = [run(options, seed) for seed in range(args.seeds)]
        accs = [r["accuracy"] for r in results]
        seconds = statistics.mean(r["seconds"] for r in results)
        per_seed = " ".join(f"{a:.3f}" for a in accs)
        print(f"| {name} | {statistics.median(accs):.3f} | {per_seed} | {seconds:.0f} |", flush=True)


if __name__ == "__main__":
    main()
