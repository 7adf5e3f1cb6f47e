"""Evaluation metrics of generative models, on features (torch tensors or numpy arrays).

Every metric takes plain arrays of features, examples first, from whatever feature extractor the
caller picked (Inception pool3 for images, a domain classifier, or the raw points of a 2-D toy),
and returns plain Python floats, tuples or dicts, so results drop straight into JSON reports.

- ``frechet_distance`` / ``frechet_distance_from_stats``: FID (Heusel et al. 2017).
- ``kernel_inception_distance``: KID, unbiased MMD^2 with a polynomial kernel (Binkowski et al. 2018).
- ``inception_score``: IS over class probabilities of any classifier (Salimans et al. 2016).
- ``precision_recall``: improved precision and recall by k-NN manifolds (Kynkaanniemi et al. 2019).
- ``mode_coverage``: modes covered and high-quality fraction on Gaussian-mixture toys (VEEGAN).
- ``bits_per_dim``, ``nll_summary``, ``kl_to_prior``: likelihood bookkeeping of flows, VAEs and AR models.
"""

from __future__ import annotations

import math
import warnings
from typing import Any

import numpy as np
import torch
from scipy import linalg

ArrayLike = Any  # torch.Tensor | np.ndarray | nested sequences of numbers


def _as_numpy(x: ArrayLike) -> np.ndarray:
    """float64 numpy copy of a tensor or array (detached, on the CPU)."""
    if isinstance(x, torch.Tensor):
        return x.detach().cpu().to(torch.float64).numpy()
    return np.asarray(x, dtype=np.float64)


def _features(x: ArrayLike, name: str) -> np.ndarray:
    """``(n, d)`` float64 features: 1-D input is n scalars, higher ranks are flattened per example."""
    a = _as_numpy(x)
    if a.ndim == 1:
        a = a[:, None]
    elif a.ndim > 2:
        a = a.reshape(len(a), -1)
    if a.ndim != 2 or len(a) == 0:
        raise ValueError(f"{name} must be a non-empty array of features, examples first; got shape {a.shape}")
    if not np.isfinite(a).all():
        raise ValueError(f"{name} contains NaN or infinite values")
    return a


def _as_torch(x: ArrayLike, name: str) -> torch.Tensor:
    """``(n, d)`` float tensor on the CPU; float64 input stays float64, anything else becomes float32."""
    keep64 = getattr(x, "dtype", None) in (torch.float64, np.float64)
    feats = torch.from_numpy(_features(x, name))
    return feats if keep64 else feats.float()


# --------------------------------------------------------------------------------------------------
# Frechet distance (FID when the features are Inception pool3 activations)
# --------------------------------------------------------------------------------------------------

