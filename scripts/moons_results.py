"""Target accuracy of source-only, DANN and CDAN+E on the two-moons shift, over seeds and shifts.

Runs the shipped configs exactly as `dann-lightning fit --config ...` would, with only the seed
(and, for the extra tables, the listed options) changed, then tests on the held-out target split.

    python scripts/moons_results.py               # configs/moons*.yaml, 5 seeds (the table in docs/results.md)
    python scripts/moons_results.py --shifts      # + milder and harsher shifts, 3 seeds each
    python scripts/moons_results.py --ablation    # + DANN without the defaults' choices, 5 seeds
"""

from __future__ import annotations

import argparse

from dann_lightning.experiments.runs import run_plan

CONFIGS = {
    "source-only": "configs/moons_source_only.yaml",
    "DANN": "configs/moons.yaml",
    "DANN, manual optimization": "configs/moons_manual.yaml",
    "CDAN+E": "configs/moons_cdan.yaml",
}
SHIFTS = [(20.0, 0.1), (50.0, 0.1), (35.0, 0.05), (35.0, 0.2)]  # (angle in degrees, noise)
RELU = ["--model.init_args.feature_extractor.init_args.activation=relu"]
ABLATIONS = {
    "DANN, ReLU features": RELU,
    "plain DANN: ReLU, 64 wide, Adam 1e-3, 100 epochs": [
        *RELU,
        "--model.init_args.feature_extractor.init_args.hidden_features=[64, 64]",
        "--model.init_args.classifier.init_args.in_features=64",
        "--model.init_args.discriminator.init_args.in_features=64",
        "--model.init_args.discriminator.init_args.hidden_features=[64]",
        "--model.init_args.discriminator.init_args.activation=relu",
        "--model.init_args.optimizer.init_args.lr=0.001",
        "--trainer.max_epochs=100",
    ],
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seeds", type=int, default=5, help="seeds 0..N-1 of the main table (default 5)")
    parser.add_argument("--shifts", action="store_true", help="also run milder and harsher shifts")
    parser.add_argument("--shift-seeds", type=int, default=3, help="seeds per extra shift (default 3)")
    parser.add_argument("--ablation", action="store_true", help="also run DANN without the defaults' choices")
    parser.add_argument("--json", help="also write the per-seed accuracies here (what scripts/figures.py draws)")
    parser.add_argument("--jobs", type=int, default=1, help="runs in parallel, one thread each (times then grow)")
    args = parser.parse_args()

    # (table, row) -> list of (config, seed, overrides)
    plan: dict[tuple[str, str], list[tuple[str, int, list[str]]]] = {}
    main_title = f"Two moons, 35 degrees, noise 0.1: target test accuracy over {args.seeds} seeds"
    for name, config in CONFIGS.items():
        plan[main_title, name] = [(config, seed, []) for seed in range(args.seeds)]
    if args.shifts:
        title = f"Other shifts, same configs: target test accuracy over {args.shift_seeds} seeds"
        for angle, noise in SHIFTS:
            options = [f"--data.init_args.angle={angle}", f"--data.init_args.noise={noise}"]
            for name in ("source-only", "DANN"):
                config = CONFIGS[name]
                row = f"{name}, {angle:g} degrees, noise {noise:g}"
                plan[title, row] = [(config, seed, options) for seed in range(args.shift_seeds)]
    if args.ablation:
        title = f"Without the defaults' choices (35 degrees, noise 0.1), {args.seeds} seeds"
        for name, options in ABLATIONS.items():
            plan[title, name] = [(CONFIGS["DANN"], seed, options) for seed in range(args.seeds)]

    threads = 1 if args.jobs > 1 else 0
    print(run_plan(plan, args.jobs, threads, args.json))


if __name__ == "__main__":
    main()
