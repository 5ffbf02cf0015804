"""The validation score of given settings under ``hashbench tune``'s protocol (same split, same objective).

For checks beside a tune, such as whether a cheaper setting loses anything: the mean i2t/t2i mAP of the
validation rows carved from the training set (never the queries), over the code lengths. Usage, from the
repository root::

    python configs/tuned/validate.py udsph attention_batch=32 -- attention_batch=64

prints one line per setting (each setting: the parameters up to the next ``--``; the rest at their defaults).
"""

import sys
import time

import numpy as np

from hashbench import registry
from hashbench.harness.tuning import TuneConfig, validation_map, validation_split
from hashbench.method import parse_param


def main(method: str, *settings: str) -> None:
    method_class = registry.methods.get(method)
    config = TuneConfig(method=method)
    dataset = registry.datasets.get(config.dataset)()
    labelled = dataset.train_view(with_labels=True)
    rows = validation_split(labelled.n, config.val_fraction, config.seed)
    for setting in " ".join(settings).split("--"):
        params = dict(parse_param(method_class, assignment) for assignment in setting.split())
        start = time.perf_counter()
        scores = [validation_map(method_class(**params), labelled, rows, bits, config.seed, config.db_codes)
                  for bits in config.bits]  # fmt: skip
        print(f"{method} {params or 'defaults'}: validation mAP {np.mean(scores):.4f} "
              f"({', '.join(f'{b} bits {s:.4f}' for b, s in zip(config.bits, scores, strict=True))}; "
              f"{time.perf_counter() - start:.0f} s)", flush=True)  # fmt: skip


if __name__ == "__main__":
    main(*sys.argv[1:])
