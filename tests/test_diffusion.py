"""Diffusion and flow matching: schedule identities, samplers against analytic denoisers, training,
guidance, persistence, resume and the user's mistakes."""

from __future__ import annotations

import math

import pytest
import torch

from gensdk import api
from gensdk.core import registry  # noqa: F401
from gensdk.core.data import load_dataset
from gensdk.core.diffusion import (alpha_bar_schedule, ddim, dpm_solver_2m, flow_ode, sampling_timesteps,
                                   to_x0_eps, v_target)
from gensdk.core.model import build_model, load_model
from gensdk.core.nn.denoisers import MLPDenoiser, UNet
from gensdk.core.trainer import Trainer, TrainConfig
from gensdk.errors import UserError
from helpers import assert_user_error, gensdk, write_recipe

MU, SD = 1.5, 0.5  # the 1-D Gaussian data of the analytic cases


# --- schedules and parameterisations ------------------------------------------------------------
@pytest.mark.parametrize("name", ["linear", "cosine"])
def test_alpha_bar_falls_from_near_one_to_near_zero(name):
    ab = alpha_bar_schedule(name, 1000)
    assert ab.dtype == torch.float64 and ab.shape == (1000,)
    assert (ab[1:] < ab[:-1]).all() and 0.999 < ab[0] < 1 and 0 < ab[-1] < 1e-4
    # fewer steps cover the same range (the linear betas are scaled by 1000 / T)
    assert abs(alpha_bar_schedule(name, 100)[-1] - ab[-1]) < 1e-4


def test_eps_v_x0_conversions_invert_each_other_in_float64():
    gen = torch.Generator().manual_seed(0)
    x0, eps = torch.randn(64, 3, generator=gen, dtype=torch.float64), torch.randn(64, 3, generator=gen, dtype=torch.float64)
    ab = alpha_bar_schedule("cosine", 1000)[torch.randint(1000, (64, 1), generator=gen)]
    a, s = ab.sqrt(), (1 - ab).sqrt()
    xt = a * x0 + s * eps
    for prediction, out in (("eps", eps), ("v", v_target(x0, eps, a, s))):
        got_x0, got_eps = to_x0_eps(out, xt, a, s, prediction)
        torch.testing.assert_close(got_x0, x0, rtol=0, atol=1e-9 if prediction == "v" else 1e-6)
        torch.testing.assert_close(got_eps, eps, rtol=0, atol=1e-12)
        torch.testing.assert_close(v_target(got_x0, got_eps, a, s), v_target(x0, eps, a, s), rtol=0, atol=1e-9)


def test_sampling_timesteps_are_distinct_and_end_at_zero():
    assert sampling_timesteps(1000, 1) == [999]
    assert sampling_timesteps(10, 10) == list(range(9, -1, -1))
    ts = sampling_timesteps(1000, 37)
    assert ts[0] == 999 and ts[-1] == 0 and len(set(ts)) == 37


# --- samplers against the exact denoiser of Gaussian data ---------------------------------------
def gaussian_denoiser(ab: torch.Tensor):
    """E[eps | x_t] for data N(MU, SD^2): x_t = a x0 + s eps is Gaussian jointly with eps."""
    def denoise(x, t):
        a, s = math.sqrt(ab[t]), math.sqrt(1 - ab[t])
        eps = s * (x - a * MU) / (a * a * SD * SD + s * s)
        return to_x0_eps(eps, x, a, s, "eps")
    return denoise


def quantile_map(z, a, s):
    """Where the probability-flow ODE carries x_T = z: the same quantile of the data distribution."""
    return MU + SD * (z - a * MU) / math.sqrt(a * a * SD * SD + s * s)


def test_ddim_eta0_with_all_steps_follows_the_probability_flow_to_the_exact_quantile():
    ab = alpha_bar_schedule("linear", 1000)
    z = torch.linspace(-3, 3, 61, dtype=torch.float64)
    target = quantile_map(z, math.sqrt(ab[-1]), math.sqrt(1 - ab[-1]))
    out = ddim(gaussian_denoiser(ab), z, ab, steps=1000, eta=0.0)
    err = (out - target).abs().max()
    assert err < 6e-3
    # DDIM is Euler's method in (x / a, s / a), first order: half the steps, twice the error
    err_half = (ddim(gaussian_denoiser(ab), z, ab, steps=500, eta=0.0) - target).abs().max()
    assert 1.8 < err_half / err < 2.2
    # deterministic: the same start gives the same end, whatever the global random state
    torch.manual_seed(1)
    assert torch.equal(ddim(gaussian_denoiser(ab), z, ab, steps=1000), out)


@pytest.mark.parametrize("eta", [1.0, 0.5])
def test_ancestral_ddim_lands_on_the_data_distribution(eta):
    ab = alpha_bar_schedule("cosine", 1000)
    torch.manual_seed(0)
    x = ddim(gaussian_denoiser(ab), torch.randn(20_000, dtype=torch.float64), ab, steps=200, eta=eta)
    assert abs(x.mean() - MU) < 0.02 and abs(x.std() / SD - 1) < 0.03


def test_dpm_solver_beats_ddim_at_equal_steps_on_the_exact_flow():
    ab = alpha_bar_schedule("cosine", 1000)
    z = torch.linspace(-3, 3, 61, dtype=torch.float64)
    target = quantile_map(z, math.sqrt(ab[-1]), math.sqrt(1 - ab[-1]))
    for steps in (10, 20):
        err_ddim = (ddim(gaussian_denoiser(ab), z, ab, steps) - target).abs().max()
        err_dpm = (dpm_solver_2m(gaussian_denoiser(ab), z, ab, steps) - target).abs().max()
        assert err_dpm < 0.5 * err_ddim, (steps, err_dpm, err_ddim)
    assert (dpm_solver_2m(gaussian_denoiser(ab), z, ab, 20) - target).abs().max() < 1e-2


def gaussian_velocity(x, t):
    """The marginal velocity of the straight path from N(0, 1) to N(MU, SD^2) (independent coupling):
    mean t MU, variance (1 - t)^2 + t^2 SD^2."""
    var = (1 - t) ** 2 + t * t * SD * SD
    return MU + (t * SD * SD - (1 - t)) / var * (x - t * MU)


def test_heun_on_flow_matching_lands_on_the_target_and_beats_euler():
    z = torch.linspace(-3, 3, 61, dtype=torch.float64)
    target = MU + SD * z
    for steps in (5, 10, 20):
        err_euler = (flow_ode(gaussian_velocity, z, steps, "euler") - target).abs().max()
        err_heun = (flow_ode(gaussian_velocity, z, steps, "heun") - target).abs().max()
        assert err_heun < 0.2 * err_euler, (steps, err_heun, err_euler)
    err_20, err_40 = ((flow_ode(gaussian_velocity, z, n, "heun") - target).abs().max() for n in (20, 40))
    assert err_20 < 2e-3 and err_20 / err_40 > 3.2  # second order: twice the steps, about a quarter of the error
