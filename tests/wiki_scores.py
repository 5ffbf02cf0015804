"""The test queries' mAP of a fitted method on the bundled Wikipedia data, scored as a run scores it."""

from hashbench.data import CrossModalDataset
from hashbench.harness.runner import database_codes, task_maps
from hashbench.method import HashMethod


def query_maps(method: HashMethod, wiki: CrossModalDataset, bits: int) -> dict[str, float]:
    """i2t and t2i mAP of the query split against per-modality database codes."""
    database = database_codes(method, *(wiki.features(m, "database") for m in ("image", "text")), "modality")
    queries = (wiki.features(m, "query") for m in ("image", "text"))
    return task_maps(method, *queries, wiki.split_labels("query"), database, wiki.split_labels("database"), bits)
