"""Which torch device a run trains on: ``cpu`` (the default, deterministic), ``cuda`` or ``auto``."""

from __future__ import annotations

from hashbench.errors import UsageError

DEVICES = ("cpu", "cuda", "auto")


def resolve_device(name: str) -> str:
    """The device that ``name`` stands for; asking for CUDA where there is none is a usage error."""
    if name not in DEVICES:
        raise UsageError(f"expected one of {', '.join(DEVICES)}", thing="device", value=repr(name))
    if name == "cpu":
        return "cpu"
    import torch

    available = torch.cuda.is_available()
    if name == "cuda" and not available:
        raise UsageError("no CUDA device is visible to torch; expected cpu or auto", thing="device", value="cuda")
    return "cuda" if available else "cpu"
