"""Named arrays from the files people pass around: ``.mat`` (v5 and v7.3), ``.npy``, ``.npz``, ``.h5``/``.hdf5``.

Large arrays stay on disk until rows are asked for: ``.npy`` files are
memory-mapped and HDF5 datasets (MATLAB v7.3 included) are read by row blocks.
MATLAB v7.3 files are HDF5 files that store every array with its axes
reversed; :class:`H5Array` turns them back, so a MATLAB ``n x d`` matrix reads
as ``n x d`` whichever version saved it. MATLAB sparse matrices (v7.3 groups
of ``data``/``ir``/``jc``) read as ``scipy.sparse`` matrices.
"""

from __future__ import annotations

import contextlib
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import scipy.io
import scipy.sparse

from hashbench.errors import UsageError

MATRIX_SUFFIXES = (".mat", ".npy", ".npz", ".h5", ".hdf5")


class H5Array:
    """An HDF5 dataset that reads only the selected part; ``matlab=True`` reverses the axes as MATLAB saved them."""

    def __init__(self, dataset: Any, matlab: bool) -> None:
        self._dataset, self._matlab = dataset, matlab
        self.shape = tuple(dataset.shape[::-1] if matlab else dataset.shape)
        self.dtype = dataset.dtype
        self.ndim = len(self.shape)

    def __len__(self) -> int:
        return self.shape[0]

    def __getitem__(self, key: Any) -> np.ndarray:
        key = key if isinstance(key, tuple) else (key,)
        key = key + (slice(None),) * (self.ndim - len(key))
        if not self._matlab:
            return np.asarray(self._dataset[key])
        return np.asarray(self._dataset[key[::-1]]).transpose()

    def __array__(self, dtype: Any = None, copy: Any = None) -> np.ndarray:
        whole = self[:]
        return whole if dtype is None else whole.astype(dtype)


def _matlab_v73_arrays(file: Any) -> dict[str, Any]:
    arrays = {}
    for name, item in file.items():
        if name.startswith("#"):  # MATLAB's internal references
            continue
        if "MATLAB_sparse" in item.attrs:
            rows = int(item.attrs["MATLAB_sparse"])
            data = item["data"][()] if "data" in item else np.ones(item["ir"].shape, dtype=np.float64)
            columns = item["jc"].shape[0] - 1
            matrix = scipy.sparse.csc_matrix((data, item["ir"][()], item["jc"][()]), shape=(rows, columns))
            arrays[name] = matrix.tocsr()
        elif hasattr(item, "shape"):
            arrays[name] = H5Array(item, matlab=True)
    return arrays


def _is_matlab_v73(path: Path) -> bool:
    with contextlib.suppress(ValueError, OSError):
        return scipy.io.matlab.matfile_version(path)[0] == 2
    return False


@contextlib.contextmanager
def open_arrays(path: str | Path, expected: str = "a matrix file") -> Iterator[dict[str, Any]]:
    """The named arrays of ``path`` while the context lasts (HDF5 files stay open for lazy reads).

    A ``.npy`` file holds one array, named after the file's stem. Any file that
    cannot be read is a :class:`UsageError` naming it; ``expected`` says what it should have been.
    """
    path = Path(path)
    if not path.is_file():
        raise UsageError(f"{path}: no such file; expected {expected}")
    suffix = path.suffix.lower()
    if suffix not in MATRIX_SUFFIXES:
        raise UsageError(f"{path}: unknown file type {suffix!r}; expected one of {', '.join(MATRIX_SUFFIXES)}")
    try:
        if suffix in (".h5", ".hdf5") or (suffix == ".mat" and _is_matlab_v73(path)):
            import h5py

            with h5py.File(path, "r") as file:
                if suffix == ".mat":
                    yield _matlab_v73_arrays(file)
                else:
                    yield {name: H5Array(item, matlab=False) for name, item in file.items() if hasattr(item, "shape")}
            return
        if suffix == ".mat":
            arrays = {k: v for k, v in scipy.io.loadmat(path).items() if not k.startswith("__")}
        elif suffix == ".npy":
            arrays = {path.stem: np.load(path, mmap_mode="r", allow_pickle=False)}
        else:
            with np.load(path, allow_pickle=False) as data:
                arrays = {key: data[key] for key in data.files}
    except (OSError, ValueError, TypeError, KeyError, zipfile.BadZipFile, NotImplementedError) as error:
        raise UsageError(f"{path}: cannot be read as a {suffix} file ({error}); expected {expected}") from None
    yield arrays


def dense_rows(array: Any, rows: slice | np.ndarray) -> np.ndarray:
    """Rows of a dense, HDF5 or sparse matrix as a dense float32 block."""
    block = array[rows]
    if scipy.sparse.issparse(block):
        block = block.toarray()
    return np.asarray(block, dtype=np.float32)
