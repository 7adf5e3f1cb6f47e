"""Variational transform codecs on the engine: factorized prior (Balle et al. 2017), scale hyperprior
(Balle et al. 2018) and mean-scale hyperprior (Minnen et al. 2018), with CompressAI's layouts and
quality ladder. Training minimizes lambda * distortion + bits per pixel with additive uniform noise
standing in for quantization in the rate term; the synthesis sees rounded latents through a
straight-through estimator (so it is trained on what it will decode). At test time latents are
rounded and coded by ``codec.py``; the decoder side runs as the exact integer twins of
``integer.py``, converted once by ``prepare_codec``.
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from gensdk.core.model import GenerativeModel, StepContext, register_model
from gensdk.errors import UserError
from plugins.compression.entropy import EntropyBottleneck, GaussianConditional
from plugins.compression.integer import ACT_TARGET, IntegerNet, clamp, exponent_for, power_of_two, rescale
from plugins.compression.layers import GDN, conv, deconv

# CompressAI's ladder: lambda per quality for MSE (x in [0, 1], distortion 255^2 * MSE) and MS-SSIM
LAMBDAS = {"mse": (0.0018, 0.0035, 0.0067, 0.0130, 0.0250, 0.0483, 0.0932, 0.1800),
           "ms-ssim": (2.40, 4.58, 8.73, 16.64, 31.73, 60.50, 115.37, 220.00)}
QUALITIES = range(1, 9)


def ste_round(x: torch.Tensor) -> torch.Tensor:
    return x + (torch.round(x) - x).detach()


def uniform_noise(x: torch.Tensor) -> torch.Tensor:
    return x + torch.empty_like(x).uniform_(-0.5, 0.5)


def default_sizes(model: str, quality: int) -> tuple[int, int]:
    """(N, M) channels per quality, as in CompressAI's zoo."""
    big = quality >= (5 if model == "mean-scale-hyperprior" else 6)
    return (192, 320) if big else (128, 192)


