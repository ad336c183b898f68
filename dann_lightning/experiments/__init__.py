"""The studies behind the docs' numbers, importable: what ``scripts/`` runs.

Each script in ``scripts/`` is a thin entry point (its options, then a call into here); the tests
import these modules, never a script.

- [`runs`][dann_lightning.experiments.runs]: fit a shipped config as ``dann-lightning fit`` would,
  over seeds, and the results tables.
- [`suite`][dann_lightning.experiments.suite]: the shift suite's tasks, networks and contenders,
  and one run of them; [`suite_report`][dann_lightning.experiments.suite_report] its tables.
- [`criteria`][dann_lightning.experiments.criteria]: the study of ``lambda_max="auto"``'s criterion.
- [`timing`][dann_lightning.experiments.timing]: the one step timer, and the machine's CPU steal.
- [`minimal`][dann_lightning.experiments.minimal]: the smallest LightningModule a user would write
  for the DANN step, the benchmark's reference for what Lightning itself costs.
- [`benchmark`][dann_lightning.experiments.benchmark]: milliseconds per step of a plain loop, the
  minimal LightningModule and ``DANNLitModule``; [`scaling`][dann_lightning.experiments.scaling]:
  epoch time and memory against the number of rows.
"""
