"""Print the training-time table of results/wiki/README.md: mean fit seconds over seeds, per method and bits."""

import json
import sys
from pathlib import Path

import pandas as pd

records = Path(sys.argv[1] if len(sys.argv) > 1 else "records")
rows = []
for path in records.glob("*.json"):
    record = json.loads(path.read_text())
    name = record["method"] + (f" ({record['variant']})" if record.get("variant") else "")
    rows.append({"method": name, "bits": record["bits"], "fit_s": record["timings"]["fit_s"]})
table = pd.DataFrame(rows).groupby(["method", "bits"]).fit_s.mean().unstack().round(3)
table.columns = [f"fit s, {bits} bits" for bits in table.columns]
print(table.to_markdown())
