"""Helpers for plug-in authors' own tests: one call checks a method or dataset against every rule."""

from hashbench.devkit.conformance import assert_dataset_conforms, assert_method_conforms, check_dataset, check_method

__all__ = ["assert_dataset_conforms", "assert_method_conforms", "check_dataset", "check_method"]
