"""Default deep fits at two revisions of hashbench, side by side in one run: the before/after of a speed change.

    python benchmarks/compare_revisions.py BASE_REVISION [--methods dcmh ssah udsph] [--bits 16] [--rounds 1]

BASE_REVISION is checked out into a temporary git worktree; the working tree is the "after". Each fit runs in
its own process, the two revisions alternating (base, after, base, after, ...), so that a change in the
machine's load hits both alike; each row gives wall and CPU seconds and the 1-minute load average just before
the fit. Run it on a quiet machine: the load column shows whether it was.
"""

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

REPOSITORY = Path(__file__).resolve().parents[1]
#: Where each import package lives in a checkout (pyproject.toml's package-dir).
PACKAGE_DIRS = {"hashbench": "hashbench", "hashbench/methods": "methods", "hashbench/datasets": "datasets"}
FIT = """
import json, os, sys, time
from hashbench import registry
from hashbench.data import TrainView
name, bits = sys.argv[1], int(sys.argv[2])
view = registry.datasets.get("wiki")().train_view(with_labels=True)
method_class = registry.methods.get(name)
train = view if method_class.supervised else TrainView(view.image, view.text)
load = os.getloadavg()[0]
wall, cpu = time.perf_counter(), time.process_time()
method_class().fit(train, bits, seed=0)
print(json.dumps({"wall": time.perf_counter() - wall, "cpu": time.process_time() - cpu, "load": load}))
"""


def import_root(checkout: Path, root: Path) -> Path:
    """A folder that imports hashbench from ``checkout`` as its installed layout would (links to its files)."""
    for package, folder in PACKAGE_DIRS.items():
        (root / package).mkdir(parents=True, exist_ok=True)
        for entry in (checkout / folder).iterdir():
            if entry.name not in ("methods", "datasets", "__pycache__"):
                (root / package / entry.name).symlink_to(entry)
    return root


def timed_fit(root: Path, method: str, bits: int) -> dict:
    environment = {**os.environ, "PYTHONPATH": str(root)}
    done = subprocess.run([sys.executable, "-c", FIT, method, str(bits)], env=environment, cwd=root,
                          capture_output=True, text=True, check=True)  # fmt: skip
    return json.loads(done.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("base", help="the revision to compare against (a commit, tag or branch)")
    parser.add_argument("--methods", nargs="+", default=["dcmh", "ssah", "udsph"])
    parser.add_argument("--bits", type=int, default=16)
    parser.add_argument("--rounds", type=int, default=1)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as scratch:
        scratch = Path(scratch)
        subprocess.run(["git", "-C", str(REPOSITORY), "worktree", "add", "--detach", str(scratch / "base"), args.base],
                       check=True, capture_output=True)  # fmt: skip
        try:
            roots = {"base": import_root(scratch / "base", scratch / "base-import"),
                     "after": import_root(REPOSITORY, scratch / "after-import")}  # fmt: skip
            print(f"| method | bits | round | {args.base} wall s (CPU s, load) | working tree wall s (CPU s, load) "
                  "| after / base |\n|---|---|---|---|---|---|")  # fmt: skip
            for round_ in range(1, args.rounds + 1):
                for method in args.methods:
                    base, after = (timed_fit(roots[side], method, args.bits) for side in ("base", "after"))
                    cells = [f"{r['wall']:.1f} ({r['cpu']:.1f}, {r['load']:.2f})" for r in (base, after)]
                    print(f"| {method} | {args.bits} | {round_} | {cells[0]} | {cells[1]} | "
                          f"{after['wall'] / base['wall']:.2f} |", flush=True)  # fmt: skip
        finally:
            subprocess.run(["git", "-C", str(REPOSITORY), "worktree", "remove", "--force", str(scratch / "base")],
                           check=False, capture_output=True)  # fmt: skip


if __name__ == "__main__":
    main()
