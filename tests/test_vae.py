"""VAE, AAE and WAE (gensdk.core.vae): shapes, the IWAE bound, training through the Trainer,
beta weighting, conditioning, and save/load. Tiny networks on binarized 8x8 digits, CPU, a few seconds."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from gensdk.core.data import load_dataset
from gensdk.core.model import StepContext, build_model, load_model, save_model
from gensdk.core.trainer import TrainConfig, Trainer
from gensdk.core.vae import AAE, VAE, WAE, imq_mmd
from gensdk.errors import UserError

SHAPE = [1, 8, 8]
TINY = dict(data_shape=SHAPE, latent_dim=8, hidden=[64])


@pytest.fixture(scope="module", autouse=True)
def one_thread():
    """Tiny nets run fastest on one thread, and far slower when threads oversubscribe busy cores."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="module")
def digits():
    return load_dataset("digits", split="train"), load_dataset("digits", split="test")


def fit(model, data, steps=300, batch_size=64, seed=0):
    trainer = Trainer(model, data, TrainConfig(steps=steps, batch_size=batch_size, seed=seed, device="cpu",
                                               progress=False, log_every=25))
    trainer.fit()
    return trainer


def neg_elbo(model, x, seed=0, draws=1):
    """Mean -ELBO over the examples, averaged over ``draws`` one-sample estimates."""
    torch.manual_seed(seed)
    with torch.no_grad():
        return -sum(model.elbo(x).mean().item() for _ in range(draws)) / draws


@pytest.fixture(scope="module")
def trained_vae(digits):
    """A VAE trained for 300 steps, with its test -ELBO before training."""
    train, test = digits
    torch.manual_seed(0)
    model = VAE(**TINY)
    before = neg_elbo(model, test.x)
    trainer = fit(model, train.x)
    return model, before, trainer


@pytest.mark.parametrize("cls", [VAE, AAE, WAE])
@pytest.mark.parametrize("likelihood", ["bernoulli", "gaussian"])
def test_sample_shapes_and_ranges(cls, likelihood):
    torch.manual_seed(0)
    model = cls(**TINY, likelihood=likelihood)
    mean = model.sample(5)
    draw = model.sample(7, mean=False)
    assert mean.shape == (5, *SHAPE) and draw.shape == (7, *SHAPE)
    assert mean.dtype == torch.float32 and not mean.requires_grad
    if likelihood == "bernoulli":
        assert 0 <= mean.min() and mean.max() <= 1
        assert set(draw.unique().tolist()) <= {0.0, 1.0}
    assert model.reconstruct(torch.zeros(3, *SHAPE)).shape == (3, *SHAPE)


def test_training_decreases_loss(trained_vae, digits):
    model, before, trainer = trained_vae
    after = neg_elbo(model, digits[1].x)
    assert before > 40  # ~ 64 * log 2 at initialisation
    assert after < 0.7 * before, (before, after)
    losses = [record["loss"] for record in trainer.history]
    assert losses[-1] < 0.7 * losses[0]
    assert set(trainer.history[-1]) >= {"loss", "recon", "kl"}


def test_gaussian_vae_learns_its_variance_and_uses_its_latent():
    """On continuous digits the decoder variance must shrink from 1 quickly; if it did not, the weak
    reconstruction signal would let the KL collapse the posterior (KL ~ 0)."""
    train = load_dataset("digits", split="train", binarize=False)
    torch.manual_seed(0)
    model = VAE(**TINY, likelihood="gaussian")
    trainer = fit(model, train.x)
    assert model.log_var.mean().item() < -1.5
    assert trainer.history[-1]["kl"] > 1.0
    assert trainer.history[-1]["loss"] < 0.5 * trainer.history[0]["loss"]


def test_importance_weighted_nll_is_below_negative_elbo(trained_vae, digits):
    model, _, _ = trained_vae
    x = digits[1].x
    torch.manual_seed(1)
    iw = model.nll(x, k=100)
    assert iw.shape == (len(x),) and torch.isfinite(iw).all()
    # Burda et al. 2016: log p(x) >= IW bound (k=100) >= ELBO, so the NLL estimate sits below -ELBO.
    assert iw.mean().item() < neg_elbo(model, x, seed=2, draws=10)
    # k=1 is the ELBO itself (in expectation).
    torch.manual_seed(3)
    one = model.nll(x, k=1).mean().item()
    assert abs(one - neg_elbo(model, x, seed=4, draws=10)) < 0.5
    # Chunking over k only bounds memory: the estimate agrees up to Monte Carlo noise.
    torch.manual_seed(5)
    whole = model.nll(x, k=30, chunk=30).mean().item()
    chunked = model.nll(x, k=30, chunk=7).mean().item()
    assert abs(whole - chunked) < 0.2, (whole, chunked)


def test_nll_runs_in_float32_under_autocast(trained_vae, digits):
    model, _, _ = trained_vae
    x = digits[1].x[:16]
    torch.manual_seed(0)
    plain = model.nll(x, k=20)
    torch.manual_seed(0)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        cast = model.nll(x, k=20)
    assert cast.dtype == torch.float32
    torch.testing.assert_close(cast, plain)


@pytest.mark.parametrize("name", ["vae", "aae", "wae"])
@pytest.mark.parametrize("likelihood", ["bernoulli", "gaussian"])
def test_train_step_under_bf16_autocast(name, likelihood, digits):
    """The trainer wraps steps in bf16 autocast on GPUs; CPU autocast exercises the same casts."""
    train = digits[0]
    torch.manual_seed(0)
    kwargs = dict(num_classes=10) if name == "vae" else {}
    model = build_model(name, **TINY, likelihood=likelihood, **kwargs)
    ctx = StepContext(model.make_optimizers(), 0, 1)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        for _ in range(3):
            out = model.train_step((train.x[:32], train.y[:32]), ctx)
    for value in out.values():
        assert value.dtype == torch.float32 and value.dim() == 0 and torch.isfinite(value)


