"""Figures for the README and docs, drawn from real runs into docs/assets/ (each figure, and the
data it is drawn from: dann_lightning.experiments.figures).

    python scripts/figures.py                 # every figure
    python scripts/figures.py --only schedules suite_gain
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
