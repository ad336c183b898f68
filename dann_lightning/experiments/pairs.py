"""The domain pairs of docs/results.md: source-only, DANN, CDAN+E and target-only (the oracle) per
pair, each row a shipped config (``scripts/reproduce.py``)."""

from __future__ import annotations

import statistics
from concurrent.futures import ProcessPoolExecutor

from dann_lightning.experiments.runs import run_config

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


def run_fresh(config: str, seed: int, overrides: list[str], threads: int = 0) -> dict:
    """Fit and test one config with one seed in a fresh worker process (runs then share no threads
    or memory, and each starts clean): accuracy, fit wall and CPU seconds."""
    with ProcessPoolExecutor(max_workers=1) as pool:
        return pool.submit(run_config, config, seed, overrides, threads).result()


def pair_table(title: str, rows: dict[str, list[dict]], configs: dict[str, str], paper: dict[str, float] | None) -> str:
    """Each row's config, accuracies over seeds and longest fit (wall / CPU); the paper's numbers under them."""
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


def pair_plan(pair: str, ablation: bool = False, only: list[str] | None = None) -> dict[str, tuple[str, list[str]]]:
    """``{row: (config, overrides)}`` of ``pair``; with ``ablation`` also the DANN config without
    its choices; with ``only`` just those rows (an unknown one raises ``ValueError``, naming the valid ones).

    Examples:
        >>> list(pair_plan("moons", only=["DANN"]).items())
        [('DANN', ('configs/moons.yaml', []))]
    """
    runs = PAIRS[pair]
    plan = {name: (config, []) for name, config in runs["runs"].items()}
    if ablation:
        for name, overrides in runs.get("ablations", {}).items():
            plan[name] = (runs["runs"]["DANN"], overrides)
    if only:
        unknown = set(only) - set(plan)
        if unknown:
            raise ValueError(f"unknown rows {sorted(unknown)}; valid: {sorted(plan)}")
        plan = {name: plan[name] for name in only}
    return plan
