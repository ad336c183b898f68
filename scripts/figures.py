"""Figures for the README and docs, drawn from real runs into docs/assets/.

    python scripts/figures.py                 # every figure below
    python scripts/figures.py --only schedules suite_gain

- ``moons_boundaries.png``: source-only and DANN decision boundaries on the two-moons shift
  (``configs/moons.yaml`` and the same config with ``lambda_max: 0``, seed 0, 200 epochs each).
- ``schedules.png``: the paper's lambda ramp and learning-rate annealing over training progress.
- ``accuracy_per_seed.png``: every seed's target test accuracy of the results tables (moons,
  digits -> digits-M, the tabular shift), read from ``docs/assets/data/{moons,digits,tabular}.json``,
  which the results scripts write with ``--json`` (each file names the command that measured it).
- ``regression_per_seed.png``: every seed's target test RMSE of source-only, DANN and the oracle on
  each regression shift, from ``docs/assets/data/regression.json`` (``scripts/regression_results.py --json``).
- ``suite_gain.png``: DANN's gain over source-only on every (task, network) pair of the shift
  suite, from ``docs/assets/data/shift_suite.json`` (``scripts/shift_suite.py --json``).
- ``digits_tsne.png``: t-SNE of source and target features on digits -> digits-M, trained
  source-only (``configs/digits_source_only.yaml``) and with DANN (``configs/digits.yaml``), seed 0
  (about 10 minutes on 2 CPU cores).
"""

from __future__ import annotations

import argparse
from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # files only, no window

from dann_lightning.experiments.figures import FIGURES


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--only", nargs="+", choices=list(FIGURES), help="these figures only")
    parser.add_argument("--root", default="/tmp/dann_lightning_figures", help="where the training runs write")
    args = parser.parse_args()
    for name in args.only or FIGURES:
        FIGURES[name](Path(args.root))


if __name__ == "__main__":
    main()
