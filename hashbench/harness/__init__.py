"""The harness: one run (``runner``), its record (``record``) in the results store (``store``), the cache of
runs against the store (``runcache``), grids, tuning, rescoring, codes made elsewhere (``external``), peak
memory and optional MLflow tracking. Methods never import it."""
