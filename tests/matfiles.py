"""Writers of the real file formats for test fixtures: MATLAB v7.3 (HDF5 with MATLAB's header) and plain HDF5."""

from pathlib import Path

import h5py
import numpy as np

_MATLAB_CLASS = {"f": "double", "i": "int32", "u": "uint8", "b": "logical"}


def write_mat73(path: Path, **arrays) -> Path:
    """A MATLAB v7.3 file as MATLAB writes one: a 512-byte header block, then HDF5 with every array's axes reversed."""
    with h5py.File(path, "w", userblock_size=512) as file:
        for name, array in arrays.items():
            array = np.asarray(array)
            stored = array.astype(np.uint8) if array.dtype == bool else array
            dataset = file.create_dataset(name, data=stored.transpose())
            dataset.attrs["MATLAB_class"] = np.bytes_(_MATLAB_CLASS[array.dtype.kind])
    header = b"MATLAB 7.3 MAT-file, Platform: GLNXA64, Created on: Wed Nov 25 12:00:00 2026 HDF5 schema 1.00 ."
    with open(path, "r+b") as file:
        file.write(header.ljust(116) + b"\x00" * 8 + b"\x00\x02" + b"IM")
    return path


def write_h5(path: Path, **arrays) -> Path:
    """A plain HDF5 file with one dataset per array, rows = items."""
    with h5py.File(path, "w") as file:
        for name, array in arrays.items():
            file.create_dataset(name, data=np.asarray(array))
    return path
