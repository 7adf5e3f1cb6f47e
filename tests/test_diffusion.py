"""Diffusion and flow matching: schedule identities, samplers against analytic denoisers, training,
guidance, persistence, resume and the user's mistakes."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest
import torch

from gensdk import api
from gensdk.core import registry  # noqa: F401
from gensdk.core.data import load_dataset, ring_centers
from gensdk.core.diffusion import (absorb, alpha_bar_schedule, ddim, dpm_solver_2m, flow_ode, sampling_timesteps,
                                   to_x0_eps, unmask, v_target)
from gensdk.core.metrics import mode_coverage
from gensdk.core.model import build_model, load_model
from gensdk.core.nn.denoisers import MLPDenoiser, UNet
from gensdk.core.trainer import Trainer, TrainConfig
from gensdk.errors import UserError
from helpers import assert_user_error, gensdk, write_recipe

RECIPES = Path(__file__).resolve().parents[1] / "recipes"
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
    x0, eps = (torch.randn(64, 3, generator=gen, dtype=torch.float64) for _ in range(2))
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


def ring_velocity(x, t, std=0.02):
    """The exact marginal velocity of the straight path from N(0, I) to the 8-Gaussians ring of ``std``:
    each component's Gaussian velocity, weighted by its posterior given x at time t."""
    centers = ring_centers().double()
    var = (1 - t) ** 2 + t * t * std * std
    offset = x[:, None, :] - t * centers[None]
    weights = torch.softmax(-(offset ** 2).sum(-1) / (2 * var), dim=1)
    return (weights[..., None] * (centers[None] + (t * std * std - (1 - t)) / var * offset)).sum(1)


def test_heun_keeps_tight_modes_sharp_in_few_steps():
    # At t = 1 the exact velocity of tight modes is x itself, off the straight path: a trapezoid with it on
    # the last step put 81% of the samples off their mode at 5 steps (the midpoint rule there fixes it)
    z = torch.randn(4000, 2, dtype=torch.float64, generator=torch.Generator().manual_seed(0))
    quality = {(method, steps): mode_coverage(flow_ode(ring_velocity, z, steps, method), ring_centers(), 0.02)
               ["high_quality"] for method in ("euler", "heun") for steps in (5, 10)}
    assert quality["heun", 5] > 0.95 and quality["heun", 5] > quality["euler", 5] + 0.1, quality
    assert quality["heun", 10] > 0.99, quality


# --- masked diffusion of categorical variables ---------------------------------------------------
PROBS = torch.tensor([0.6, 0.3, 0.1])  # three categories; index 3 is the mask


def test_absorb_masks_each_code_with_probability_one_minus_keep():
    torch.manual_seed(0)
    codes = torch.randint(3, (4, 50_000))
    keep = torch.tensor([[1.0], [0.8], [0.3], [0.0]])  # one keep per row, broadcast
    tokens = absorb(codes, keep, mask_id=3)
    masked = (tokens == 3).float().mean(1)
    torch.testing.assert_close(masked, 1 - keep[:, 0], atol=0.01, rtol=0)
    assert torch.equal(tokens[tokens != 3], codes[tokens != 3])  # what stays is untouched


def test_unmask_takes_the_forward_marginal_one_step_back_and_draws_from_the_logits():
    """Masked at keep 0.3, one reverse step to keep 0.7 leaves 30% masked, exactly what absorb gives at
    0.7; revealed tokens follow the logits' softmax and tokens revealed before never change."""
    torch.manual_seed(0)
    codes = torch.multinomial(PROBS, 200_000, replacement=True)
    tokens = absorb(codes, torch.tensor(0.3), mask_id=3)
    logits = PROBS.log().expand(len(codes), 3)
    after = unmask(tokens, logits, keep=0.3, keep_next=0.7, mask_id=3)
    assert abs((after == 3).float().mean() - 0.3) < 0.005
    assert torch.equal(after[tokens != 3], tokens[tokens != 3])
    revealed = after[(tokens == 3) & (after != 3)]
    torch.testing.assert_close(torch.bincount(revealed, minlength=3) / len(revealed), PROBS, atol=0.01, rtol=0)


def test_unmasking_along_a_schedule_ends_with_every_token_revealed():
    torch.manual_seed(0)
    alpha_bar = alpha_bar_schedule("cosine", 100)
    ts = sampling_timesteps(100, 7)
    tokens = torch.full((10_000,), 3)
    logits = PROBS.log().expand(len(tokens), 3)
    masked = []
    for t, t_next in zip(ts, ts[1:] + [None]):
        keep_next = 1.0 if t_next is None else float(alpha_bar[t_next])
        tokens = unmask(tokens, logits, float(alpha_bar[t]), keep_next, mask_id=3)
        masked.append((tokens == 3).float().mean().item())
    assert masked == sorted(masked, reverse=True) and masked[-1] == 0.0 and masked[0] > 0.5
    torch.testing.assert_close(torch.bincount(tokens, minlength=3) / len(tokens), PROBS, atol=0.015, rtol=0)


