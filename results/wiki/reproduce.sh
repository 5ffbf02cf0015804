#!/usr/bin/env bash
# Reproduce results/wiki/README.md: every built-in method on the bundled Wikipedia data, one thread per run,
# 16/32/64/128 bits, seeds 0 1 2 (configs/wiki.toml). Configurations already in records/ are skipped.
set -euo pipefail
cd "$(dirname "$0")"
hashbench grid ../../configs/wiki.toml --results records --workers 2 --threads 2  # one thread per run: the records' ids
hashbench table --results records --timings
hashbench plot --results records --out plots
(cd ../.. && hashbench report --results results/wiki/records --out results/wiki/site)  # commands name paths from the root
