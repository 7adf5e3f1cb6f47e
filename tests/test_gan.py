
import pytest
import torch

from gensdk.core.data import load_dataset
from gensdk.core.evaluation import evaluate
from gensdk.core.gan import GAN, OBJECTIVES, Objective, ProGAN, gradient_penalty
from gensdk.core.model import StepContext, load_model, save_model
from gensdk.core.trainer import Trainer, TrainConfig


def test_objectives_match_their_formulas():
    r, f = torch.tensor([2.0, -1.0]), torch.tensor([0.5, -3.0])
    sig = torch.sigmoid
    bce_d = -(torch.log(sig(r)).mean() + torch.log(1 - sig(f)).mean())
    assert torch.allclose(Objective("minimax").d_loss(r, f), bce_d)
    assert torch.allclose(Objective("nonsaturating").d_loss(r, f), bce_d)
    assert torch.allclose(Objective("minimax").g_loss(f), torch.log(1 - sig(f)).mean())
    assert torch.allclose(Objective("nonsaturating").g_loss(f), -torch.log(sig(f)).mean())
    assert torch.allclose(Objective("wgan").d_loss(r, f), f.mean() - r.mean())
    assert torch.allclose(Objective("wgan-gp").g_loss(f), -f.mean())
    ls = Objective("lsgan", (-1.0, 1.0, 0.0))
    assert torch.allclose(ls.d_loss(r, f), 0.5 * ((r - 1) ** 2).mean() + 0.5 * ((f + 1) ** 2).mean())
    assert torch.allclose(ls.g_loss(f), 0.5 * (f ** 2).mean())
    assert torch.allclose(Objective("hinge").d_loss(r, f), torch.relu(1 - r).mean() + torch.relu(1 + f).mean())
    with pytest.raises(ValueError, match="unknown GAN loss 'bogus'"):
        Objective("bogus")


def test_minimax_generator_gradient_saturates_where_nonsaturating_does_not():
    # When D confidently rejects fakes (logit -8), log(1 - D) is flat; -log D is not.
    f = torch.tensor([-8.0], requires_grad=True)
    (g_mm,) = torch.autograd.grad(Objective("minimax").g_loss(f), f)
    (g_ns,) = torch.autograd.grad(Objective("nonsaturating").g_loss(f), f)
    assert abs(g_mm.item()) < 1e-3 < abs(g_ns.item())


def test_gradient_penalty_is_zero_for_a_unit_gradient_critic():
    class Linear1(torch.nn.Module):
        def forward(self, x, **kw):
            return x[:, 0] * 1.0 + x[:, 1] * 0.0

    real, fake = torch.randn(16, 2), torch.randn(16, 2)
    assert gradient_penalty(Linear1(), real, fake).item() == pytest.approx(0.0, abs=1e-10)

    class Steep(torch.nn.Module):
        def forward(self, x, **kw):
            return 3 * x[:, 0]

    assert gradient_penalty(Steep(), real, fake).item() == pytest.approx(4.0)


def tiny_gan(**kw):
    return GAN(data_shape=[2], z_dim=4, hidden=[32, 32], **kw)


@pytest.mark.parametrize("loss", OBJECTIVES)
def test_every_objective_trains_a_step_and_changes_both_networks(loss):
    torch.manual_seed(0)
    model = tiny_gan(loss=loss)
    opts = model.make_optimizers()
    g0 = [p.clone() for p in model.generator.parameters()]
    d0 = [p.clone() for p in model.discriminator.parameters()]
    out = model.train_step((torch.randn(32, 2),), StepContext(opts, 0, 10))
    assert set(out) == {"d_loss", "g_loss"} and all(torch.isfinite(v) for v in out.values())
    assert any(not torch.equal(a, b) for a, b in zip(g0, model.generator.parameters()))
    assert any(not torch.equal(a, b) for a, b in zip(d0, model.discriminator.parameters()))


def test_wgan_clips_critic_weights_and_n_critic_skips_generator_steps():
    torch.manual_seed(0)
    model = tiny_gan(loss="wgan", clip=0.01, n_critic=5, optimizer="rmsprop")
    opts = model.make_optimizers()
    g_before = [p.clone() for p in model.generator.parameters()]
    model.train_step((torch.randn(32, 2),), StepContext(opts, 1, 10))  # step 1: critic only
    assert all(torch.equal(a, b) for a, b in zip(g_before, model.generator.parameters()))
    assert max(p.abs().max().item() for p in model.discriminator.parameters()) <= 0.01 + 1e-7


def test_stabilizers_change_the_losses():
    torch.manual_seed(0)
    x = torch.randn(32, 2)
    plain = tiny_gan()
    fm = tiny_gan(feature_matching=1.0)
    fm.load_state_dict(plain.state_dict())
    torch.manual_seed(1)
    a = plain.train_step((x,), StepContext(plain.make_optimizers(), 0, 10))
    torch.manual_seed(1)
    b = fm.train_step((x,), StepContext(fm.make_optimizers(), 0, 10))
    assert torch.equal(a["d_loss"], b["d_loss"]) and b["g_loss"] > a["g_loss"]  # the FM term is >= 0
    noisy = tiny_gan(instance_noise=1.0)
    assert noisy.noisy(x, StepContext({}, 0, 10)).sub(x).abs().mean() > 0.5
    assert torch.equal(noisy.noisy(x, StepContext({}, 10, 10)), x)  # annealed to 0 by the end
    mb = tiny_gan(minibatch_std=True)
    assert mb.discriminator(x).shape == (32,)