# --- denoisers ----------------------------------------------------------------------------------
def test_denoisers_keep_the_shape_and_see_time_and_label():
    torch.manual_seed(0)
    mlp = MLPDenoiser(2, width=16, depth=2, num_classes=3)
    x, t = torch.randn(5, 2), torch.rand(5)
    y = torch.tensor([0, 1, 2, 3, 0])  # 3: the "no label" class of guidance
    assert mlp(x, t, y).shape == (5, 2)
    assert not torch.allclose(mlp(x, t, y), mlp(x, t + 0.1, y))
    assert not torch.allclose(mlp(x, t, y), mlp(x, t, y.flip(0)))
    unet = UNet(3, 32, width=8, channel_mult=[1, 2, 2], blocks=1, attention=True)
    for p in unet.parameters():  # the zero-initialised output layers would hide everything else
        torch.nn.init.normal_(p, std=0.1)
    img = torch.randn(2, 3, 32, 32)
    assert unet(img, torch.rand(2)).shape == img.shape
    # width 8: a GroupNorm group per channel, which would erase an embedding added before it
    unet = UNet(1, 8, width=8, channel_mult=[1, 2], blocks=1, attention=False, num_classes=3)
    for p in unet.parameters():
        torch.nn.init.normal_(p, std=0.1)
    img, t, y = torch.randn(4, 1, 8, 8), torch.rand(4), torch.tensor([0, 1, 2, 3])
    assert (unet(img, t, y) - unet(img, t, y.flip(0))).abs().mean() > 1e-3
    assert (unet(img, t, y) - unet(img, t + 0.3, y)).abs().mean() > 1e-3
    with pytest.raises(ValueError, match="not divisible"):
        UNet(1, 12, channel_mult=[1, 2, 2, 2])


# --- training ------------------------------------------------------------------------------------
def test_a_small_ring_model_covers_the_modes_with_sharp_samples():
    """2000 steps (about 30 s on one CPU thread). A model that learned only the circle and not its
    modes puts about 8% of its samples within 3 std of a centre; this one puts most there."""
    data = load_dataset("ring", n=8192)
    torch.manual_seed(0)
    model = build_model("diffusion", data_shape=[2], width=128, depth=3, prediction="v", lr=6e-3)
    Trainer(model, data.x, TrainConfig(steps=2000, batch_size=256, ema_decay=0.99, progress=False)).fit()
    torch.manual_seed(1)
    results = api.evaluate(model, data, n_samples=2000, sample_options={"steps": 20})
    assert results["modes"] == 8 and results["high_quality"] > 0.5, results


# --- guidance, persistence, resume ---------------------------------------------------------------
def conditional_model(name="diffusion", **kw):
    torch.manual_seed(0)
    return build_model(name, data_shape=[2], width=16, depth=1, num_classes=3, **kw)


@pytest.mark.parametrize("name", ["diffusion", "flow"])
def test_guidance_scale_0_is_the_unconditional_prediction_and_1_the_conditional(name):
    model = conditional_model(name).eval()
    x, y = torch.randn(6, 2), torch.tensor([0, 1, 2, 0, 1, 2])
    t = torch.full((6,), 0.3)
    cond, uncond = model.net(x, t, y), model.net(x, t, torch.full_like(y, 3))
    torch.testing.assert_close(model.guided(x, 0.3, y, 0.0), uncond, rtol=0, atol=1e-6)
    torch.testing.assert_close(model.guided(x, 0.3, y, 1.0), cond, rtol=0, atol=0)
    torch.testing.assert_close(model.guided(x, 0.3, y, 3.0), uncond + 3 * (cond - uncond), rtol=0, atol=1e-5)
    # with scale 0 the labels no longer matter
    samples = []
    for labels in (0, 2):
        torch.manual_seed(5)
        samples.append(model.sample(8, steps=4, guidance=0.0, labels=labels))
    torch.testing.assert_close(samples[0], samples[1], rtol=0, atol=1e-5)


def test_label_dropout_trains_the_no_label_class():
    model = conditional_model(label_dropout=0.5)
    seen = []
    model.net.cond.label.register_forward_hook(lambda module, args, out: seen.append(args[0].clone()))
    model.train_step((torch.randn(256, 2), torch.randint(3, (256,))), _NoOptimizer())
    assert 0.35 < (seen[0] == 3).float().mean() < 0.65


class _NoOptimizer:
    def optimize(self, name, loss):
        loss.backward()


@pytest.mark.parametrize("name, sampler", [("diffusion", "ddim"), ("diffusion", "ddpm"), ("diffusion", "dpm++2m"),
                                           ("flow", "euler"), ("flow", "heun")])
