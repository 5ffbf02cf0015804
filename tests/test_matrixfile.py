"""Every matrix format reads back as written: .mat v5 and v7.3 (axes reversed on disk), .h5, .npz, .npy."""

import numpy as np
import pytest
import scipy.io
import scipy.sparse
from matfiles import write_h5, write_mat73

from hashbench.errors import UsageError
from hashbench.ingest.matrixfile import dense_rows, open_arrays

MATRIX = np.arange(35, dtype=np.float64).reshape(7, 5)
IMAGES = np.arange(4 * 3 * 2 * 6, dtype=np.uint8).reshape(4, 3, 2, 6)  # MATLAB: height x width x 3 x n, here 3 x 2


def write(kind, path):
    if kind == "mat5":
        scipy.io.savemat(path, {"X": MATRIX, "IAll": IMAGES})
    elif kind == "mat73":
        write_mat73(path, X=MATRIX, IAll=IMAGES)
    elif kind == "h5":
        write_h5(path, X=MATRIX, IAll=IMAGES)
    elif kind == "npz":
        np.savez(path, X=MATRIX, IAll=IMAGES)
    return path


SUFFIX = {"mat5": ".mat", "mat73": ".mat", "h5": ".h5", "npz": ".npz"}


@pytest.mark.parametrize("kind", list(SUFFIX))
def test_matrices_read_back_as_saved_rows_and_all(kind, tmp_path):
    path = write(kind, tmp_path / f"m{SUFFIX[kind]}")
    with open_arrays(path) as arrays:
        matrix, images = arrays["X"], arrays["IAll"]
        assert matrix.shape == (7, 5) and images.shape == IMAGES.shape
        np.testing.assert_array_equal(np.asarray(matrix), MATRIX)
        np.testing.assert_array_equal(dense_rows(matrix, np.array([1, 4, 6])), MATRIX[[1, 4, 6]].astype(np.float32))
        np.testing.assert_array_equal(images[:, :, :, [2, 3]], IMAGES[:, :, :, [2, 3]])


def test_npy_files_are_memory_mapped_and_named_after_the_file(tmp_path):
    np.save(tmp_path / "image_features.npy", MATRIX.astype(np.float32))
    with open_arrays(tmp_path / "image_features.npy") as arrays:
        assert isinstance(arrays["image_features"], np.memmap)
        np.testing.assert_array_equal(arrays["image_features"], MATRIX)


def test_a_matlab_v73_sparse_matrix_reads_as_sparse_rows(tmp_path):
    dense = np.array([[0, 1, 0], [2, 0, 0], [0, 0, 3], [0, 0, 0]], dtype=np.float64)
    csc = scipy.sparse.csc_matrix(dense)
    path = write_mat73(tmp_path / "s.mat")
    import h5py

    with h5py.File(path, "a") as file:  # MATLAB's layout of a sparse matrix: data, row indices ir, column starts jc
        group = file.create_group("YAll")
        group.attrs["MATLAB_class"] = np.bytes_("double")
        group.attrs["MATLAB_sparse"] = np.uint64(dense.shape[0])
        group["data"], group["ir"], group["jc"] = csc.data, csc.indices.astype(np.uint64), csc.indptr.astype(np.uint64)
    with open_arrays(path) as arrays:
        assert scipy.sparse.issparse(arrays["YAll"]) and arrays["YAll"].shape == (4, 3)
        np.testing.assert_array_equal(dense_rows(arrays["YAll"], np.array([0, 2])), dense[[0, 2]])


@pytest.mark.parametrize(
    ("name", "content", "message"),
    [
        ("gone.mat", None, "no such file"),
        ("bad.mat", b"MATLAB 5.0 MAT-file, then noise" * 8, "cannot be read as a .mat file"),
        ("bad.h5", b"not hdf5 at all", "cannot be read as a .h5 file"),
        ("data.csv", b"1,2", "unknown file type '.csv'"),
    ],
)
def test_unreadable_files_are_named_in_one_line(name, content, message, tmp_path):
    path = tmp_path / name
    if content is not None:
        path.write_bytes(content)
    with pytest.raises(UsageError, match=message) as error, open_arrays(path):
        pass
    assert str(path) in str(error.value) and "\n" not in str(error.value)
