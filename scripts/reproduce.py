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
import statistics
from concurrent.futures import ProcessPoolExecutor

from dann_lightning.experiments.runs import run_config, save_json

# The DANN config without one of its choices: (row, overrides).
ABLATIONS = {
    # No adversarial term: what domain-specific normalisation alone (target statistics) does.
    "DANN config, lambda_max 0": ["--model.init_args.lambda_max=0"],
    # One simultaneous update of all networks per batch, the paper's way.
    "DANN config, automatic optimization (1 discriminator update)": [
        "--model.init_args.optimization=automatic",
        "--model.init_args.discriminator_steps=1",
        "--model.init_args.discriminator_optimizer=null",
    ],
}


PAIRS = {
    "moons": {
        "title": "Two moons, target rotated 35 degrees",
        "runs": {
            "source-only": "configs/moons_source_only.yaml",
            "DANN": "configs/moons.yaml",
            "CDAN+E": "configs/moons_cdan.yaml",
            "target-only (oracle)": "configs/moons_target_only.yaml",
        },
    },
    "digits": {
        "title": "digits -> digits-M (scikit-learn's digits; the MNIST-M recipe on its sample photos)",
        "runs": {
            "source-only": "configs/digits_source_only.yaml",
            "DANN": "configs/digits.yaml",
            "CDAN+E": "configs/digits_cdan.yaml",
            "target-only (oracle)": "configs/digits_target_only.yaml",
        },
        # The paper's MNIST -> MNIST-M row (Ganin et al. 2016, table 2), for reference.
        "paper": {"source-only": 0.5225, "DANN": 0.7666, "target-only (oracle)": 0.9596},
        "ablations": ABLATIONS,
    },
}


def run(config: str, seed: int, overrides: list[str], threads: int = 0) -> dict:
    """Fit and test one config with one seed, in this process: accuracy, fit wall and CPU seconds."""
    return run_config(config, seed, overrides, threads)


def table(title: str, rows: dict[str, list[dict]], configs: dict[str, str], paper: dict[str, float] | None) -> str:
    header = "| run | config | median | worst | best | fit time per run, wall / CPU (s) | per seed |"
    lines = [f"**{title}**", "", header, "|---|---|---|---|---|---|---|"]
    for name, results in rows.items():
        accs = [r["accuracy"] for r in results]
        wall = max(r["seconds"] for r in results)
        cpu = max(r["cpu_seconds"] for r in results)
        lines.append(
            f"| {name} | `{configs[name]}` | {statistics.median(accs):.3f} | {min(accs):.3f} | {max(accs):.3f} "
            f"| {wall:.0f} / {cpu:.0f} | {' '.join(f'{a:.3f}' for a in accs)} |"
        )
    if paper:
        lines.extend(f"| *paper, MNIST -> MNIST-M: {name}* | | {value:.4f} | | | | |" for name, value in paper.items())
    return "\n".join(lines)


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
    plan = {name: (config, []) for name, config in pair["runs"].items()}
    if args.ablation:
        for name, overrides in pair.get("ablations", {}).items():
            plan[name] = (pair["runs"]["DANN"], overrides)
    if args.only:
        unknown = set(args.only) - set(plan)
        if unknown:
            parser.error(f"unknown rows {sorted(unknown)}; valid: {sorted(plan)}")
        plan = {name: plan[name] for name in args.only}

    # One fresh worker process at a time: runs do not share threads or memory, and each starts clean.
    results: dict[str, list[dict]] = {}
    for name, (config, overrides) in plan.items():
        for seed in range(args.seeds):
            with ProcessPoolExecutor(max_workers=1) as pool:
                result = pool.submit(run, config, seed, overrides, args.threads).result()
            print(
                f"{name}, seed {seed}: {result['accuracy']:.3f} in {result['seconds']:.0f} s "
                f"({result['cpu_seconds']:.0f} s CPU)",
                flush=True,
            )
            results.setdefault(name, []).append(result)

    configs = {name: config for name, (config, _) in plan.items()}
    title = f"{pair['title']}: target test accuracy over {args.seeds} seeds"
    print()
    print(table(title, results, configs, pair.get("paper")))
    if args.json:
        save_json(args.json, {title: results})
    builds = [r["build_seconds"] for rows in results.values() for r in rows if r["build_seconds"] is not None]
    if builds:
        print(f"\nData set built in {min(builds):.2f} to {max(builds):.2f} s per run.")


if __name__ == "__main__":
    main()
