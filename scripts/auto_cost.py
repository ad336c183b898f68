"""What lambda_max="auto" (four candidates) costs against one DANN run: fit wall time and peak
resident memory, each run in a fresh process with one CPU thread, alternating, median of repeats.

    python scripts/auto_cost.py            # the suite's two MLPs (30 epochs), the digits CNN (2 epochs)
    python scripts/auto_cost.py --setups relu64 --repeats 5
"""

from __future__ import annotations

import argparse
import statistics

from dann_lightning.experiments.auto_cost import SETUPS, measure

EPOCHS = {"relu64": 30, "gelu256_layernorm": 30, "digits_cnn": 2}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--setups", nargs="+", choices=SETUPS, default=list(SETUPS))
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    print("| setup | epochs | DANN fit (s) | auto fit (s) | time ratio | DANN peak (MiB) | auto peak (MiB) | memory |")
    print("|---|---|---|---|---|---|---|---|")
    for setup in args.setups:
        runs: dict[bool, list[dict[str, float]]] = {False: [], True: []}
        for _ in range(args.repeats):
            for auto in (False, True):
                runs[auto].append(measure(setup, auto, EPOCHS[setup]))
        seconds = {auto: statistics.median(r["seconds"] for r in runs[auto]) for auto in runs}
        peak = {auto: statistics.median(r["peak_mib"] for r in runs[auto]) for auto in runs}
        print(
            f"| {setup} | {EPOCHS[setup]} | {seconds[False]:.1f} | {seconds[True]:.1f} | "
            f"{seconds[True] / seconds[False]:.2f}x | {peak[False]:.0f} | {peak[True]:.0f} | "
            f"{peak[True] / peak[False]:.2f}x |"
        )


if __name__ == "__main__":
    main()