class TransformCodec(GenerativeModel):
    """Shared by the three codecs: the analysis/synthesis transforms, the rate-distortion step, and
    the decoder-side interface the bitstream code uses. ``arch_id`` is the number the file format
    stores for the architecture."""

    arch_id = 0
    stride = 16  # the product of the transforms' strides: inputs are padded to a multiple of it

    def __init__(self, quality: int = 3, N: int = 128, M: int = 192, distortion: str = "mse",
                 lmbda: float | None = None, lr: float = 1e-4, aux_lr: float = 1e-3, max_grad_norm: float = 1.0):
        super().__init__()
        if distortion not in LAMBDAS:
            raise ValueError(f"distortion must be one of {', '.join(LAMBDAS)}, got {distortion!r}")
        if quality not in QUALITIES:
            raise ValueError(f"quality must be 1 to 8, got {quality!r}")
        self.quality, self.distortion = quality, distortion
        self.lmbda = lmbda if lmbda is not None else LAMBDAS[distortion][quality - 1]
        self.lr, self.aux_lr, self.max_grad_norm = lr, aux_lr, max_grad_norm
        self.g_a = nn.Sequential(conv(3, N), GDN(N), conv(N, N), GDN(N), conv(N, N), GDN(N), conv(N, M))
        self.g_s = nn.Sequential(deconv(M, N), GDN(N, inverse=True), deconv(N, N), GDN(N, inverse=True),
                                 deconv(N, N), GDN(N, inverse=True), deconv(N, 3))
        self.int_g_s = IntegerNet(self.g_s)
        self.register_buffer("codec_ready", torch.zeros((), dtype=torch.int32))

    # --- training -------------------------------------------------------------------------------
    def make_optimizers(self) -> dict[str, torch.optim.Optimizer]:
        aux = [p for n, p in self.named_parameters() if n.endswith("quantiles")]
        main = [p for n, p in self.named_parameters() if not n.endswith("quantiles")]
        return {"model": torch.optim.Adam(main, lr=self.lr), "aux": torch.optim.Adam(aux, lr=self.aux_lr)}

    def latents(self, x: torch.Tensor) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        """x in [0, 1] -> (y_hat for the synthesis, likelihoods of every coded latent)."""
        return self.quantize(self.g_a(x))

    def quantize(self, y: torch.Tensor) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        """The analysis output y -> (y_hat, likelihoods): each codec's entropy model."""
        raise NotImplementedError(f"{type(self).__name__} must define quantize")

    def forward(self, x: torch.Tensor) -> dict[str, Any]:
        y_hat, likelihoods = self.latents(x)
        return {"x_hat": self.g_s(y_hat), "likelihoods": likelihoods}

    def bits(self, likelihoods: dict[str, torch.Tensor]) -> torch.Tensor:
        return sum(-torch.log2(lik).sum() for lik in likelihoods.values())

    def distortion_loss(self, x_hat: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        if self.distortion == "mse":
            return 255 ** 2 * F.mse_loss(x_hat.float(), x)
        from plugins.compression.metrics import ms_ssim_torch

        return 1 - ms_ssim_torch(x_hat.float().clamp(0, 1), x).mean()

    def train_step(self, batch: tuple[torch.Tensor, ...], ctx: StepContext) -> dict[str, float]:
        x = batch[0]
        x = (x.float() / 255) if x.dtype == torch.uint8 else x.float()
        if torch.rand(()) < 0.5:  # random flips: the crops' data augmentation
            x = x.flip(3)
        out = self(x)
        bpp = self.bits(out["likelihoods"]) / (x.shape[0] * x.shape[2] * x.shape[3])
        distortion = self.distortion_loss(out["x_hat"], x)
        loss = self.lmbda * distortion + bpp
        ctx.optimize("model", loss, max_grad_norm=self.max_grad_norm)
        aux = self.aux_loss()
        ctx.optimize("aux", aux)
        mse = F.mse_loss(out["x_hat"].detach().float().clamp(0, 1), x)
        return {"loss": loss.detach(), "bpp": bpp.detach(), "psnr": -10 * torch.log10(mse), "aux": aux.detach()}

    def aux_loss(self) -> torch.Tensor:
        return sum(m.aux_loss() for m in self.modules() if isinstance(m, EntropyBottleneck))

    def sample(self, n: int, **kwargs: Any) -> torch.Tensor:
        raise UserError(f"{self.model_name}: a codec compresses images; it does not sample them")

    # --- the decoder side, in exact integer arithmetic ------------------------------------------
    def pad(self, x: torch.Tensor) -> torch.Tensor:
        h, w = x.shape[2:]
        stride = self.stride
        return F.pad(x, (0, -w % stride, 0, -h % stride), mode="replicate")

    @torch.no_grad()
    def prepare_codec(self, images: list[torch.Tensor]) -> None:
        """After training: coding tables and the integer decoder, calibrated on ``images`` (float
        (1, 3, H, W) in [0, 1], a few typical photos or training crops)."""
        self.eval()
        for m in self.modules():
            if isinstance(m, EntropyBottleneck):
                m.update_tables()
        ys = [self.g_a(self.pad(x.to(self.device).float())) for x in images]
        y_hats = [self.quantize(y)[0] for y in ys]
        self.calibrate_hyper(ys)
        y_exp = exponent_for(max(float(y.abs().max()) for y in y_hats), ACT_TARGET)
        self.int_g_s.calibrate(self.g_s, y_hats, y_exp)
        self.codec_ready.fill_(1)

    def calibrate_hyper(self, ys: list[torch.Tensor]) -> None:
        """Hyperprior codecs: convert the hyper-synthesis, from the analysis outputs ``ys``."""

    def require_codec(self) -> None:
        if not int(self.codec_ready):
            raise UserError(f"{self.model_name} q{self.quality}: not prepared for coding (run prepare_codec "
                            "after training; `gensdk compression train` does)")

    @torch.no_grad()
    def synthesize(self, y_hat: torch.Tensor, exp: int) -> torch.Tensor:
        """Integer y_hat at exponent ``exp`` -> uint8 pixels (B, 3, H, W), exactly on any device."""
        x = clamp(rescale(y_hat.double(), power_of_two(self.int_g_s.input_exp - exp)))
        out = self.int_g_s(x)
        pixels = rescale(out * 255, power_of_two(-self.int_g_s.output_exp))
        return pixels.clamp(0, 255).to(torch.uint8)


@register_model("factorized-prior")
class FactorizedPrior(TransformCodec):
    """y coded with a learned factorized density per channel (Balle et al. 2017)."""

    arch_id = 1

    def __init__(self, quality: int = 3, N: int = 128, M: int = 192, distortion: str = "mse",
                 lmbda: float | None = None, lr: float = 1e-4, aux_lr: float = 1e-3, max_grad_norm: float = 1.0):
        super().__init__(quality=quality, N=N, M=M, distortion=distortion, lmbda=lmbda, lr=lr, aux_lr=aux_lr,
                         max_grad_norm=max_grad_norm)
        self.y_prior = EntropyBottleneck(M)

    def quantize(self, y):
        coded = uniform_noise(y) if self.training else torch.round(y)
        return ste_round(y), {"y": self.y_prior.likelihood(coded)}


class Hyperprior(TransformCodec):
    """y coded with a Gaussian whose scale (and mean) a hyper-latent z predicts; z coded with a
    factorized density. The hyper-synthesis runs on rounded z during training as at test."""

    stride = 64
    predicts_means = False

    def __init__(self, quality: int = 3, N: int = 128, M: int = 192, distortion: str = "mse",
                 lmbda: float | None = None, lr: float = 1e-4, aux_lr: float = 1e-3, max_grad_norm: float = 1.0):
        super().__init__(quality=quality, N=N, M=M, distortion=distortion, lmbda=lmbda, lr=lr, aux_lr=aux_lr,
                         max_grad_norm=max_grad_norm)
        self.z_prior = EntropyBottleneck(N)
        self.y_conditional = GaussianConditional()
        self.h_a, self.h_s = self.hyper_transforms(N, M)
        self.int_h_s = IntegerNet(self.h_s)

    def hyper_transforms(self, N: int, M: int) -> tuple[nn.Sequential, nn.Sequential]:
        """(h_a, h_s) of the architecture."""
        raise NotImplementedError(f"{type(self).__name__} must define hyper_transforms")

    def hyper_input(self, y: torch.Tensor) -> torch.Tensor:
        return y

    def split(self, params: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor | None]:
        """h_s output -> (scales, means or None)."""
        if self.predicts_means:
            scales, means = params.chunk(2, 1)
            return scales, means
        return params, None

    def quantize(self, y):
        z = self.h_a(self.hyper_input(y))
        z_coded = uniform_noise(z) if self.training else torch.round(z)
        scales, means = self.split(self.h_s(ste_round(z)))
        y_coded = uniform_noise(y) if self.training else (torch.round(y - means) + means if means is not None
                                                          else torch.round(y))
        likelihoods = {"y": self.y_conditional.likelihood(y_coded, scales, means), "z": self.z_prior.likelihood(z_coded)}
        y_hat = ste_round(y - means) + means if means is not None else ste_round(y)
        return y_hat, likelihoods

    def calibrate_hyper(self, ys: list[torch.Tensor]) -> None:
        self.int_h_s.calibrate(self.h_s, [torch.round(self.h_a(self.hyper_input(y))) for y in ys], 0)

    @torch.no_grad()
    def entropy_parameters(self, z_hat: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor | None, int]:
        """Integer z_hat -> (scale-table index of every y element, integer means or None, their
        exponent), exactly on any device."""
        params = self.int_h_s(z_hat.double())
        exp = self.int_h_s.output_exp
        scales, means = self.split(params)
        thresholds = self.y_conditional.scale_table[:-1].to(scales.device, torch.float64) * 2.0 ** exp
        index = (scales[..., None] > thresholds).sum(-1)
        return index, means, exp


@register_model("scale-hyperprior")
class ScaleHyperprior(Hyperprior):
    """Balle et al. 2018: zero-mean Gaussian, scales from |y|'s hyper-latent."""

    arch_id = 2

    def hyper_transforms(self, N, M):
        h_a = nn.Sequential(conv(M, N, 3, 1), nn.ReLU(), conv(N, N), nn.ReLU(), conv(N, N))
        h_s = nn.Sequential(deconv(N, N), nn.ReLU(), deconv(N, N), nn.ReLU(), conv(N, M, 3, 1), nn.ReLU())
        return h_a, h_s

    def hyper_input(self, y):
        return torch.abs(y)


@register_model("mean-scale-hyperprior")
class MeanScaleHyperprior(Hyperprior):
    """Minnen et al. 2018 without the context model: the hyperprior predicts means and scales."""

    arch_id = 3
    predicts_means = True

    def hyper_transforms(self, N, M):
        h_a = nn.Sequential(conv(M, N, 3, 1), nn.LeakyReLU(), conv(N, N), nn.LeakyReLU(), conv(N, N))
        h_s = nn.Sequential(deconv(N, M), nn.LeakyReLU(), deconv(M, M * 3 // 2), nn.LeakyReLU(),
                            conv(M * 3 // 2, M * 2, 3, 1))
        return h_a, h_s


CODECS = {cls.model_name: cls for cls in (FactorizedPrior, ScaleHyperprior, MeanScaleHyperprior)}
ARCH_IDS = {cls.arch_id: cls.model_name for cls in CODECS.values()}


def build_codec(name: str, quality: int, **options: Any) -> TransformCodec:
    if name not in CODECS:
        raise UserError(f"unknown codec model {name!r}; known: {', '.join(CODECS)}")
    if quality not in QUALITIES:
        raise UserError(f"quality must be 1 to 8, got {quality}")
    N, M = default_sizes(name, quality)
    return CODECS[name](quality=quality, **{"N": N, "M": M, **options})
