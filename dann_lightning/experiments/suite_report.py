"""The shift suite's tables: per (task, network) pair, and each contender against source-only.

``results`` maps ``(task, network)`` to ``{contender: [target accuracy per seed]}``.
"""

from __future__ import annotations

import json
import statistics
from pathlib import Path

TIE = 0.01  # within one point of source-only counts as a tie
Results = dict[tuple[str, str], dict[str, list[float]]]


def record(gains: list[float]) -> tuple[int, int, int]:
    """Wins, ties and losses against source-only (accuracy gains rounded: 0.79 - 0.80 is a tie).

    Examples:
        >>> record([0.05, 0.79 - 0.80, -0.02])
        (1, 1, 1)
    """
    rounded = [round(gain, 9) for gain in gains]
    win, loss = sum(g > TIE for g in rounded), sum(g < -TIE for g in rounded)
    return win, len(gains) - win - loss, loss


def pair_table(results: Results, contenders: list[str]) -> list[str]:
    """One row per (task, network): each contender's median accuracy over seeds, and DANN's seeds
    against source-only's (win / tie / loss)."""
    lines = [
        f"| task | network | {' | '.join(contenders)} | DANN vs source-only: win / tie / loss |",
        "|---|---|" + "---|" * (len(contenders) + 1),
    ]
    for (task, network), scores in results.items():
        cells = " | ".join(f"{statistics.median(scores[c]):.3f}" for c in contenders)
        seeds = "n/a"
        if "dann" in scores and "source_only" in scores:
            gains = [d - s for d, s in zip(scores["dann"], scores["source_only"], strict=True)]
            seeds = " / ".join(map(str, record(gains)))
        lines.append(f"| {task} | {network} | {cells} | {seeds} |")
    return lines


def summary(results: Results, contenders: list[str]) -> list[str]:
    """Each contender against source-only (and the peers' recipe) over all (task, network) pairs,
    medians over seeds."""
    if "source_only" not in contenders:
        return []
    medians = {pair: {c: statistics.median(values) for c, values in scores.items()} for pair, scores in results.items()}
    peers = "peer_recipe" in contenders
    lines = [
        "| contender | win / tie / loss | not > 1 pt below | > 2 pts below | median gain where source-only < 0.9 "
        "| worst |" + (" within 1 pt of peer_recipe or above |" if peers else ""),
        "|---|---|---|---|---|---|" + ("---|" if peers else ""),
    ]
    for contender in contenders:
        if contender in ("source_only", "target_oracle"):
            continue
        gains = [m[contender] - m["source_only"] for m in medians.values()]
        hard = [m[contender] - m["source_only"] for m in medians.values() if m["source_only"] < 0.9]
        win, tie, loss = record(gains)
        far_below = sum(round(gain, 9) < -2 * TIE for gain in gains)
        median_hard = f"{100 * statistics.median(hard):+.1f}" if hard else "n/a"
        line = (
            f"| {contender} | {win} / {tie} / {loss} | {100 * (1 - loss / len(gains)):.0f}% | {far_below} | "
            f"{median_hard} | {100 * min(gains):+.1f} |"
        )
        if peers:
            _, _, behind = record([m[contender] - m["peer_recipe"] for m in medians.values()])
            line += f" {100 * (1 - behind / len(gains)):.0f}% |"
        lines.append(line)
    if "dann_auto" in contenders:
        for reference in [c for c in contenders if c not in ("source_only", "target_oracle", "dann_auto")]:
            positive = sum(max(0.0, m[reference] - m["source_only"]) for m in medians.values())
            auto = sum(max(0.0, m["dann_auto"] - m["source_only"]) for m in medians.values())
            if positive > 0:
                lines.append(f"\ndann_auto's summed positive gains: {100 * auto / positive:.0f}% of {reference}'s")
    return lines


def save_suite_json(path: str, command: str, results: Results) -> None:
    """Every run's accuracy with the command that measured them: what ``scripts/figures.py`` draws."""
    pairs = [
        {"task": task, "network": network, "accuracy": {c: [round(a, 4) for a in v] for c, v in scores.items()}}
        for (task, network), scores in results.items()
    ]
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    Path(path).write_text(json.dumps({"command": command, "pairs": pairs}, indent=1) + "\n")
