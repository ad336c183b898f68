"""One-time cost and steady step time of `compile: true` (torch.compile, inductor) on two moons
(dann_lightning.experiments.compile_cost).

    python scripts/compile_cost.py
    python scripts/compile_cost.py --epochs 20   # a shorter run
"""

from __future__ import annotations

import argparse
import sys

from dann_lightning.experiments.compile_cost import compile_table


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--epochs", type=int, default=200, help="epochs of each fit (default 200)")
    args = parser.parse_args()
    print(f"python scripts/compile_cost.py {' '.join(sys.argv[1:])}".strip())
    print(compile_table(args.epochs))


if __name__ == "__main__":
    main()
