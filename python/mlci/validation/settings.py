"""The `validate:` section of mlci.yaml (drift thresholds, methods, severity defaults)."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field


class Section(BaseModel):
    """Same rules as mlci.config.Section; defined here because config.py imports this module."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True)

# Documented defaults (docs/validation.md). Evidently uses 0.1 for Wasserstein and
# Jensen-Shannon; 0.2 is the usual "significant shift" bound for PSI.
DEFAULT_THRESHOLDS = {"wasserstein": 0.1, "ks": 0.1, "jensenshannon": 0.1, "psi": 0.2}


class DriftThresholds(Section):
    wasserstein: float = Field(DEFAULT_THRESHOLDS["wasserstein"], ge=0,
                               description="normalized Wasserstein distance (divided by the reference std)")
    ks: float = Field(DEFAULT_THRESHOLDS["ks"], ge=0, le=1, description="Kolmogorov-Smirnov statistic D")
    jensenshannon: float = Field(DEFAULT_THRESHOLDS["jensenshannon"], ge=0, le=1,
                                 description="Jensen-Shannon distance, base 2 (0..1)")
    psi: float = Field(DEFAULT_THRESHOLDS["psi"], ge=0, description="population stability index")


class Drift(Section):
    enabled: bool = Field(True, description="check drift when a reference is available")
    numeric_method: Literal["wasserstein", "ks"] = Field(
        "wasserstein", description="statistic that decides drift for numeric columns")
    categorical_method: Literal["jensenshannon", "psi"] = Field(
        "jensenshannon", description="statistic that decides drift for categorical columns")
    thresholds: DriftThresholds = Field(default_factory=DriftThresholds)
    drift_share: float = Field(0.5, gt=0, le=1,
                               description="dataset drift when at least this share of columns drifted")
    fail_on: Literal["dataset", "column"] = Field(
        "dataset", description="`dataset`: fail when the drift share is reached; `column`: any drifted column fails")
    severity: Literal["error", "warn"] = Field("error", description="`warn` reports drift without failing")
    columns: list[str] | None = Field(None, description="only these columns; default: every comparable column")
    exclude: list[str] = Field(default_factory=list, description="columns never checked for drift")
    max_categories: int = Field(1000, ge=2, description="categories kept per column in reference statistics")


class Validate(Section):
    severity: Literal["error", "warn"] = Field("error", description="severity of rules that name none")
    drift: Drift = Field(default_factory=Drift)
    chunk_rows: int | None = Field(None, ge=1, description="read data in batches of this many rows")
    sample_rows: int = Field(20, ge=0, le=10000, description="failing row indices recorded per rule")
