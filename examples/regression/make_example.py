"""Write the example tables that configs/regression_files.yaml reads, from the embedded regression shift.

    python examples/regression/make_example.py     # rewrites the three CSV files next to this script

- source.csv: labelled source rows (columns id, x0..x9, value: the number to predict);
- target.csv: target rows without labels (id, x0..x9): what a user usually has;
- target_test.csv: labelled target rows to measure the result on (id, x0..x9, value).
"""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np

from dann_lightning.data import make_regression_shift

HERE = Path(__file__).resolve().parent


def write(path: Path, x: np.ndarray, y: np.ndarray | None, first_id: int) -> None:
    header = ["id", *(f"x{index}" for index in range(x.shape[1]))] + (["value"] if y is not None else [])
    with path.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(header)
        for row, values in enumerate(x):
            cells = [first_id + row, *(f"{value:.3f}" for value in values)]
            writer.writerow(cells + ([f"{y[row]:.4f}"] if y is not None else []))


def main() -> None:
    shift = make_regression_shift("covariate", n_samples=500, n_val=1, n_test=250, seed=2024)  # validation unused
    write(HERE / "source.csv", *shift.source_train, first_id=0)
    write(HERE / "target.csv", shift.target_train[0], None, first_id=10_000)
    write(HERE / "target_test.csv", *shift.target_test, first_id=20_000)


if __name__ == "__main__":
    main()