def _gaussian_stats(feats: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    if len(feats) < 2:
        raise ValueError("the Frechet distance needs at least 2 examples per set to estimate a covariance")
    mu = feats.mean(axis=0)
    sigma = np.atleast_2d(np.cov(feats, rowvar=False))
    return mu, sigma


def _sqrtm(a: np.ndarray) -> np.ndarray:
    # scipy warns (or, in old versions, prints) when the matrix is singular; we check the result
    # ourselves instead, so silence it. ``disp=`` is avoided: it is deprecated in recent scipy.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return np.asarray(linalg.sqrtm(a))


def frechet_distance_from_stats(mu1: ArrayLike, sigma1: ArrayLike, mu2: ArrayLike, sigma2: ArrayLike,
                                eps: float = 1e-6) -> float:
    """Frechet (2-Wasserstein squared) distance between N(mu1, sigma1) and N(mu2, sigma2).

    ``d^2 = |mu1 - mu2|^2 + Tr(sigma1 + sigma2 - 2 (sigma1 sigma2)^(1/2))``, computed in float64.
    When ``sigma1 sigma2`` is singular (fewer examples than feature dimensions, dead features) its
    square root is inaccurate or not finite; then ``eps * I`` is added to both covariances, as in
    the reference FID code. Imaginary parts from round-off are dropped; large ones raise ValueError.
    """
    mu1, mu2 = np.atleast_1d(_as_numpy(mu1)), np.atleast_1d(_as_numpy(mu2))
    sigma1, sigma2 = np.atleast_2d(_as_numpy(sigma1)), np.atleast_2d(_as_numpy(sigma2))
    if mu1.shape != mu2.shape or mu1.ndim != 1:
        raise ValueError(f"means must be vectors of the same length; got {mu1.shape} and {mu2.shape}")
    d = mu1.shape[0]
    if sigma1.shape != (d, d) or sigma2.shape != (d, d):
        raise ValueError(f"covariances must be {d}x{d}; got {sigma1.shape} and {sigma2.shape}")

    diff = mu1 - mu2
    product = sigma1 @ sigma2
    covmean = _sqrtm(product)
    # Accept the root only if it is finite and actually squares back to the product.
    scale = max(np.linalg.norm(product), 1e-12)
    if not np.isfinite(covmean).all() or np.linalg.norm(covmean @ covmean - product) > 1e-3 * scale:
        offset = np.eye(d) * eps
        covmean = _sqrtm((sigma1 + offset) @ (sigma2 + offset))
        if not np.isfinite(covmean).all():
            raise ValueError("the matrix square root of the covariance product is not finite, even regularised")

    if np.iscomplexobj(covmean):
        max_imag = float(np.max(np.abs(np.diagonal(covmean).imag)))
        if not np.allclose(np.diagonal(covmean).imag, 0, atol=1e-3):
            raise ValueError(f"the matrix square root has a large imaginary component ({max_imag:.3g})")
        covmean = covmean.real

    return float(diff @ diff + np.trace(sigma1) + np.trace(sigma2) - 2.0 * np.trace(covmean))


def frechet_distance(feats_a: ArrayLike, feats_b: ArrayLike, eps: float = 1e-6) -> float:
    """Frechet distance between Gaussians fitted (mean, unbiased covariance) to two feature sets.

    FID is this with Inception-v3 pool3 features of real and generated images. It is biased
    upwards for small sets: compare numbers only at the same sample size (50k is customary).
    """
    a, b = _features(feats_a, "feats_a"), _features(feats_b, "feats_b")
    if a.shape[1] != b.shape[1]:
        raise ValueError(f"feature sets differ in dimension: {a.shape[1]} vs {b.shape[1]}")
    return frechet_distance_from_stats(*_gaussian_stats(a), *_gaussian_stats(b), eps=eps)


# --------------------------------------------------------------------------------------------------
# Kernel distance (KID)
# --------------------------------------------------------------------------------------------------

def kernel_inception_distance(feats_a: ArrayLike, feats_b: ArrayLike, subsets: int = 100,
                              subset_size: int = 1000, degree: int = 3, gamma: float | None = None,
                              coef0: float = 1.0, seed: int = 0) -> tuple[float, float]:
    """KID: unbiased MMD^2 with the kernel ``k(x, y) = (gamma x.y + coef0)^degree``, ``gamma = 1/d``.

    The defaults give the cubic kernel ``(x.y/d + 1)^3`` of Binkowski et al. 2018. The estimate is
    averaged over ``subsets`` random subsets (drawn without replacement) of ``subset_size`` examples
    from each set; ``subset_size`` is clipped to the smaller set. Returns ``(mean, std)`` over the
    subsets. Unlike FID, the estimator is unbiased, so it can be slightly negative for equal
    distributions.
    """
    a, b = _features(feats_a, "feats_a"), _features(feats_b, "feats_b")
    if a.shape[1] != b.shape[1]:
        raise ValueError(f"feature sets differ in dimension: {a.shape[1]} vs {b.shape[1]}")
    if subsets < 1:
        raise ValueError("subsets must be at least 1")
    m = min(subset_size, len(a), len(b))
    if m < 2:
        raise ValueError("KID needs at least 2 examples per set")
    g = 1.0 / a.shape[1] if gamma is None else gamma
    rng = np.random.default_rng(seed)

    def kernel(x: np.ndarray, y: np.ndarray) -> np.ndarray:
        return (g * (x @ y.T) + coef0) ** degree

    estimates = np.empty(subsets)
    for i in range(subsets):
        x = a[rng.choice(len(a), m, replace=False)]
        y = b[rng.choice(len(b), m, replace=False)]
        k_xx, k_yy, k_xy = kernel(x, x), kernel(y, y), kernel(x, y)
        # Unbiased: the within-set sums leave out the diagonal k(x_i, x_i) terms.
        within = (k_xx.sum() - np.trace(k_xx) + k_yy.sum() - np.trace(k_yy)) / (m * (m - 1))
        estimates[i] = within - 2.0 * k_xy.mean()
    return float(estimates.mean()), float(estimates.std())


# --------------------------------------------------------------------------------------------------
# Inception score
# --------------------------------------------------------------------------------------------------

def inception_score(probs: ArrayLike, splits: int = 10) -> tuple[float, float]:
    """IS = exp(E_x KL(p(y|x) || p(y))), computed on each of ``splits`` equal parts; ``(mean, std)``.

    ``probs``: ``(n, classes)`` class probabilities (softmax outputs) of any classifier on generated
    samples. It ranges from 1 (every sample gets the same prediction) to the number of classes
    (confident predictions, spread evenly over the classes).
    """
    p = _as_numpy(probs)
    if p.ndim != 2 or len(p) == 0:
        raise ValueError(f"probs must be (n, classes); got shape {p.shape}")
    if (p < 0).any() or not np.allclose(p.sum(axis=1), 1.0, atol=1e-3):
        raise ValueError("probs must be non-negative rows summing to 1 (softmax outputs, not logits)")
    if not 1 <= splits <= len(p):
        raise ValueError(f"splits must be between 1 and the number of examples ({len(p)})")
    scores = []
    for part in np.array_split(p, splits):
        p_y = part.mean(axis=0, keepdims=True)
        # xlogy-style: 0 * log 0 = 0, so exact one-hot predictions are fine.
        with np.errstate(divide="ignore", invalid="ignore"):
            terms = np.where(part > 0, part * (np.log(part) - np.log(p_y)), 0.0)
        scores.append(math.exp(terms.sum(axis=1).mean()))
    return float(np.mean(scores)), float(np.std(scores))


# --------------------------------------------------------------------------------------------------
# Improved precision and recall
# --------------------------------------------------------------------------------------------------

def _knn_radii(feats: torch.Tensor, k: int, chunk_size: int) -> torch.Tensor:
    """Distance from each example to its k-th nearest neighbour within the same set (self excluded)."""
    radii = []
    for start in range(0, len(feats), chunk_size):
        dist = torch.cdist(feats[start:start + chunk_size], feats)
        # The example itself is at distance 0, the smallest; so the k-th neighbour is value k+1.
        radii.append(dist.kthvalue(k + 1, dim=1).values)
    return torch.cat(radii)


def _inside_manifold(queries: torch.Tensor, ref: torch.Tensor, radii: torch.Tensor,
                     chunk_size: int) -> torch.Tensor:
    """For each query: does it fall inside any ball ``B(ref_i, radii_i)``?"""
    inside = []
    for start in range(0, len(queries), chunk_size):
        dist = torch.cdist(queries[start:start + chunk_size], ref)
        inside.append((dist <= radii[None, :]).any(dim=1))
    return torch.cat(inside)


def precision_recall(real_feats: ArrayLike, fake_feats: ArrayLike, k: int = 3,
                     chunk_size: int = 1024) -> dict[str, float]:
    """Improved precision and recall (Kynkaanniemi et al. 2019).

    Each set's manifold is the union of balls around its examples, each ball's radius the distance
    to the example's k-th nearest neighbour in its own set. Precision: fraction of fake examples
    inside the real manifold (quality). Recall: fraction of real examples inside the fake manifold
    (coverage). Distances are computed ``chunk_size`` rows at a time, so memory stays
    ``O(chunk_size * n)``: 10k x 10k sets need ~40 MB per chunk, never the full distance matrix.
    """
    real, fake = _as_torch(real_feats, "real_feats"), _as_torch(fake_feats, "fake_feats")
    if real.shape[1] != fake.shape[1]:
        raise ValueError(f"feature sets differ in dimension: {real.shape[1]} vs {fake.shape[1]}")
    if k < 1 or k >= min(len(real), len(fake)):
        raise ValueError(f"k must be at least 1 and smaller than both set sizes; got k={k}")
    if chunk_size < 1:
        raise ValueError("chunk_size must be at least 1")
    dtype = torch.promote_types(real.dtype, fake.dtype)
    real, fake = real.to(dtype), fake.to(dtype)
    with torch.no_grad():
        real_radii = _knn_radii(real, k, chunk_size)
        fake_radii = _knn_radii(fake, k, chunk_size)
        precision = _inside_manifold(fake, real, real_radii, chunk_size).double().mean().item()
        recall = _inside_manifold(real, fake, fake_radii, chunk_size).double().mean().item()
    return {"precision": float(precision), "recall": float(recall)}


# --------------------------------------------------------------------------------------------------
# Mode coverage on Gaussian-mixture toys
# --------------------------------------------------------------------------------------------------

def mode_coverage(samples: ArrayLike, centers: ArrayLike, std: float, threshold: float = 3.0,
                  min_count: int | None = None) -> dict[str, Any]:
    """Modes covered and sample quality on a mixture of equal Gaussians (ring, grid).

    As in VEEGAN (Srivastava et al. 2017) and Unrolled GAN (Metz et al. 2017): a sample is
    *high quality* when it lies within ``threshold * std`` of its nearest centre, and it is then
    assigned to that mode. A mode is *covered* when at least ``min_count`` high-quality samples
    land on it.

    ``min_count=1`` is the papers' rule (any high-quality sample). The default is one twentieth of
    the count a perfect generator would put on each mode, ``max(1, round(0.05 * n / len(centers)))``
    with ``n`` the number of samples. Why not 1: with many samples, a collapsed generator that
    sprays a little stray mass (a thin bridge between modes, a few outliers) hits a dropped mode's
    small disc by chance now and then, and a single such sample would count the mode as covered;
    the rule then measures sample size more than coverage. Demanding 5% of the expected mass
    ignores such strays but still counts any mode the generator really produces, even one that is
    under-weighted twentyfold; it falls back to 1 for small sample sizes.

    Returns ``modes`` (covered), ``total`` (``len(centers)``), ``high_quality`` (fraction of all
    samples), ``per_mode`` (high-quality samples per mode, a list in the order of ``centers``) and
    ``min_count`` (the threshold used).
    """
    x = _as_torch(samples, "samples").to(torch.float64)
    c = _as_torch(centers, "centers").to(torch.float64)
    if x.shape[1] != c.shape[1]:
        raise ValueError(f"samples have dimension {x.shape[1]} but centers {c.shape[1]}")
    if not std > 0 or not threshold > 0:
        raise ValueError("std and threshold must be positive")
    n, n_modes = len(x), len(c)
    if min_count is None:
        min_count = max(1, round(0.05 * n / n_modes))
    elif min_count < 1:
        raise ValueError("min_count must be at least 1")

    nearest_dist, nearest = [], []
    for start in range(0, n, 65536):  # chunks keep memory flat for millions of samples
        dist = torch.cdist(x[start:start + 65536], c, compute_mode="donot_use_mm_for_euclid_dist")
        d, idx = dist.min(dim=1)
        nearest_dist.append(d)
        nearest.append(idx)
    dist, idx = torch.cat(nearest_dist), torch.cat(nearest)
    good = dist <= threshold * std
    per_mode = torch.bincount(idx[good], minlength=n_modes)
    return {
        "modes": int((per_mode >= min_count).sum().item()),
        "total": n_modes,
        "high_quality": float(good.double().mean().item()),
        "per_mode": [int(v) for v in per_mode.tolist()],
        "min_count": int(min_count),
    }


# --------------------------------------------------------------------------------------------------
# Likelihoods
# --------------------------------------------------------------------------------------------------

def bits_per_dim(nll_nats: float, dims: int) -> float:
    """Convert a per-example negative log-likelihood in nats to bits per dimension: nll / (dims ln 2).

    For discrete data modelled by a density (dequantised images), ``nll_nats`` must already include
    the discretisation term (e.g. ``+ dims * ln 256`` for data scaled to [0, 1]).
    """
    if dims < 1:
        raise ValueError("dims must be at least 1")
    return float(nll_nats) / (dims * math.log(2))


def nll_summary(nll_per_example: ArrayLike, dims: int) -> dict[str, float]:
    """Mean NLL (nats per example), bits per dimension and the standard error of the mean.

    ``stderr`` is in nats per example (sample std / sqrt(n)); ``bits_per_dim_stderr`` is the same
    in bits per dimension. One example gives a stderr of 0.
    """
    v = _as_numpy(nll_per_example).reshape(-1)
    if len(v) == 0:
        raise ValueError("nll_per_example is empty")
    mean = float(v.mean())
    stderr = float(v.std(ddof=1) / math.sqrt(len(v))) if len(v) > 1 else 0.0
    return {
        "nll_nats": mean,
        "bits_per_dim": bits_per_dim(mean, dims),
        "stderr": stderr,
        "bits_per_dim_stderr": bits_per_dim(stderr, dims),
        "n": len(v),
    }


def kl_to_prior(mu: ArrayLike, logvar: ArrayLike) -> float:
    """KL(N(mu, diag(exp(logvar))) || N(0, I)) in nats, summed over latent dims, mean over examples.

    The rate term of a Gaussian VAE: ``0.5 * sum(mu^2 + exp(logvar) - 1 - logvar)``. The first axis
    is examples; all others are latent dimensions.
    """
    m, lv = _as_numpy(mu), _as_numpy(logvar)
    if m.shape != lv.shape or m.ndim == 0 or len(m) == 0:
        raise ValueError(f"mu and logvar must have the same non-empty shape; got {m.shape} and {lv.shape}")
    kl = 0.5 * (m ** 2 + np.exp(lv) - 1.0 - lv)
    return float(kl.reshape(len(kl), -1).sum(axis=1).mean())
