"""Which torch device a run trains on: ``cpu`` (the default, deterministic), ``cuda`` or ``auto``."""

from __future__ import annotations

from hashbench.errors import UsageError

DEVICES = ("cpu", "cuda", "auto")


def resolve_device(name: str) -> str:
    """The device that ``name`` stands for; asking for CUDA where there is none is a usage error."""
    if name not in DEVICES:
        raise UsageError(f"--device {name!r}: expected one of {', '.join(DEVICES)}")
    if name == "cpu":
        return "cpu"
    import torch

    available = torch.cuda.is_available()
    if name == "cuda" and not available:
        raise UsageError("--device cuda: no CUDA device is visible to torch; expected cpu or auto")
    return "cuda" if available else "cpu"
