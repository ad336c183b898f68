"""Which linear classifier should the proxy A-distance use? Linear SVM (the paper's) vs logistic regression
(dann_lightning.experiments.pad).

For each feature set, each sample size per domain and each estimator, PAD over ``--seeds`` seeds
(each seed draws another subset and another train/test split): mean, standard deviation across
seeds, and the median wall time of one call (the whole sweep over C). Feature sets:

- Gaussian pairs N(0, I) vs N(delta * e_1, I) in D dimensions, whose PAD with the best linear
  classifier and unlimited data is known: 2 (1 - 2 Phi(-delta / 2));
- the validation features of a tiny network trained on the two moons (``configs/moons.yaml``,
  128 features), source-only (lambda_max 0) and DANN (lambda_max 1).

    python scripts/pad_estimators.py
"""

from __future__ import annotations

import argparse
import sys

from dann_lightning.experiments.pad import feature_sets, pad_rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seeds", type=int, default=10)
    parser.add_argument("--sizes", type=int, nargs="+", default=[250, 500, 1000])
    parser.add_argument("--moons-epochs", type=int, default=40)
    parser.add_argument("--no-moons", action="store_true")
    args = parser.parse_args()
    print("python " + " ".join(sys.argv), flush=True)
    for line in pad_rows(feature_sets(not args.no_moons, args.moons_epochs), args.sizes, args.seeds):
        print(line, flush=True)


if __name__ == "__main__":
    main()
