"""Source-only, DANN, CDAN+E and target-only (the oracle) on a domain pair, over seeds: the tables in docs/results.md.

Runs the shipped configs exactly as `dann-lightning fit --config ...` would, changing only the seed
(`seed_everything` and the data draw), then tests on the held-out target split. One run at a time,
each in a fresh process; the longest fit of each row is reported beside the accuracies, as wall
time and as CPU time (the wall time of a single-threaded run on an otherwise idle machine).

    python scripts/reproduce.py digits              # digits -> digits-M, 3 seeds
    python scripts/reproduce.py moons --seeds 5     # the two-moons shift
    python scripts/reproduce.py digits --ablation   # + the DANN config without its choices
"""

from __future__ import annotations

import argparse

from dann_lightning.experiments.pairs import PAIRS, pair_plan, pair_table, run_fresh
from dann_lightning.experiments.runs import save_json


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("pair", choices=sorted(PAIRS), help="the domain pair")
    parser.add_argument("--seeds", type=int, default=3, help="seeds 0..N-1 (default 3)")
    parser.add_argument("--ablation", action="store_true", help="digits: also run the DANN config without its choices")
    parser.add_argument("--only", nargs="+", help="run only these rows (names as in the table)")
    parser.add_argument("--threads", type=int, default=0, help="torch threads per run (default: torch's)")
    parser.add_argument("--json", help="also write the per-seed accuracies here (what scripts/figures.py draws)")
    args = parser.parse_args()

    pair = PAIRS[args.pair]
    try:
        plan = pair_plan(args.pair, args.ablation, args.only)
    except ValueError as error:
        parser.error(str(error))

    results: dict[str, list[dict]] = {}
    for name, (config, overrides) in plan.items():
        for seed in range(args.seeds):
            result = run_fresh(config, seed, overrides, args.threads)
            print(
                f"{name}, seed {seed}: {result['accuracy']:.3f} in {result['seconds']:.0f} s "
                f"({result['cpu_seconds']:.0f} s CPU)",
                flush=True,
            )
            results.setdefault(name, []).append(result)

    configs = {name: config for name, (config, _) in plan.items()}
    title = f"{pair['title']}: target test accuracy over {args.seeds} seeds"
    print()
    print(pair_table(title, results, configs, pair.get("paper")))
    if args.json:
        save_json(args.json, {title: results})
    builds = [r["build_seconds"] for rows in results.values() for r in rows if r["build_seconds"] is not None]
    if builds:
        print(f"\nData set built in {min(builds):.2f} to {max(builds):.2f} s per run.")


if __name__ == "__main__":
    main()