def test_save_and_load_give_identical_samples_with_the_same_seed(tmp_path, name, sampler):
    model = conditional_model(name, **({"prediction": "v", "timesteps": 50} if name == "diffusion" else {}))
    model.save(tmp_path / "m")
    loaded = load_model(tmp_path / "m")
    outs = []
    for m in (model.eval(), loaded):
        torch.manual_seed(3)
        outs.append(m.sample(10, steps=5, sampler=sampler, guidance=1.5))
    assert torch.equal(outs[0], outs[1]) and torch.isfinite(outs[0]).all()


def test_a_run_stopped_and_resumed_gives_bit_identical_weights(tmp_path):
    """A conditional U-Net diffusion model with EMA, stopped after its first step and resumed: the
    label dropout, time steps and noise of each step depend on (seed, step) alone."""
    data = load_dataset("digits", split="train", binarize=False, scale="tanh")
    x, y = data.x[:64], data.y[:64]
    config = dict(steps=6, batch_size=16, ema_decay=0.9, checkpoint_every=100, progress=False)

    def make():
        torch.manual_seed(0)
        return build_model("diffusion", data_shape=[1, 8, 8], arch="unet", width=8, depth=1, num_classes=10,
                           timesteps=100, clip=1.0)

    unbroken = Trainer(make(), (x, y), TrainConfig(**config), tmp_path / "a").fit()
    first = Trainer(make(), (x, y), TrainConfig(**config), tmp_path / "b")
    first.fit(stop_after=0.0)
    assert first.step == 1 and not first.finished
    Trainer(make(), (x, y), TrainConfig(**config), tmp_path / "b").fit(resume=True)
    a, b = unbroken.state_dict(), load_model(tmp_path / "b" / "model").state_dict()
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


# --- a context vector beside the label (e.g. a style embedding) and given starting noise ----------
def test_denoisers_with_a_context_see_it_and_refuse_a_missing_one():
    torch.manual_seed(0)
    for net in (MLPDenoiser(4, width=16, depth=1, num_classes=3, context_dim=5),
                UNet(1, 8, width=8, channel_mult=[1, 2], blocks=1, num_classes=3, context_dim=5)):
        for p in net.parameters():  # the zero-initialised output layers would hide everything else
            torch.nn.init.normal_(p, std=0.1)
        x = torch.randn(2, 4) if isinstance(net, MLPDenoiser) else torch.randn(2, 1, 8, 8)
        t, y, c = torch.rand(2), torch.tensor([0, 1]), torch.randn(2, 5)
        assert net(x, t, y, c).shape == x.shape
        assert not torch.allclose(net(x, t, y, c), net(x, t, y, c.flip(0)))
        with pytest.raises(ValueError, match=r"context of shape \[2, 5\]"):
            net(x, t, y)


def context_model(name="diffusion", **kw):
    torch.manual_seed(0)
    return build_model(name, data_shape=[2], width=16, depth=1, num_classes=3, context_dim=4, **kw)


def test_context_is_dropped_with_the_label_and_guidance_contrasts_both():
    model = context_model(label_dropout=0.5)
    seen = {}
    for key, module in (("y", model.net.cond.label), ("c", model.net.cond.context)):
        module.register_forward_hook(lambda m, args, out, key=key: seen.update({key: args[0].clone()}))
    model.train_step((torch.randn(256, 2), torch.randint(3, (256,)), torch.randn(256, 4) + 5), _NoOptimizer())
    dropped_label, zero_context = seen["y"] == 3, (seen["c"] == 0).all(1)
    assert 0.35 < dropped_label.float().mean() < 0.65 and torch.equal(dropped_label, zero_context)
    model.eval()
    x, y, c, t = torch.randn(6, 2), torch.arange(6) % 3, torch.randn(6, 4), torch.full((6,), 0.3)
    uncond = model.net(x, t, torch.full_like(y, 3), torch.zeros_like(c))
    torch.testing.assert_close(model.guided(x, 0.3, y, 0.0, c), uncond, rtol=0, atol=1e-6)
    torch.testing.assert_close(model.guided(x, 0.3, y, 1.0, c), model.net(x, t, y, c), rtol=0, atol=0)


@pytest.mark.parametrize("name", ["diffusion", "flow"])
def test_given_noise_gives_each_sample_whatever_the_batch(name):
    model = context_model(name, **({"sampler": "ddim"} if name == "diffusion" else {})).eval()
    noise, c, y = torch.randn(6, 2), torch.randn(6, 4), torch.tensor([0, 1, 2, 0, 1, 2])
    whole = model.sample(6, steps=5, labels=y, guidance=2.0, context=c, noise=noise)
    part = model.sample(2, steps=5, labels=y[3:5], guidance=2.0, context=c[3:5], noise=noise[3:5])
    torch.testing.assert_close(whole[3:5], part, rtol=0, atol=1e-5)
    other = model.sample(6, steps=5, labels=y, guidance=2.0, context=c.flip(0), noise=noise)
    assert not torch.allclose(whole, other)  # the context matters


