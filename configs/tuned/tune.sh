#!/usr/bin/env bash
# The tuning runs that chose the deep methods' defaults (configs/tuned/README.md): every search on a validation
# split carved from Wikipedia's training set (hashbench tune's protocol), never on the queries.
# Each writes METHOD.toml (chosen parameters, validation score, space version, command) and METHOD.db (its trials);
# run again with --resume to continue a killed or extended tune.
set -euo pipefail
cd "$(dirname "$0")"
hashbench tune dcmh --trials 24 --out dcmh.toml --quiet "$@"
hashbench tune ssah --trials 16 --out ssah.toml --quiet "$@"
# UDSPH is SSAH plus the cross-modal attention: its global part is held at SSAH's tuned parameters, so the
# attention must earn its place on top of them, and only the attention's weight, scale and smoothing are
# searched. Its width and the items per batch it pairs are held at 64, which bounds its cost (at 256 x 128 one
# epoch took about 11 s against SSAH's 3 s).
mapfile -t fixed < <(python3 -c '
try:
    import tomllib
except ImportError:  # Python 3.10
    import tomli as tomllib
params = tomllib.load(open("ssah.toml", "rb"))["params"]
for key, value in params.items():
    print(f"--param={key}={str(value).lower() if isinstance(value, bool) else value}")
')
hashbench tune udsph --trials 6 --out udsph.toml --quiet "${fixed[@]}" \
    --param=attention_width=64 --param=attention_batch=64 "$@"
# UGACH (unsupervised): its own space; stopped after 8 of 10 trials, none above its defaults (README.md).
hashbench tune ugach --trials 10 --out ugach.toml --quiet "$@"
# The supervised shallow methods of issue 20. DCH has no released parameters: its defaults are this tune's.
# SMFH's released defaults score within the tune's noise of its best trial (README.md), so they stay.
hashbench tune dch --trials 30 --out dch.toml --quiet "$@"
hashbench tune smfh --trials 30 --out smfh.toml --quiet "$@"
# ACMR (deep, issue 20): 10 trials of about 40 s each, to bound the cost.
hashbench tune acmr --trials 10 --out acmr.toml --quiet "$@"
# The deep methods of issue 20 with no released code: their defaults are these tunes'.
hashbench tune cmdvh --trials 14 --out cmdvh.toml --quiet "$@"
hashbench tune cmnn --trials 14 --out cmnn.toml --quiet "$@"
