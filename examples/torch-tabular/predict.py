"""Prediction entry point of the torch-tabular model (copied into the model directory).

mlci's contract: load(model_dir) -> model, predict(model, df) -> labels,
predict_proba(model, df) -> one column per class in MLCI_CLASSES order. Self-contained: the
network is defined here, and train.py imports it from this file.
The weights are a state_dict read with torch.load(weights_only=True): tensors only, no pickle
of arbitrary objects; the scaler and the classes are JSON.
"""

from __future__ import annotations

import json
import os

import numpy as np
import torch
from torch import nn


class MLP(nn.Module):
    def __init__(self, n_in: int, hidden: int, n_out: int, dropout: float = 0.0):
        super().__init__()
        self.net = nn.Sequential(
            nn.Linear(n_in, hidden), nn.ReLU(), nn.Dropout(dropout),
            nn.Linear(hidden, hidden), nn.ReLU(), nn.Dropout(dropout),
            nn.Linear(hidden, n_out),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)


class Model:
    def __init__(self, net: MLP, meta: dict):
        self.net = net.eval()
        self.features = meta["features"]
        self.mean = np.asarray(meta["mean"], dtype=np.float32)
        self.std = np.asarray(meta["std"], dtype=np.float32)
        self.classes = meta["classes"]

    def logits(self, df) -> torch.Tensor:
        x = (df[self.features].to_numpy(dtype=np.float32) - self.mean) / self.std
        x = np.nan_to_num(x)  # a missing value is the training mean
        with torch.no_grad():
            return self.net(torch.from_numpy(x))


def load(model_dir: str) -> Model:
    with open(os.path.join(model_dir, "model.json")) as fh:
        meta = json.load(fh)
    net = MLP(len(meta["features"]), meta["hidden"], len(meta["classes"]))
    state = torch.load(os.path.join(model_dir, "weights.pt"), map_location="cpu", weights_only=True)
    net.load_state_dict(state)
    return Model(net, meta)


def predict_proba(model: Model, df) -> np.ndarray:
    return torch.softmax(model.logits(df).double(), dim=1).numpy()


def predict(model: Model, df) -> np.ndarray:
    return np.asarray(model.classes)[predict_proba(model, df).argmax(axis=1)]
