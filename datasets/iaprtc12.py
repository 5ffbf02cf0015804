"""IAPR TC-12 (Grubinger et al., 2006): 20,000 images with sentences, 255 labels; the DCMH protocol.

It has no text-file layout of its own here: the folder holds DCMH's
``.mat`` files (``LAll``, ``YAll``, and ``IAll`` for ``extract``), a feature file
of the shallow papers, or per-modality matrices (see :mod:`hashbench.ingest.layouts`).
"""

from __future__ import annotations

from hashbench.ingest.layouts import Protocol, StandardDataset
from hashbench.registry import register_dataset

IAPRTC12 = register_dataset("iaprtc12")(
    StandardDataset(
        name="iaprtc12",
        title="IAPR TC-12: 20,000 images with sentences, 255 labels (bring the files; see README)",
        reference="Grubinger et al., The IAPR TC-12 Benchmark, OntoImage 2006",
        licence="free for research; see the IAPR TC-12 benchmark terms (imageclef.org)",
        labels="255 labels, multi-label",
        protocol=Protocol(queries=2000, training=10000),
    )
)
