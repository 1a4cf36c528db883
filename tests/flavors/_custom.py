"""Model classes defined outside scikit-learn, for the trusted-type and flavor tests."""

from __future__ import annotations

import json
from typing import Any

import numpy as np
from sklearn.base import BaseEstimator, TransformerMixin

from nbmlops.flavors.base import BaseFlavor

ADD_ONE = "tests.flavors._custom.AddOne"


class AddOne(TransformerMixin, BaseEstimator):
    """A custom transformer: skops must not rebuild it unless the loader trusts it."""

    def fit(self, X: Any, y: Any = None) -> AddOne:
        self.n_features_in_ = np.asarray(X).shape[1]
        return self

    def transform(self, X: Any) -> Any:
        return np.asarray(X, dtype=float) + 1.0


class ThresholdModel:
    """Not scikit-learn: predicts 1 where the first column exceeds a threshold."""

    def __init__(self, threshold: float) -> None:
        self.threshold = threshold

    def predict(self, X: Any) -> Any:
        return (np.asarray(X, dtype=float)[:, 0] > self.threshold).astype(int)


class ThresholdFlavor(BaseFlavor):
    """A third-party flavor: stores ThresholdModel as JSON (no code in the bytes)."""

    name = "threshold"
    media_type = "application/json"

    def can_save(self, model: Any) -> bool:
        return isinstance(model, ThresholdModel)

    def save(self, model: Any, **options: Any) -> tuple[bytes, dict[str, Any]]:
        return json.dumps({"threshold": model.threshold}).encode(), {"flavor": self.name}

    def load(self, data: bytes, meta: dict[str, Any], **options: Any) -> Any:
        return ThresholdModel(json.loads(data)["threshold"])
