"""The results tables of docs/results.md as plans for
`run_plan`: ``{(table title, row): [(config, seed,
overrides), ...]}``, for the two moons (``scripts/moons_results.py``) and the tabular shift
(``scripts/tabular_results.py``).
"""

from __future__ import annotations

Plan = dict[tuple[str, str], list[tuple[str, int, list[str]]]]

MOONS_CONFIGS = {
    "source-only": "configs/moons_source_only.yaml",
    "DANN": "configs/moons.yaml",
    "DANN, manual optimization": "configs/moons_manual.yaml",
    "CDAN+E": "configs/moons_cdan.yaml",
}
MOONS_SHIFTS = [(20.0, 0.1), (50.0, 0.1), (35.0, 0.05), (35.0, 0.2)]  # (angle in degrees, noise)
RELU = ["--model.init_args.feature_extractor.init_args.activation=relu"]
MOONS_ABLATIONS = {
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
TABULAR_CONFIG = "configs/tabular_example.yaml"
TABULAR_RUNS = {"source-only (`lambda_max=0`)": ["--model.init_args.lambda_max=0"], "DANN": []}


def moons_plan(seeds: int, shifts: bool = False, shift_seeds: int = 3, ablation: bool = False) -> Plan:
    """The shipped moons configs over ``seeds``; with ``shifts`` milder and harsher shifts over
    ``shift_seeds``; with ``ablation`` DANN without the defaults' choices.

    Examples:
        >>> plan = moons_plan(2)
        >>> [(row, [seed for _, seed, _ in runs]) for (_, row), runs in plan.items()][1]
        ('DANN', [0, 1])
    """
    plan: Plan = {}
    main_title = f"Two moons, 35 degrees, noise 0.1: target test accuracy over {seeds} seeds"
    for name, config in MOONS_CONFIGS.items():
        plan[main_title, name] = [(config, seed, []) for seed in range(seeds)]
    if shifts:
        title = f"Other shifts, same configs: target test accuracy over {shift_seeds} seeds"
        for angle, noise in MOONS_SHIFTS:
            options = [f"--data.init_args.options.angle={angle}", f"--data.init_args.options.noise={noise}"]
            for name in ("source-only", "DANN"):
                config = MOONS_CONFIGS[name]
                row = f"{name}, {angle:g} degrees, noise {noise:g}"
                plan[title, row] = [(config, seed, options) for seed in range(shift_seeds)]
    if ablation:
        title = f"Without the defaults' choices (35 degrees, noise 0.1), {seeds} seeds"
        for name, options in MOONS_ABLATIONS.items():
            plan[title, name] = [(MOONS_CONFIGS["DANN"], seed, options) for seed in range(seeds)]
    return plan


def tabular_plan(seeds: int, strengths: list[float], strength_seeds: int = 3) -> Plan:
    """configs/tabular_example.yaml, source-only and DANN, over ``seeds``; and at each of
    ``strengths`` over ``strength_seeds``."""
    plan: Plan = {}
    main_title = f"Embedded tabular shift, strength 1: target test accuracy over {seeds} seeds"
    for name, overrides in TABULAR_RUNS.items():
        plan[main_title, name] = [(TABULAR_CONFIG, seed, overrides) for seed in range(seeds)]
    if strengths:
        title = f"Other shift strengths, same config: target test accuracy over {strength_seeds} seeds"
        for strength in strengths:
            for name, overrides in TABULAR_RUNS.items():
                options = [*overrides, f"--data.init_args.options.strength={strength}"]
                plan[title, f"{name}, strength {strength:g}"] = [
                    (TABULAR_CONFIG, seed, options) for seed in range(strength_seeds)
                ]
    return plan
