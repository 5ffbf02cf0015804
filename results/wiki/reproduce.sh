#!/usr/bin/env bash
# Reproduce results/wiki/README.md: every built-in method on the bundled Wikipedia data,
# 16/32/64/128 bits, seeds 0 1 2. Configurations already in records/ are skipped.
set -euo pipefail
cd "$(dirname "$0")"
for method in cca-itq cmfh cmssh cvh dcmh imh lssh qch scm-orth scm-seq seph-km seph-rnd ssah stmh; do
  hashbench run --method "$method" --bits 16 32 64 128 --seed 0 1 2 --results records --format csv
done
hashbench run --method cmfh --param db_codes=unified --bits 16 32 64 128 --seed 0 1 2 --results records --format csv
hashbench run --method seph-km --param db_codes=modality --bits 16 32 64 128 --seed 0 1 2 --results records --format csv
hashbench table --results records
python fit_times.py records
