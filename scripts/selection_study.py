"""Which unsupervised score should a user monitor? Rank correlation with target accuracy
(dann_lightning.experiments.selection).

Trains one config over seeds and lambda_max values, keeps a checkpoint every few epochs,
and scores every checkpoint without target labels (entropy, IM, SND, DEV, PAD) and with them
(target test accuracy, the oracle). Prints

1. the proxy A-distance of the final features, source-only (lambda_max 0) vs DANN;
2. per score, the Spearman correlation with target accuracy over all checkpoints (signed so
   that positive means "the better score goes with the better accuracy"), and the target
   accuracy of the checkpoint each score would pick, beside the best one an oracle would pick.

    python scripts/selection_study.py --config configs/moons.yaml
"""

from __future__ import annotations

import argparse
import time

from dann_lightning.experiments.selection import final_table, score_checkpoints, score_table


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--config", default="configs/moons.yaml")
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--lambdas", type=float, nargs="+", default=[0.0, 0.1, 0.3, 1.0, 3.0])
    parser.add_argument("--every", type=int, default=25, help="keep a checkpoint every N epochs")
    args = parser.parse_args()

    start = time.perf_counter()
    rows = score_checkpoints(args.config, args.seeds, args.lambdas, args.every)
    print(f"**{args.config}: {len(rows)} checkpoints, {args.seeds} seeds x lambda_max {args.lambdas}**\n")
    print("\n".join(final_table(rows, args.lambdas)))
    print()
    print("\n".join(score_table(rows)))
    print(f"\n{time.perf_counter() - start:.0f} s in all")


if __name__ == "__main__":
    main()
