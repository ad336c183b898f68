"""The studies behind the docs' numbers, importable: what ``scripts/`` runs.

Each script in ``scripts/`` is a thin entry point (its options, then a call into here); the tests
import these modules, never a script. Run the scripts from the repository root.

- ``runs``: fit a shipped config as ``dann-lightning fit`` would, over seeds and processes, and
  the results tables; ``plans``: the moons and tabular tables as plans of runs; ``pairs``: the
  domain pairs of docs/results.md; ``regression``: the regression shifts; ``estimators``: the
  scikit-learn estimators' runs.
- ``suite``: the shift suite's tasks, networks and contenders, and one run of them;
  ``suite_report``: its tables. ``criteria``: the study of ``lambda_max="auto"``'s criterion.
- ``selection``: label-free scores against target accuracy; ``pad``: the proxy A-distance's
  classifier.
- ``timing``: the one step timer (batch start to next batch start) and the machine's CPU steal.
- ``minimal``: the smallest LightningModule a user would write for the DANN step, the benchmark's
  measure of what Lightning itself costs; ``benchmark``: ms per step of a plain loop, that module
  and ``DANNLitModule``; ``overhead``: where a small step's time goes; ``scaling``: epoch time
  and memory against the number of rows; ``compile_cost``: ``torch.compile``'s one-time cost;
  ``ddp``: one process against DDP on two.
- ``figures``: the figures of the README and docs.
"""
