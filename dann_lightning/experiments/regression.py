"""Target test RMSE of source-only, DANN and the target-only oracle on the regression shifts, as
``configs/regression_example.yaml`` trains them (``scripts/regression_results.py``).

Each DANN row is compared with source-only: the median RMSE ratio and the worst seed's.
"""

from __future__ import annotations

import statistics

from dann_lightning.experiments.runs import run_config

CONFIG = "configs/regression_example.yaml"
RUNS = {
    "source-only": ["--model.init_args.lambda_max=0"],
    "DANN": [],
    "DANN, lambda_max=auto": ["--model.init_args.lambda_max=auto"],
    "target-only (oracle)": ["--data.init_args.train_on=target", "--model.init_args.lambda_max=0"],
}
KINDS = {
    "covariate": "Embedded covariate shift (10 features, target inputs moved by 1 on half of them)",
    "sparse": "Harder variant: the target's region sparsely covered by the source (5% of source draws)",
    "diabetes_bmi": "scikit-learn diabetes, source BMI <= median, target BMI > median",
}


def run_regression(kind: str, seed: int, overrides: list[str], threads: int) -> dict:
    """Fit and test one run; the target test RMSE and R², and the fit's wall seconds."""
    result = run_config(CONFIG, seed, [f"--data.init_args.options.kind={kind}", *overrides], threads)
    metrics = result["metrics"]
    return {"rmse": metrics["test/target_rmse"], "r2": metrics["test/target_r2"], "seconds": result["seconds"]}


def report(kind: str, seeds: int, results: dict[str, list[dict]]) -> str:
    """The table of one shift's runs, and each DANN row against source-only."""
    lines = [
        f"**{KINDS.get(kind, kind)}**: target test RMSE over {seeds} seeds (lower is better)",
        "",
        "| run | median RMSE | median R² | per seed (RMSE) | fit time per run (s) |",
        "|---|---|---|---|---|",
    ]
    for name, runs in results.items():
        rmse = [r["rmse"] for r in runs]
        lines.append(
            f"| {name} | {statistics.median(rmse):.3f} | {statistics.median(r['r2'] for r in runs):.3f} | "
            f"{' '.join(f'{value:.3f}' for value in rmse)} | {statistics.mean(r['seconds'] for r in runs):.1f} |"
        )
    if "source-only" not in results:
        return "\n".join(lines)
    source = [r["rmse"] for r in results["source-only"]]
    lines.append("")
    for name in (name for name in results if name in ("DANN", "DANN, lambda_max=auto")):
        runs = [r["rmse"] for r in results[name]]
        ratio = statistics.median(runs) / statistics.median(source)
        worst = max(d / s for d, s in zip(runs, source, strict=True))
        lines.append(f"{name} / source-only median RMSE: {ratio:.3f}; worst seed: {worst:.3f}")
    return "\n".join(lines)
