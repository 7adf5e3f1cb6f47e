"""Shapes and invariants of the image GAN building blocks (DCGAN, SAGAN attention, ProGAN)."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from gensdk.core.nn.attention import SelfAttention2d
from gensdk.core.nn.dcgan import DCGANDiscriminator, DCGANGenerator
from gensdk.core.nn.layers import EqualizedConv2d, EqualizedLinear, MinibatchStdDev, PixelNorm
from gensdk.core.nn.progressive import ProDiscriminator, ProGenerator


@pytest.fixture(autouse=True)
def _seed():
    torch.manual_seed(0)


# ---- layers -------------------------------------------------------------------------------------

def test_minibatch_std_adds_a_channel_and_is_zero_for_identical_samples():
    layer = MinibatchStdDev(group_size=4)
    x = torch.randn(8, 3, 5, 5)
    y = layer(x)
    assert y.shape == (8, 4, 5, 5)
    assert torch.equal(y[:, :3], x)
    assert (y[:, 3] > 0).all()
    same = torch.randn(1, 3, 5, 5).expand(8, 3, 5, 5)
    assert layer(same)[:, 3].abs().max() < 1e-3       # sqrt(eps) only
    assert layer(torch.randn(6, 7)).shape == (6, 8)   # 2-D input


@pytest.mark.parametrize("batch", [1, 2, 3, 5, 6, 7])
def test_minibatch_std_any_batch_size(batch):
    y = MinibatchStdDev(group_size=4)(torch.randn(batch, 2, 4, 4))
    assert y.shape == (batch, 3, 4, 4) and torch.isfinite(y).all()


def test_minibatch_std_bf16_autocast():
    x = torch.randn(4, 8, 4, 4)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        h = torch.nn.Conv2d(8, 8, 1)(x)
        y = MinibatchStdDev()(h)
    assert y.dtype == h.dtype and y.shape == (4, 9, 4, 4)


def test_pixel_norm_and_equalized_layers():
    y = PixelNorm()(torch.randn(4, 16, 3, 3) * 10)
    assert torch.allclose(y.pow(2).mean(1), torch.ones(4, 3, 3), atol=1e-4)
    lin, conv = EqualizedLinear(16, 8), EqualizedConv2d(4, 6, 3, padding=1)
    assert lin(torch.randn(2, 16)).shape == (2, 8)
    assert conv(torch.randn(2, 4, 5, 5)).shape == (2, 6, 5, 5)
    assert abs(lin.weight.std().item() - 1.0) < 0.3   # N(0, 1) storage, He scale applied at runtime


# ---- attention ----------------------------------------------------------------------------------

def test_attention_is_identity_at_init_and_trains_gamma():
    block = SelfAttention2d(16)
    x = torch.randn(2, 16, 6, 6)
    y = block(x)
    assert torch.equal(y, x)
    y.pow(2).sum().backward()
    assert block.gamma.grad is not None and block.gamma.grad.abs() > 0
    with torch.no_grad():
        block.gamma.fill_(1.0)
    assert not torch.allclose(block(x), x)


def test_attention_bad_arguments():
    with pytest.raises(ValueError, match="channels"):
        SelfAttention2d(1)
    with pytest.raises(ValueError, match="reduction"):
        SelfAttention2d(4, reduction=0)


# ---- DCGAN --------------------------------------------------------------------------------------

@pytest.mark.parametrize("size", [8, 16, 32, 64])
def test_dcgan_shapes(size):
    g = DCGANGenerator(z_in=10, img_size=size, channels=3, width=4)
    x = g(torch.randn(3, 10))
    assert x.shape == (3, 3, size, size)
    assert x.min() >= -1 and x.max() <= 1
    for kwargs in ({}, {"minibatch_std": True}, {"spectral_norm": True}, {"batch_norm": False}):
        d = DCGANDiscriminator(img_size=size, channels=3, width=4, **kwargs)
        f = d(x)
        assert f.shape == (3, d.out_features)
        assert d.out_features == 4 * 2 ** ((size.bit_length() - 1) - 3)


def test_dcgan_batchnorm_and_spectral_norm_layout():
    d = DCGANDiscriminator(img_size=32, channels=3, width=4)
    assert sum(isinstance(m, torch.nn.BatchNorm2d) for m in d.modules()) == 2   # all but the first of 3
    d = DCGANDiscriminator(img_size=32, channels=3, width=4, spectral_norm=True)
    assert not any(isinstance(m, torch.nn.BatchNorm2d) for m in d.modules())
    assert any(hasattr(m, "parametrizations") for m in d.modules())


@pytest.mark.parametrize("at", [4, 8, 16])
def test_dcgan_attention(at):
    g = DCGANGenerator(z_in=8, img_size=32, channels=1, width=4, attention_at=at)
    d = DCGANDiscriminator(img_size=32, channels=1, width=4, attention_at=at, spectral_norm=True,
                           minibatch_std=True)
    assert sum(isinstance(m, SelfAttention2d) for m in g.modules()) == 1
    assert sum(isinstance(m, SelfAttention2d) for m in d.modules()) == 1
    x = g(torch.randn(2, 8))
    assert d(x).shape == (2, d.out_features)


def test_dcgan_bad_arguments():
    for bad in (4, 12, 0, 32.0):
        with pytest.raises(ValueError, match="img_size"):
            DCGANGenerator(8, bad, 3)
        with pytest.raises(ValueError, match="img_size"):
            DCGANDiscriminator(bad, 3)
    with pytest.raises(ValueError, match="z_in"):
        DCGANGenerator(0, 32, 3)
    with pytest.raises(ValueError, match="width"):
        DCGANDiscriminator(32, 3, width=0)
    with pytest.raises(ValueError, match="attention_at.*32"):
        DCGANGenerator(8, 32, 3, attention_at=32)
    with pytest.raises(ValueError, match="attention_at.*2"):
        DCGANDiscriminator(32, 3, attention_at=2)
    with pytest.raises(ValueError, match="shape"):
        DCGANDiscriminator(32, 3, width=4)(torch.randn(2, 3, 16, 16))


# ---- ProGAN -------------------------------------------------------------------------------------

@pytest.mark.parametrize("start,max_size", [(4, 32), (8, 32), (4, 8)])
def test_progan_shapes_every_stage(start, max_size):
    g = ProGenerator(z_in=6, channels=3, start_size=start, max_size=max_size, width=8)
    d = ProDiscriminator(channels=3, start_size=start, max_size=max_size, width=8)
    assert g.num_stages == d.num_stages == (max_size // start).bit_length()
    z = torch.randn(3, 6)
    for stage in range(g.num_stages):
        r = g.resolution(stage)
        assert r == d.resolution(stage) == start << stage
        for alpha in (0.0, 0.5, 1.0):
            x = g(z, stage, alpha)
            assert x.shape == (3, 3, r, r)
            assert d(x, stage, alpha).shape == (3, d.out_features)
    assert g.resolution(g.num_stages - 1) == max_size


def test_progan_fade_in_continuity():
    g = ProGenerator(z_in=6, channels=3, start_size=4, max_size=32, width=8)
    d = ProDiscriminator(channels=3, start_size=4, max_size=32, width=8)
    z = torch.randn(2, 6)
    for stage in range(1, g.num_stages):
        old = g(z, stage - 1, 1.0)
        new = g(z, stage, 0.0)
        assert torch.allclose(new, F.interpolate(old, scale_factor=2, mode="nearest"), atol=1e-6)
        # D mirrored: at alpha=0 a stage-s image scores like its average-pooled image at stage s-1
        x = torch.randn(2, 3, g.resolution(stage), g.resolution(stage))
        assert torch.allclose(d(x, stage, 0.0), d(F.avg_pool2d(x, 2), stage - 1, 1.0), atol=1e-5)


def test_progan_output_is_linear_and_trains():
    g = ProGenerator(z_in=6, channels=1, width=8, max_size=8)
    d = ProDiscriminator(channels=1, width=8, max_size=8)
    x = g(torch.randn(4, 6), 1, 0.5)
    d(x, 1, 0.5).sum().backward()
    assert all(p.grad is not None for p in g.parameters())


def test_progan_bad_arguments():
    with pytest.raises(ValueError, match="start_size"):
        ProGenerator(4, 3, start_size=6)
    with pytest.raises(ValueError, match="max_size"):
        ProDiscriminator(3, start_size=8, max_size=4)
    with pytest.raises(ValueError, match="z_in"):
        ProGenerator(0, 3)
    g = ProGenerator(4, 3, width=8)
    with pytest.raises(ValueError, match="stage"):
        g(torch.randn(2, 4), g.num_stages, 1.0)
    with pytest.raises(ValueError, match="alpha"):
        g(torch.randn(2, 4), 1, 1.5)
    with pytest.raises(ValueError, match="stage"):
        g.resolution(-1)
    with pytest.raises(ValueError, match="shape"):
        ProDiscriminator(3, width=8)(torch.randn(2, 3, 8, 8), 2, 1.0)
