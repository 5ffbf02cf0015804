"""For plug-in authors: the conformance checks (``conformance``, public as :mod:`hashbench.testing`) and the
skeletons of ``hashbench new`` (``scaffold``)."""
