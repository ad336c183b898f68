"""Print, one per line, `name==floor` for the direct dependencies CI tests at their lowest version.

The floors are read from pyproject.toml, so the versions tested are the ones declared.
"""

import re
import sys
from pathlib import Path

import tomllib

TESTED_AT_FLOOR = {"lightning", "torchmetrics", "scikit-learn", "jsonargparse"}

pyproject = Path(__file__).parents[1] / "pyproject.toml"
dependencies = tomllib.loads(pyproject.read_text())["project"]["dependencies"]
found = set()
for requirement in dependencies:
    match = re.fullmatch(r"([A-Za-z0-9_.-]+)(\[[^\]]*\])?\s*>=\s*([^,;\s]+).*", requirement)
    if match and match.group(1) in TESTED_AT_FLOOR:
        name, extras, floor = match.groups()
        print(f"{name}{extras or ''}=={floor}")
        found.add(name)
if found != TESTED_AT_FLOOR:
    sys.exit(f"pyproject.toml declares no '>=' floor for {sorted(TESTED_AT_FLOOR - found)}")
