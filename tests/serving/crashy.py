"""Estimators for start-up failure tests: one that kills its process when it predicts."""

from __future__ import annotations

import os
import signal
from typing import Any

import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin


class KillOnPredict(ClassifierMixin, BaseEstimator):
    """Fits like a constant classifier; ``predict`` SIGKILLs the process it runs in."""

    def fit(self, X: Any, y: Any) -> KillOnPredict:
        self.classes_ = np.unique(y)
        self.n_features_in_ = np.asarray(X).shape[1]
        if hasattr(X, "columns"):
            self.feature_names_in_ = np.asarray(X.columns, dtype=object)
        return self

    def predict(self, X: Any) -> Any:
        os.kill(os.getpid(), signal.SIGKILL)

    def predict_proba(self, X: Any) -> Any:
        os.kill(os.getpid(), signal.SIGKILL)
