"""Pick the metrics that fit a data set and a model: mode coverage on Gaussian mixtures, exact or
bounded NLL for likelihood models, Frechet distance and KID on features."""

from __future__ import annotations

import math
from typing import Any

import torch

from gensdk.core import metrics
from gensdk.core.data import Dataset
from gensdk.core.model import GenerativeModel


def batched(fn, x: torch.Tensor, batch: int = 512, **kw: Any) -> torch.Tensor:
    return torch.cat([fn(x[i:i + batch], **kw) for i in range(0, len(x), batch)])


@torch.no_grad()
def evaluate(model: GenerativeModel, data: Dataset, n_samples: int = 10_000, seed: int = 0,
             nll_options: dict[str, Any] | None = None) -> dict[str, Any]:
    """Metrics of ``model`` against ``data`` (held-out data for NLL). Returns a flat dict."""
    model.eval()
    torch.manual_seed(seed)
    results: dict[str, Any] = {}
    device = model.device
    if "centers" in data.meta:  # a Gaussian mixture playground
        samples = model.sample(n_samples).float().cpu()
        centers = torch.tensor(data.meta["centers"])
        cov = metrics.mode_coverage(samples, centers, data.meta["std"])
        results.update({"modes": cov["modes"], "total_modes": cov["total"], "high_quality": cov["high_quality"],
                        "frechet_distance": metrics.frechet_distance(data.x[:n_samples], samples)})
    if hasattr(model, "nll"):
        x = data.x.to(device)
        y = data.y.to(device) if (data.y is not None and getattr(model, "num_classes", 0)) else None
        nll = torch.cat([model.nll(x[i:i + 256], **({"y": y[i:i + 256]} if y is not None else {}),
                                   **(nll_options or {})).float().cpu()
                         for i in range(0, len(x), 256)])
        results.update(metrics.nll_summary(nll, math.prod(data.shape)))
    return results
