"""Metrics on inputs whose right answer is known in closed form."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from gensdk.core.metrics import (
    bits_per_dim,
    frechet_distance,
    frechet_distance_from_stats,
    inception_score,
    kernel_inception_distance,
    kl_to_prior,
    mode_coverage,
    nll_summary,
    precision_recall,
)


def exact_gaussian_sample(n: int, mean: np.ndarray, cov: np.ndarray, seed: int) -> np.ndarray:
    """n points whose sample mean and (unbiased) covariance are exactly ``mean`` and ``cov``."""
    rng = np.random.default_rng(seed)
    z = rng.standard_normal((n, len(mean)))
    z -= z.mean(axis=0)
    z = z @ np.linalg.inv(np.linalg.cholesky(np.cov(z, rowvar=False))).T  # whiten: cov(z) = I
    return z @ np.linalg.cholesky(cov).T + mean


def ring(modes: int = 8, radius: float = 2.0) -> np.ndarray:
    angles = np.arange(modes) * 2 * np.pi / modes
    return np.stack([radius * np.cos(angles), radius * np.sin(angles)], 1)


# --- Frechet distance -----------------------------------------------------------------------------

def test_fd_shifted_identity_gaussians_is_squared_mean_distance():
    d, m = 6, np.array([1.0, -2.0, 0.5, 0.0, 3.0, 1.0])
    a = exact_gaussian_sample(500, np.zeros(d), np.eye(d), seed=0)
    b = exact_gaussian_sample(500, m, np.eye(d), seed=1)
    assert frechet_distance(a, b) == pytest.approx(m @ m, rel=1e-6)
    assert frechet_distance(torch.tensor(a), torch.tensor(b)) == pytest.approx(m @ m, rel=1e-6)


def test_fd_diagonal_covariances_closed_form():
    va, vb = np.array([1.0, 4.0, 0.25, 2.0]), np.array([9.0, 1.0, 0.25, 0.5])
    ma, mb = np.array([0.0, 1.0, 2.0, 3.0]), np.array([1.0, 1.0, 0.0, 3.0])
    expected = np.sum((ma - mb) ** 2) + np.sum((np.sqrt(va) - np.sqrt(vb)) ** 2)
    assert frechet_distance_from_stats(ma, np.diag(va), mb, np.diag(vb)) == pytest.approx(expected, rel=1e-9)
    a = exact_gaussian_sample(400, ma, np.diag(va), seed=2)
    b = exact_gaussian_sample(400, mb, np.diag(vb), seed=3)
    assert frechet_distance(a, b) == pytest.approx(expected, rel=1e-6)


def test_fd_of_a_set_with_itself_is_zero():
    x = np.random.default_rng(4).standard_normal((300, 10)) @ np.random.default_rng(5).standard_normal((10, 10))
    assert abs(frechet_distance(x, x)) < 1e-6


def test_fd_singular_covariance_falls_back_and_stays_finite():
    # Fewer examples than dimensions: both covariances are singular.
    rng = np.random.default_rng(6)
    a, b = rng.standard_normal((20, 64)), rng.standard_normal((20, 64)) + 1.0
    fd = frechet_distance(a, b)
    assert math.isfinite(fd) and fd > 64 * 0.5  # mean shift alone contributes 64 * 1^2, roughly


def test_fd_rejects_mismatched_dimensions():
    with pytest.raises(ValueError):
        frechet_distance(np.zeros((10, 3)), np.zeros((10, 4)))


# --- KID ------------------------------------------------------------------------------------------

def test_kid_near_zero_for_same_distribution_and_positive_when_shifted():
    rng = np.random.default_rng(7)
    a, b = rng.standard_normal((1000, 16)), rng.standard_normal((1000, 16))
    same_mean, same_std = kernel_inception_distance(a, b, subsets=20, subset_size=500)
    shifted_mean, shifted_std = kernel_inception_distance(a, b + 0.5, subsets=20, subset_size=500)
    assert abs(same_mean) < 0.01
    assert shifted_mean > 0.1 and shifted_mean > 20 * max(abs(same_mean), shifted_std)


def test_kid_clips_subset_size_and_is_reproducible():
    rng = np.random.default_rng(8)
    a, b = rng.standard_normal((50, 4)), rng.standard_normal((80, 4))
    first = kernel_inception_distance(a, b, subsets=5, subset_size=1000, seed=3)
    assert first == kernel_inception_distance(a, b, subsets=5, subset_size=1000, seed=3)


# --- Inception score ------------------------------------------------------------------------------

def test_inception_score_extremes():
    classes, n = 10, 1000
    confident = np.eye(classes)[np.arange(n) % classes]  # each split holds every class equally
    mean, std = inception_score(confident, splits=10)
    assert mean == pytest.approx(classes) and std == pytest.approx(0.0, abs=1e-9)
    constant = np.tile(np.random.default_rng(9).dirichlet(np.ones(classes)), (n, 1))
    assert inception_score(torch.tensor(constant), splits=5)[0] == pytest.approx(1.0)


def test_inception_score_rejects_logits():
    with pytest.raises(ValueError):
        inception_score(np.random.default_rng(0).standard_normal((20, 3)), splits=2)


# --- Precision / recall ---------------------------------------------------------------------------

def test_precision_recall_same_distribution_near_one():
    rng = np.random.default_rng(10)
    real, fake = rng.standard_normal((2000, 8)), rng.standard_normal((2000, 8))
    pr = precision_recall(real, fake, k=3)
    assert pr["precision"] > 0.8 and pr["recall"] > 0.8
    same = precision_recall(real, real, k=3)
    assert same == {"precision": 1.0, "recall": 1.0}


def test_precision_recall_disjoint_clouds():
    rng = np.random.default_rng(11)
    real, fake = rng.standard_normal((500, 4)), rng.standard_normal((500, 4)) + 50.0
    assert precision_recall(real, fake) == {"precision": 0.0, "recall": 0.0}


def test_precision_recall_chunking_does_not_change_result():
    rng = np.random.default_rng(12)
    real = torch.tensor(rng.standard_normal((300, 5)))
    fake = torch.tensor(rng.standard_normal((250, 5)) * 1.5)
    assert precision_recall(real, fake, k=5, chunk_size=7) == precision_recall(real, fake, k=5, chunk_size=4096)


def test_precision_high_recall_low_for_collapsed_generator():
    rng = np.random.default_rng(13)
    real = rng.standard_normal((1000, 2)) * 3.0
    fake = rng.standard_normal((1000, 2)) * 0.3  # sits in the middle of the real cloud
    pr = precision_recall(real, fake)
    assert pr["precision"] > 0.9 and pr["recall"] < 0.2


# --- Mode coverage --------------------------------------------------------------------------------

def test_mode_coverage_full_ring():
    centers, std = ring(), 0.02
    rng = np.random.default_rng(14)
    samples = centers[rng.integers(8, size=4000)] + std * rng.standard_normal((4000, 2))
    out = mode_coverage(samples, centers, std)
    assert out["modes"] == 8 and out["total"] == 8
    assert out["high_quality"] > 0.98  # P(|N(0, I_2)| <= 3) = 1 - exp(-4.5) = 0.989
    assert sum(out["per_mode"]) == round(out["high_quality"] * 4000) and len(out["per_mode"]) == 8


def test_mode_coverage_three_modes_and_stray_samples():
    centers, std = torch.tensor(ring()), 0.02
    gen = torch.Generator().manual_seed(15)
    samples = centers[torch.randint(3, (3000,), generator=gen)] + std * torch.randn(3000, 2, generator=gen)
    assert mode_coverage(samples, centers, std)["modes"] == 3
    # Two stray samples exactly on a dropped mode: the papers' rule (min_count=1) counts it,
    # the default threshold (round(0.05 * 3002 / 8) = 19) does not.
    with_strays = torch.cat([samples, centers[5:6].repeat(2, 1)])
    assert mode_coverage(with_strays, centers, std)["modes"] == 3
    assert mode_coverage(with_strays, centers, std, min_count=1)["modes"] == 4


def test_mode_coverage_far_noise_has_no_quality():
    centers = ring()
    noise = np.random.default_rng(16).standard_normal((1000, 2)) + 100.0
    out = mode_coverage(noise, centers, 0.02)
    assert out["high_quality"] == 0.0 and out["modes"] == 0 and out["per_mode"] == [0] * 8


# --- Likelihoods ----------------------------------------------------------------------------------

def test_bits_per_dim_conversion():
    assert bits_per_dim(784 * math.log(2), 784) == pytest.approx(1.0)
    assert bits_per_dim(3 * 8 * math.log(2), 3) == pytest.approx(8.0)


def test_nll_summary():
    nll = torch.tensor([10.0, 12.0, 14.0, 16.0])
    out = nll_summary(nll, dims=4)
    assert out["nll_nats"] == pytest.approx(13.0)
    assert out["bits_per_dim"] == pytest.approx(13.0 / (4 * math.log(2)))
    assert out["stderr"] == pytest.approx(np.std([10, 12, 14, 16], ddof=1) / 2)


def test_kl_to_prior():
    assert kl_to_prior(torch.zeros(5, 3), torch.zeros(5, 3)) == pytest.approx(0.0)
    mu, logvar = torch.tensor([[1.0, 2.0]]), torch.tensor([[0.0, math.log(4.0)]])
    # 0.5 * [(1 + 1 - 1 - 0) + (4 + 4 - 1 - ln 4)]
    assert kl_to_prior(mu, logvar) == pytest.approx(0.5 * (1 + 7 - math.log(4)))


def test_image_quality_separates_real_images_from_noise():
    """The evaluation path for image models: real test digits score far better than uniform noise."""
    import torch

    from gensdk.core.data import load_dataset
    from gensdk.core.evaluation import image_quality

    data = load_dataset("digits", split="train")

    class Replay:  # a "model" that samples real images, and one that samples noise
        def __init__(self, x):
            self.x = x

        def sample(self, n):
            return self.x[torch.randint(len(self.x), (n,))]

    test = load_dataset("digits", split="test").x
    with torch.no_grad():  # as evaluate() calls it
        good = image_quality(Replay(test), data, 300, seed=0)
        bad = image_quality(Replay((torch.rand(500, 1, 8, 8) > 0.5).float()), data, 300, seed=0)
    assert good["fd_cnn"] < bad["fd_cnn"] / 5
    assert good["is_cnn"] > 7 and good["is_cnn"] > bad["is_cnn"]  # IS alone is fooled by noise (~5 here)
    assert good["precision"] > 0.5 > bad["precision"]
