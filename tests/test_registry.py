"""Registries: built-ins, entry points, duplicates, unknown names."""

from importlib.metadata import EntryPoint

import pytest

from hashbench import registry
from hashbench.errors import UsageError
from hashbench.method import HashMethod, parse_param
from hashbench.methods.cmfh import Cmfh


def test_builtin_methods_and_datasets_are_registered():
    expected = {"cca-itq", "cmfh", "cmssh", "cvh", "scm-orth", "scm-seq", "seph-km", "seph-rnd"}
    assert expected <= set(registry.methods.names())
    assert "wiki" in registry.datasets.names()
    assert registry.methods.entry("cmfh").origin == "built-in"


def test_unknown_name_suggests_the_close_ones_and_lists_the_known_ones():
    with pytest.raises(
        UsageError, match=r"unknown method 'cmhf'; did you mean [^?]*'cmfh'[^?]*\? expected one of: "
    ) as error:
        registry.methods.get("cmhf")
    assert str(error.value).endswith(", ".join(registry.methods.names()))
    with pytest.raises(UsageError, match="unknown dataset 'nothing-alike'; expected one of: "):
        registry.datasets.get("nothing-alike")


def test_an_unknown_parameter_suggests_the_close_ones():
    with pytest.raises(UsageError, match=r"'iter' is not a parameter of method 'cmfh'; did you mean 'iters'\?"):
        registry.methods.get("cmfh")(iter=3)


def test_a_second_plugin_under_the_same_name_is_rejected():
    with pytest.raises(ValueError, match="registered twice"):
        registry.methods.register("cmfh", type("Other", (HashMethod,), {}))


def test_entry_points_add_third_party_methods(monkeypatch):
    class ThirdParty(HashMethod):
        name = "third-party"

    point = EntryPoint(name="third-party", value="somewhere:ThirdParty", group="hashbench.methods")
    monkeypatch.setattr(EntryPoint, "load", lambda self: ThirdParty)
    monkeypatch.setattr(registry, "entry_points", lambda group: [point] if group == "hashbench.methods" else [])
    monkeypatch.setattr(registry.methods, "_entries", dict(registry.methods._entries))
    monkeypatch.setattr(registry.methods, "_loaded", False)  # load again, now finding the entry point
    assert registry.methods.get("third-party") is ThirdParty
    assert registry.methods.entry("third-party").origin.startswith("entry point somewhere:ThirdParty")
    assert registry.methods.get("cmfh") is Cmfh


def test_parameters_are_parsed_to_the_type_of_their_default():
    assert parse_param(Cmfh, "iters=7") == ("iters", 7)
    assert parse_param(Cmfh, "mu=0.5") == ("mu", 0.5)
    assert parse_param(Cmfh, "tol=0") == ("tol", 0.0)
    with pytest.raises(UsageError, match="expected a number"):
        parse_param(Cmfh, "gamma=big")


def test_unknown_constructor_parameters_are_rejected():
    with pytest.raises(UsageError, match="'lr' is not a parameter of method 'cmfh'"):
        Cmfh(lr=0.1)
