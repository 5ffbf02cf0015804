"""The "Add a baseline" guide runs as written."""

import re
from pathlib import Path

import pytest

from hashbench import registry
from hashbench.devkit.conformance import check_method
from hashbench.harness.runner import RunConfig, execute, load_dataset, make_method
from hashbench.scoring.metrics import relevance

GUIDE = Path(__file__).parent.parent / "docs" / "adding-a-method.md"


@pytest.fixture
def guide_namespace(monkeypatch):
    """Execute every Python block of the guide in order, registering into a copy of the registry."""
    monkeypatch.setattr(registry.methods, "_entries", dict(registry.methods._entries))
    namespace = {}
    for block in re.findall(r"```python\n(.*?)```", GUIDE.read_text(), flags=re.DOTALL):
        exec(compile(block, str(GUIDE), "exec"), namespace)
    return namespace


def test_the_guide_example_registers_and_conforms(guide_namespace):
    method_class = registry.methods.get("my-cca-itq")
    assert method_class is guide_namespace["MyCcaItq"]
    assert check_method(method_class) == []
    guide_namespace["test_my_cca_itq_conforms"]()


def test_the_guide_example_scores_well_above_chance(guide_namespace):
    wiki = load_dataset("wiki")
    chance = float(relevance(wiki.split_labels("query"), wiki.split_labels("database")).mean())
    config = RunConfig("my-cca-itq", bits=32)
    record = execute(config, wiki, make_method(config)).record
    assert min(record.metrics[task]["map"] for task in ("i2t", "t2i")) > 1.5 * chance
