"""The tables of the ``lambda_max="auto"`` study: how each criterion, margin and candidate set does
against source-only and the peers' recipe, and how well each criterion orders the candidates."""

from __future__ import annotations

import math
import statistics

from dann_lightning.experiments.suite_report import TIE, Results, summary


def study_results(records: dict[tuple[str, str], list[dict[str, float]]], peers: Results) -> Results:
    """Seeds' records of one (task, network) -> ``{contender: [accuracy per seed]}``, with
    ``source_only`` (candidate ``lambda_0``) and ``peer_recipe`` from its own runs."""
    results: Results = {}
    for pair, seeds in records.items():
        contenders = {name: [seed[name] for seed in seeds] for name in seeds[0] if not name.startswith("rho:")}
        contenders["source_only"] = contenders["lambda_0"]
        contenders.update(peers.get(pair, {}))
        results[pair] = contenders
    return results


def ranked_summary(results: Results, contenders: list[str], best: int | None = None) -> list[str]:
    """The summary table, its rows sorted by: fewest pairs > 2 points below source-only, then the
    median gain where source-only is below 0.9; the first ``best`` rows."""
    lines = summary(results, ["source_only", *(c for c in contenders if c != "source_only")])
    header, rows = lines[:2], lines[2:]
    rows = [row for row in rows if row.startswith("| ")]

    def key(row: str) -> tuple[float, float]:
        cells = [cell.strip() for cell in row.strip("|").split("|")]
        median = cells[4]
        return int(cells[3]), -(float(median) if median != "n/a" else -math.inf)

    rows.sort(key=key)
    return header + rows[:best]


def criteria_table(records: dict[tuple[str, str], list[dict[str, float]]], criteria: list[str]) -> list[str]:
    """Per criterion (margin 0, every candidate): mean Spearman correlation of its scores with the
    candidates' target accuracy, its worst pick against source-only, and how often it keeps
    source-only on the draws where every adapted candidate is more than a point worse."""
    draws = [seed for seeds in records.values() for seed in seeds]
    candidates = [name for name in draws[0] if name.startswith("lambda_")]
    hopeless = [d for d in draws if all(d[c] < d["lambda_0"] - TIE for c in candidates if c != "lambda_0")]
    lines = [
        "| criterion | mean rank correlation | worst pick vs source-only (points) | keeps source-only where "
        f"every adapted candidate hurts ({len(hopeless)} draws) |",
        "|---|---|---|---|",
    ]
    for criterion in criteria:
        rhos = [d[f"rho:{criterion}"] for d in draws if not math.isnan(d[f"rho:{criterion}"])]
        picks = [d[f"auto:{criterion}@0/all"] - d["lambda_0"] for d in draws]
        kept = sum(d[f"auto:{criterion}@0/all"] == d["lambda_0"] for d in hopeless)
        rho = f"{statistics.mean(rhos):+.2f}" if rhos else "n/a"
        lines.append(f"| {criterion} | {rho} | {100 * min(picks):+.1f} | {kept} / {len(hopeless)} |")
    return lines
