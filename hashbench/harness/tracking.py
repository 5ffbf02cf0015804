"""Optional MLflow tracking (``--mlflow``): each newly stored run's parameters, metrics and curves.

The tracking store is MLflow's own choice (``MLFLOW_TRACKING_URI``, else ``./mlruns``). Records stay the
source of truth: tracking only mirrors them, and runs found already stored are not logged again.
"""

from __future__ import annotations

from collections.abc import Callable

from hashbench.errors import UsageError
from hashbench.harness.record import RunRecord
from hashbench.harness.store import record_name


def metric_key(task: str, name: str) -> str:
    """An MLflow-safe metric name ('@' is not allowed there): ``i2t.map_at_50``."""
    return f"{task}.{name.replace('@', '_at_')}"


def mlflow_logger() -> Callable[[RunRecord], None]:
    """A function that logs one record as an MLflow run; a usage error when mlflow is not installed."""
    try:
        import mlflow
    except ImportError:
        raise UsageError(
            'mlflow is not installed; expected `pip install "hashbench[mlflow]"`', thing="MLflow tracking"
        ) from None

    def log(record: RunRecord) -> None:
        with mlflow.start_run(run_name=record_name(record)):
            mlflow.set_tags({"hashbench.run_id": record.run_id, "hashbench.variant": record.variant})
            identity = {"method": record.method, "dataset": record.dataset, "bits": record.bits, "seed": record.seed}
            mlflow.log_params(identity | {f"param.{key}": value for key, value in record.params.items()})
            metrics = {metric_key(task, name): value for task, values in record.metrics.items()
                       for name, value in values.items() if isinstance(value, int | float)}  # fmt: skip
            mlflow.log_metrics(metrics | {"fit_s": record.timings["fit_s"]})
            mlflow.log_dict(record.curves, "curves.json")

    return log
