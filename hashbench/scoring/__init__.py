"""Scoring: Hamming search over packed codes and the metrics computed from it (mAP, precision@K, PR curves),
with the compiled kernels beneath and the side-by-side timing of the backends. Imports the contract only."""
