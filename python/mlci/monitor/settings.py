"""The `monitor:` section of mlci.yaml: prediction logging, live drift, live performance gates."""

from __future__ import annotations

from pydantic import Field, model_validator

from mlci.validation.settings import Drift, Section


class PredictionLogging(Section):
    dir: str | None = Field(None, description="directory for prediction logs (relative to mlci.yaml); "
                            "`mlci serve -c mlci.yaml` logs there; unset: no logging")
    sample_rate: float = Field(1.0, ge=0, le=1, description="share of requests logged")
    max_bytes: int = Field(64 * 1024 * 1024, ge=4096, description="start a new file at this size")
    rotate_seconds: float = Field(3600, gt=0, description="start a new file after this many seconds")
    keep_files: int = Field(48, ge=1, description="files kept per worker process (older ones are deleted)")
    queue_size: int = Field(10_000, ge=1, description="records buffered per worker before new ones are dropped")
    flush_seconds: float = Field(0.5, gt=0, le=60, description="how often the writer thread writes")


class LiveGate(Section):
    metric: str = Field(description="metric name (as in evaluate.metrics)")
    max_drop: float | None = Field(None, ge=0, description="live may be worse than the evaluation by at most this")
    threshold: float | None = Field(None, description="absolute bound on the live metric (>= or <= by direction)")

    @model_validator(mode="after")
    def _one_bound(self) -> "LiveGate":
        if self.max_drop is None and self.threshold is None:
            raise ValueError("a live gate needs max_drop or threshold")
        return self


class Performance(Section):
    id_column: str = Field("request_id", description="labels file: the request id column")
    label_column: str = Field("label", description="labels file: the ground-truth column")
    row_column: str = Field("row", description="labels file: row within a multi-row request (optional column)")
    min_labels: int = Field(30, ge=1, description="gates are judged only with at least this many labelled rows")
    gates: list[LiveGate] = Field(default_factory=list, description="live gates; failing one exits 1")


class Monitor(Section):
    log: PredictionLogging = Field(default_factory=PredictionLogging)
    drift: Drift | None = Field(None, description="drift settings for `mlci monitor drift`; "
                                "default: validate.drift")
    performance: Performance = Field(default_factory=Performance)