def test_conditional_gan_uses_labels_and_projection():
    torch.manual_seed(0)
    model = GAN(data_shape=[1, 16, 16], arch="dcgan", width=8, z_dim=8, num_classes=3, loss="hinge")
    x, y = torch.rand(8, 1, 16, 16) * 2 - 1, torch.randint(3, (8,))
    out = model.train_step((x, y), StepContext(model.make_optimizers(), 0, 10))
    assert torch.isfinite(out["d_loss"])
    assert model.sample(6, labels=[0, 1, 2, 0, 1, 2]).shape == (6, 1, 16, 16)
    logits_a = model.discriminator(x, torch.zeros(8, dtype=torch.long))
    logits_b = model.discriminator(x, torch.ones(8, dtype=torch.long))
    assert not torch.allclose(logits_a, logits_b)  # the projection term depends on the label
    with pytest.raises(ValueError, match="labels must be"):
        model.sample(2, labels=[0, 7])
    with pytest.raises(ValueError, match="needs labelled data"):
        model.train_step((x,), StepContext(model.make_optimizers(), 0, 10))


def test_sagan_and_wgan_gp_dcgan_build_and_step():
    torch.manual_seed(0)
    for kw in ({"attention_at": 8, "spectral_norm": True, "loss": "hinge"}, {"loss": "wgan-gp"}):
        model = GAN(data_shape=[1, 16, 16], arch="dcgan", width=8, z_dim=8, **kw)
        out = model.train_step((torch.rand(4, 1, 16, 16) * 2 - 1,), StepContext(model.make_optimizers(), 0, 4))
        assert torch.isfinite(out["d_loss"]) and model.sample(3).shape == (3, 1, 16, 16)


def test_progan_schedule_grows_8_16_32_and_fades_in():
    model = ProGAN(data_shape=[1, 32, 32], z_dim=8, start_size=8, width=8, phase_steps=10)
    assert model.num_stages == 3
    assert model.stage_and_alpha(0) == (0, 1.0)
    assert model.stage_and_alpha(10) == (1, 0.0)
    assert model.stage_and_alpha(15) == (1, 0.5)
    assert model.stage_and_alpha(25) == (1, 1.0)
    assert model.stage_and_alpha(30) == (2, 0.0)
    assert model.stage_and_alpha(1000) == (2, 1.0)
    x = torch.rand(4, 1, 32, 32)
    assert model.prepare_real(x, 0).shape == (4, 1, 8, 8)
    assert model.prepare_real(x, 15).shape == (4, 1, 16, 16)
    opts = model.make_optimizers()
    for step in (0, 12, 35):
        out = model.train_step((x,), StepContext(opts, step, 40))
        assert torch.isfinite(out["d_loss"])
    assert model.sample(2).shape == (2, 1, 32, 32)  # trained_steps=36: the last stage


def test_progan_save_load_keeps_its_stage(tmp_path):
    torch.manual_seed(0)
    model = ProGAN(data_shape=[1, 32, 32], z_dim=8, start_size=8, width=8, phase_steps=10)
    model.train_step((torch.rand(4, 1, 32, 32),), StepContext(model.make_optimizers(), 12, 40))
    save_model(model, tmp_path / "m")
    loaded = load_model(tmp_path / "m")
    assert int(loaded.trained_steps) == 13 and loaded.sample(2).shape == (2, 1, 16, 16)


def test_nonsaturating_gan_learns_a_four_mode_ring_on_cpu():
    data = load_dataset("ring", n=20_000, modes=4, radius=2.0, std=0.1)
    torch.manual_seed(0)
    model = GAN(data_shape=[2], z_dim=8, hidden=[64, 64], loss="nonsaturating", minibatch_std=True,
                lr_g=1e-3, lr_d=1e-3)
    trained = Trainer(model, data.tensors(), TrainConfig(steps=1500, batch_size=128, progress=False,
                                                          ema_decay=0.99)).fit()
    result = evaluate(trained, data, n_samples=2000)
    assert result["modes"] == 4 and result["high_quality"] > 0.5


def test_diffaugment_shifts_cuts_and_passes_gradients():
    from gensdk.core.nn.diffaugment import check_policy, cutout, diff_augment, translation

    torch.manual_seed(0)
    x = torch.zeros(64, 1, 16, 16)
    x[:, :, 6:10, 6:10] = 1.0
    shifted = translation(x)
    assert shifted.shape == x.shape
    assert torch.allclose(shifted.sum((1, 2, 3)), x.sum((1, 2, 3)))  # a square away from the edge moves whole
    assert not torch.equal(shifted, x)
    ink = torch.full((8, 1, 16, 16), 2.0)
    ink[:, :, 0, 0] = 1.0  # the minimum: cutout's background
    holes = cutout(ink)
    assert ((holes == 1).flatten(1).sum(1) >= 9).all()  # every image got a hole of at least 3x3 inside it
    assert set(holes.unique().tolist()) == {1.0, 2.0}
    y = x.clone().requires_grad_(True)
    diff_augment(y, check_policy("translation,cutout,brightness")).sum().backward()
    assert y.grad is not None and y.grad.abs().sum() > 0
    with pytest.raises(ValueError, match="unknown DiffAugment policy"):
        check_policy("translation,flip")


def test_mode_seeking_grows_when_the_generator_ignores_z():
    from gensdk.core.gan import mode_seeking

    z1, z2 = torch.randn(2, 8, 4)
    same = torch.ones(8, 1, 4, 4)
    different = torch.rand(8, 1, 4, 4)
    assert mode_seeking(same, same, z1, z2) > 1e4
    assert mode_seeking(same, different, z1, z2) < 100
    model = GAN(data_shape=[2], hidden=[8], num_classes=2, diversity=1.0, diffaugment="")
    ctx = StepContext(model.make_optimizers(), step=0, total_steps=1)
    losses = model.train_step((torch.randn(16, 2), torch.arange(16) % 2), ctx)
    assert torch.isfinite(losses["g_loss"])
