"""Pick the metrics that fit a data set and a model: mode coverage on Gaussian mixtures, exact or
bounded NLL for likelihood models, Frechet distance and KID on features."""

from __future__ import annotations

import math
from typing import Any

import torch

from gensdk.core import metrics
from gensdk.core.data import Dataset
from gensdk.core.features import extract, train_classifier
from gensdk.core.model import GenerativeModel, batched_nll


@torch.no_grad()
def evaluate(model: GenerativeModel, data: Dataset, n_samples: int = 10_000, seed: int = 0,
             nll_options: dict[str, Any] | None = None, sample_options: dict[str, Any] | None = None) -> dict[str, Any]:
    """Metrics of ``model`` against ``data`` (held-out data for NLL). Returns a flat dict.
    ``sample_options`` go to ``model.sample`` (e.g. a diffusion model's steps and sampler)."""
    model.eval()
    torch.manual_seed(seed)
    results: dict[str, Any] = {}
    device = model.device
    if "centers" in data.meta:  # a Gaussian mixture playground
        samples = model.sample(n_samples, **(sample_options or {})).float().cpu()
        centers = torch.tensor(data.meta["centers"])
        cov = metrics.mode_coverage(samples, centers, data.meta["std"])
        results.update({"modes": cov["modes"], "total_modes": cov["total"], "high_quality": cov["high_quality"],
                        "frechet_distance": metrics.frechet_distance(data.x[:n_samples], samples)})
    if data.kind in ("image", "binary-image") and data.y is not None and data.num_classes:
        results.update(image_quality(model, data, min(n_samples, len(data)), seed, sample_options))
    if hasattr(model, "nll"):
        y = data.y.to(device) if data.y is not None else None
        nll = batched_nll(model, data.x.to(device), y, **(nll_options or {})).cpu()
        results.update(metrics.nll_summary(nll, math.prod(data.shape)))
    return results


def image_quality(model: GenerativeModel, data: Dataset, n: int, seed: int,
                  sample_options: dict[str, Any] | None = None) -> dict[str, float]:
    """FD, KID, IS and precision/recall of ``n`` samples against ``n`` real images, in the feature
    space of a small CNN fitted to the real labelled images (see ``features.py``)."""
    torch.manual_seed(seed)
    fake = torch.cat([model.sample(min(500, n - i), **(sample_options or {})).float().cpu() for i in range(0, n, 500)])
    real = data.x[torch.randperm(len(data.x), generator=torch.Generator().manual_seed(seed))[:n]]
    if fake.shape[1:] != real.shape[1:]:
        return {}
    net = train_classifier(data.x, data.y, data.num_classes, seed=seed)
    real_feats, _ = extract(net, real)
    fake_feats, fake_probs = extract(net, fake)
    kid_mean, _ = metrics.kernel_inception_distance(real_feats, fake_feats, subset_size=min(1000, n))
    is_mean, _ = metrics.inception_score(fake_probs, splits=min(10, max(1, n // 100)))
    pr = metrics.precision_recall(real_feats, fake_feats, k=3)
    return {"fd_cnn": metrics.frechet_distance(real_feats, fake_feats), "kid_cnn": kid_mean,
            "is_cnn": is_mean, "precision": pr["precision"], "recall": pr["recall"]}
