"""`hashbench new`: skeletons, and a third-party package found through its entry point."""

import os
import subprocess
import sys

import pytest

from hashbench.cli import main


def hashbench(*args, site, cwd):
    env = {**os.environ, "PYTHONPATH": str(site)}
    return subprocess.run(
        [sys.executable, "-m", "hashbench.cli", *args], capture_output=True, text=True, env=env, cwd=cwd
    )


@pytest.fixture(scope="module")
def installed_plugin(tmp_path_factory):
    """`hashbench new method --package`, built and installed with pip into a folder of its own."""
    root = tmp_path_factory.mktemp("third-party")
    assert main(["new", "method", "third-lsh", "--package", str(root / "pkg")]) == 0
    site = root / "site"
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "install",
            "-q",
            "--no-deps",
            "--no-build-isolation",
            "--no-index",
            "--target",
            str(site),
            str(root / "pkg"),
        ],
        check=True,
        capture_output=True,
        cwd=root,
    )
    return root, site


def test_the_entry_point_method_is_listed_with_its_package(installed_plugin):
    root, site = installed_plugin
    listed = hashbench("list", site=site, cwd=root)
    line = next(line for line in listed.stdout.splitlines() if "third-lsh" in line)
    assert "entry point hashbench_third_lsh:ThirdLsh (hashbench-third-lsh)" in line


def test_the_entry_point_method_runs_and_conforms(installed_plugin):
    root, site = installed_plugin
    ran = hashbench(
        "run",
        "--method",
        "third-lsh",
        "--bits",
        "16",
        "--results",
        str(root / "results"),
        "--format",
        "json",
        site=site,
        cwd=root,
    )
    assert ran.returncode == 0, ran.stderr
    assert '"method": "third-lsh"' in ran.stdout
    checked = hashbench("check", "third-lsh", site=site, cwd=root)
    assert checked.returncode == 0 and "method 'third-lsh' conforms" in checked.stdout


def test_the_skeleton_package_tests_pass(installed_plugin):
    root, site = installed_plugin
    tests = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", str(root / "pkg" / "tests")],
        capture_output=True,
        text=True,
        env={**os.environ, "PYTHONPATH": str(site)},
        cwd=root,
    )
    assert tests.returncode == 0, tests.stdout
    assert "2 passed" in tests.stdout


def test_skeletons_go_into_a_checkout(tmp_path, capsys, monkeypatch):
    for folder in ("hashbench", "methods", "datasets", "tests"):
        (tmp_path / folder).mkdir()
    monkeypatch.chdir(tmp_path)
    assert main(["new", "method", "my-hash"]) == 0
    assert main(["new", "dataset", "my-data"]) == 0
    assert (tmp_path / "methods" / "my_hash.py").read_text().count('@register_method("my-hash")') == 1
    assert "from hashbench.methods.my_hash import MyHash" in (tmp_path / "tests" / "test_method_my_hash.py").read_text()
    assert '@register_dataset("my-data")' in (tmp_path / "datasets" / "my_data.py").read_text()
    capsys.readouterr()
    assert main(["new", "method", "my-hash"]) == 2
    assert "already exists" in capsys.readouterr().err


@pytest.mark.parametrize("name", ["My_Hash", "9lives", "class"])
def test_bad_plugin_names_are_refused(name, tmp_path, capsys):
    assert main(["new", "method", name, "--package", str(tmp_path / "pkg")]) == 2
    assert "name" in capsys.readouterr().err and not (tmp_path / "pkg").exists()


def test_new_outside_a_checkout_points_to_package(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert main(["new", "method", "my-hash"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("hashbench: error: --package: none given, and ") and "is not a hashbench checkout" in err


def test_a_scaffolded_dataset_conforms(tmp_path):
    assert main(["new", "dataset", "toy-data", "--package", str(tmp_path / "pkg")]) == 0
    tests = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "tests"],
        capture_output=True,
        text=True,
        cwd=tmp_path / "pkg",
        env={**os.environ, "PYTHONPATH": str(tmp_path / "pkg")},
    )
    assert tests.returncode == 0, tests.stdout