@pytest.mark.parametrize("options, fragment", [
    ({}, "takes a context per sample"),
    ({"context": torch.zeros(3, 4)}, "context must be a tensor of 4 rows"),
    ({"context": torch.zeros(4, 4), "noise": torch.zeros(4, 3)}, "noise must be a tensor of shape [4, 2]"),
])
def test_bad_context_or_noise_is_one_clear_error(options, fragment):
    with pytest.raises(UserError) as err:
        context_model().sample(4, **options)
    assert fragment in str(err.value)
    with pytest.raises(UserError, match="takes no context"):
        conditional_model().sample(4, context=torch.zeros(4, 4))


# --- the user's mistakes ------------------------------------------------------------------------
@pytest.mark.parametrize("options, fragment", [
    ({"schedule": "quadratic"}, "unknown noise schedule 'quadratic'"),
    ({"prediction": "x0"}, "unknown prediction 'x0'"),
    ({"arch": "resnet"}, "unknown arch 'resnet'"),
    ({"sampler": "euler"}, "unknown sampler 'euler' for model 'diffusion'"),
    ({"sample_steps": 0}, "steps must be a positive integer"),
])
def test_bad_model_options_are_one_clear_error(options, fragment):
    with pytest.raises(UserError, match=fragment.replace("(", r"\(")):
        build_model("diffusion", data_shape=[2], **options)


@pytest.mark.parametrize("name, options, fragment", [
    ("diffusion", {"steps": 0}, "steps must be a positive integer, got 0"),
    ("flow", {"steps": -3}, "steps must be a positive integer, got -3"),
    ("diffusion", {"steps": 2000}, "at most the model's 1000 diffusion steps"),
    ("diffusion", {"sampler": "heun"}, "unknown sampler 'heun' for model 'diffusion'; known: ddim, ddpm, dpm++2m"),
    ("flow", {"sampler": "ddim"}, "unknown sampler 'ddim' for model 'flow'; known: euler, heun"),
    ("diffusion", {"guidance": 2.0}, "unconditional (num_classes=0): it takes no guidance scale"),
    ("flow", {"labels": 1}, "unconditional (num_classes=0): it takes no labels"),
    ("diffusion", {"eta": 0.5, "sampler": "dpm++2m"}, "eta is a number in [0, 1] for the ddim sampler"),
])
def test_bad_sampling_options_are_one_clear_error(name, options, fragment):
    model = build_model(name, data_shape=[2], width=8, depth=1)
    with pytest.raises(UserError) as err:
        model.sample(4, **options)
    assert fragment in str(err.value)


def test_cli_trains_samples_and_evaluates_a_ring_recipe_and_refuses_bad_options(tmp_path):
    run = tmp_path / "run"
    gensdk("train", RECIPES / "ring-diffusion.yaml", "--out", run, "--quiet", "--set", "train.steps=30",
           "--set", "model.width=16", "--set", "data.n=2048", "--set", "evaluate.samples=200",
           "--set", "evaluate.sample.steps=5", check=True)
    assert json.loads((run / "metrics.json").read_text())["total_modes"] == 8
    gensdk("sample", run, "-n", "50", "-o", tmp_path / "x.csv", "--option", "steps=5", "--option", "sampler=ddim",
           "--option", "eta=0.5", check=True)
    assert np.loadtxt(tmp_path / "x.csv", delimiter=",").shape == (50, 2)
    gensdk("sample", run, "-n", "20", "-o", tmp_path / "x.png", "--option", "steps=3", check=True)
    assert (tmp_path / "x.png").read_bytes()[:4] == b"\x89PNG"
    evaluated = gensdk("evaluate", run, "--set", "evaluate.samples=100", "--set", "evaluate.sample.sampler=ddim",
                       "--set", "evaluate.sample.steps=4", check=True)
    assert "modes" in evaluated.stdout
    assert_user_error(gensdk("sample", run, "-n", "5", "-o", tmp_path / "y.csv", "--option", "steps=0"),
                      "steps must be a positive integer, got 0")
    assert_user_error(gensdk("sample", run, "-n", "5", "-o", tmp_path / "y.csv", "--option", "temperature=2"),
                      "model 'diffusion' has no sampling option 'temperature'")
    assert_user_error(gensdk("train", RECIPES / "ring-flow.yaml", "--out", tmp_path / "bad", "--set", "model.sampler=rk4"),
                      "unknown sampler 'rk4' for model 'flow'")
    assert not (tmp_path / "y.csv").exists()