def test_beta_weights_the_kl_term(digits):
    x = digits[0].x[:32]
    torch.manual_seed(0)
    base = VAE(**TINY)
    results = {}
    for beta in (1.0, 4.0):
        model = VAE(**TINY, beta=beta)
        model.load_state_dict(base.state_dict())
        torch.manual_seed(1)
        results[beta] = model.train_step((x,), StepContext(model.make_optimizers(), 0, 1))
    for beta, out in results.items():
        torch.testing.assert_close(out["loss"], out["recon"] + beta * out["kl"])
        assert not out["loss"].requires_grad
    # Same weights and noise: identical terms, only their weighting differs.
    torch.testing.assert_close(results[1.0]["recon"], results[4.0]["recon"])
    torch.testing.assert_close(results[1.0]["kl"], results[4.0]["kl"])
    assert results[4.0]["loss"] > results[1.0]["loss"]


def test_conditional_vae_labels(digits):
    train = digits[0]
    torch.manual_seed(0)
    model = VAE(**TINY, num_classes=10)
    fit(model, train.tensors(), steps=20)
    assert model.sample(6, labels=3).shape == (6, *SHAPE)
    assert model.sample(4, labels=[0, 1, 2, 9]).shape == (4, *SHAPE)
    assert model.sample(4, labels=torch.tensor([5, 5, 5, 5])).shape == (4, *SHAPE)
    assert model.sample(5).shape == (5, *SHAPE)  # no labels: uniform classes
    for bad in ([0, 1, 10], [-1, 0, 1], [0, 1], [0.0, 1.0, 2.0], 10):
        with pytest.raises(ValueError):
            model.sample(3, labels=bad)
    x, y = train.x[:8], train.y[:8]
    assert model.elbo(x, y).shape == (8,) and model.nll(x, y, k=5).shape == (8,)
    with pytest.raises(ValueError):
        model.nll(x, k=5)  # a conditional likelihood needs the labels
    with pytest.raises(ValueError):
        model.train_step((x,), StepContext(model.make_optimizers(), 0, 1))
    # The label changes the decoder's output for the same z.
    torch.manual_seed(0)
    zeros = model.sample(4, labels=0)
    torch.manual_seed(0)
    ones = model.sample(4, labels=1)
    assert not torch.equal(zeros, ones)
    with pytest.raises(ValueError):
        VAE(**TINY).sample(2, labels=[0, 1])  # unconditional model


@pytest.mark.parametrize("name", ["aae", "wae"])
def test_aae_and_wae_reduce_reconstruction_error(name, digits):
    train, test = digits
    torch.manual_seed(0)
    model = build_model(name, **TINY)

    def recon_error():
        return F.binary_cross_entropy(model.reconstruct(test.x), test.x).item()

    before = recon_error()
    trainer = fit(model, train.tensors())
    after = recon_error()
    assert after < 0.6 * before, (before, after)
    keys = {"aae": {"recon", "disc", "gen"}, "wae": {"loss", "recon", "mmd"}}[name]
    assert set(trainer.history[-1]) >= keys
    assert set(model.make_optimizers()) == ({"ae", "disc", "gen"} if name == "aae" else {"wae"})


def test_imq_mmd_separates_distributions():
    torch.manual_seed(0)
    p = torch.randn(200, 4)
    same = imq_mmd(torch.randn(200, 4), p)
    shifted = imq_mmd(torch.randn(200, 4) + 1.0, p)
    assert abs(same.item()) < 0.05 and shifted.item() > 5 * abs(same.item())


@pytest.mark.parametrize("name,kwargs", [
    ("vae", dict(likelihood="gaussian", num_classes=10, beta=0.5)),
    ("aae", dict(disc_hidden=[32])),
    ("wae", dict(mmd_weight=3.0)),
])
def test_save_load_round_trip(name, kwargs, digits, tmp_path):
    train = digits[0]
    torch.manual_seed(0)
    model = build_model(name, **TINY, **kwargs)
    fit(model, train.tensors(), steps=10)
    folder = save_model(model, tmp_path / name)
    loaded = load_model(folder)
    assert type(loaded) is type(model) and loaded.config == model.config
    labels = [0, 1, 2, 3] if kwargs.get("num_classes") else None
    outputs = []
    for m in (model, loaded):
        torch.manual_seed(123)
        outputs.append((m.sample(4, labels=labels, mean=False), m.reconstruct(train.x[:4], labels)))
    for a, b in zip(*outputs):
        assert torch.equal(a, b)
    if name == "vae":
        torch.manual_seed(7)
        a = model.nll(train.x[:4], labels, k=10)
        torch.manual_seed(7)
        assert torch.equal(a, loaded.nll(train.x[:4], labels, k=10))


def test_bad_options_are_user_errors():
    with pytest.raises(UserError):
        build_model("vae", data_shape=SHAPE, likelihood="poisson")
    with pytest.raises(UserError):
        build_model("wae", data_shape=SHAPE, beta=2.0)  # not a WAE option
    with pytest.raises(UserError):
        build_model("aae", data_shape=[0, 8])
    with pytest.raises(ValueError):
        VAE(**TINY).elbo(torch.zeros(2, 64))  # wrong data shape
