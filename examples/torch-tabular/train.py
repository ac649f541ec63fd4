"""Train a small PyTorch MLP under mlci's `command` trainer contract (docs/training.md).

Reads MLCI_TRAIN_DATA / MLCI_FEATURES / MLCI_PARAMS ..., trains on MLCI_DEVICE (cuda when mlci
chose a GPU, else cpu), writes weights.pt (state_dict), model.json (scaler, classes) and
predict.py into MLCI_OUTPUT_DIR, and its own numbers into metrics.json.
"""

from __future__ import annotations

import json
import os
import shutil
import time
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from torch import nn

from predict import MLP

HERE = Path(__file__).resolve().parent


def main() -> None:
    params = json.loads(os.environ.get("MLCI_PARAMS", "{}"))
    epochs = int(params.get("epochs", 200))
    hidden = int(params.get("hidden", 32))
    lr = float(params.get("lr", 0.01))
    weight_decay = float(params.get("weight_decay", 1e-4))
    dropout = float(params.get("dropout", 0.1))
    seed = int(os.environ.get("MLCI_SEED", "0"))
    out = Path(os.environ["MLCI_OUTPUT_DIR"])
    features = json.loads(os.environ["MLCI_FEATURES"])
    target = os.environ["MLCI_TARGET"]
    classes = json.loads(os.environ["MLCI_CLASSES"])

    wanted = os.environ.get("MLCI_DEVICE", "cpu")
    device = torch.device(wanted if wanted == "cpu" or torch.cuda.is_available() else "cpu")
    if device.type != wanted:
        print(f"MLCI_DEVICE={wanted} but torch sees no GPU; training on the CPU", flush=True)
    torch.manual_seed(seed)
    # a model this small is fastest on one thread; more threads only contend on a shared agent
    torch.set_num_threads(int(params.get("threads", 1)))
    np.random.seed(seed)

    df = pd.read_parquet(os.environ["MLCI_TRAIN_DATA"])
    x = df[features].to_numpy(dtype=np.float32)
    mean = np.nanmean(x, axis=0)
    std = np.nanstd(x, axis=0) + 1e-6
    x = np.nan_to_num((x - mean) / std)
    index = {c: i for i, c in enumerate(classes)}
    y = np.asarray([index[v] for v in df[target].tolist()], dtype=np.int64)

    name = torch.cuda.get_device_name(device) if device.type == "cuda" else "cpu"
    print(f"torch {torch.__version__}: {len(df)} rows, {len(features)} features, device {name}", flush=True)
    X_t = torch.from_numpy(x).to(device)
    y_t = torch.from_numpy(y).to(device)
    net = MLP(len(features), hidden, len(classes), dropout).to(device)
    opt = torch.optim.Adam(net.parameters(), lr=lr, weight_decay=weight_decay)
    loss_fn = nn.CrossEntropyLoss()
    t0 = time.perf_counter()
    net.train()
    for epoch in range(1, epochs + 1):  # full batch: the data set is small
        opt.zero_grad()
        loss = loss_fn(net(X_t), y_t)
        loss.backward()
        opt.step()
        if epoch % max(1, epochs // 5) == 0 or epoch == epochs:
            print(f"epoch {epoch:4d}/{epochs} loss {loss.item():.4f}", flush=True)
    seconds = time.perf_counter() - t0

    net = net.to("cpu").eval()
    torch.save(net.state_dict(), out / "weights.pt")
    (out / "model.json").write_text(json.dumps({
        "features": features, "classes": classes, "hidden": hidden,
        "mean": mean.tolist(), "std": std.tolist()}))
    shutil.copy(HERE / "predict.py", out / "predict.py")
    (out / "metrics.json").write_text(json.dumps({
        "final_loss": round(float(loss.item()), 6), "epochs": epochs, "train_seconds": round(seconds, 3),
        "device": name, "torch": torch.__version__}))


if __name__ == "__main__":
    main()
