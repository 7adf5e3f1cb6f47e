"""Variational transform codecs on the engine: factorized prior (Balle et al. 2017), scale hyperprior
(Balle et al. 2018) and mean-scale hyperprior (Minnen et al. 2018), with CompressAI's layouts and
quality ladder. Training minimizes lambda * distortion + bits per pixel with additive uniform noise
standing in for quantization in the rate term; the synthesis sees rounded latents through a
straight-through estimator (so it is trained on what it will decode). At test time latents are
rounded and coded by ``codec.py``; the decoder side runs as the exact integer twins of
``integer.py``, converted once by ``prepare_codec``.
"""

from __future__ import annotations

from typing import Any, Callable

import torch
import torch.nn.functional as F
from torch import nn

from gensdk.core.model import GenerativeModel, StepContext, register_model
from gensdk.errors import UserError
from gensdk_plugins.compression.entropy import SYMBOL_LIMIT, EntropyBottleneck, GaussianConditional
from gensdk_plugins.compression.integer import (ACT_LIMIT, ACT_TARGET, EXACT, WEIGHT_LIMIT, IntegerNet, clamp,
                                         exponent_for, power_of_two, rescale)
from gensdk_plugins.compression.layers import GDN, conv, deconv

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
        # a buffer, not a tensor made each step (a host-to-device copy, which a CUDA graph cannot
        # capture); derived from the config, so not saved
        self.register_buffer("lambda_ladder", torch.tensor([self.lmbda]), persistent=False)

    # --- training -------------------------------------------------------------------------------
    static_step = True  # no host syncs or data-dependent branches: the trainer may capture a CUDA graph

    @property
    def qualities(self) -> tuple[int, ...]:
        """The qualities this model codes at (a file's header names one)."""
        return (self.quality,)

    def lambdas(self) -> torch.Tensor:
        """The rate-distortion trade-off of each of ``qualities``, in order."""
        return self.lambda_ladder

    def make_optimizers(self) -> dict[str, torch.optim.Optimizer]:
        aux = [p for n, p in self.named_parameters() if n.endswith("quantiles")]
        main = [p for n, p in self.named_parameters() if not n.endswith("quantiles")]
        return {"model": torch.optim.Adam(main, lr=self.lr), "aux": torch.optim.Adam(aux, lr=self.aux_lr)}

    def latents(self, x: torch.Tensor, rate: torch.Tensor | None = None) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        """x in [0, 1] -> (y_hat for the synthesis, likelihoods of every coded latent). ``rate``: the
        index into ``qualities`` of each image (a variable-rate model's gains; others ignore it)."""
        return self.quantize(self.g_a(x), rate)

    def quantize(self, y: torch.Tensor, rate: torch.Tensor | None = None) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        """The analysis output y -> (y_hat, likelihoods): each codec's entropy model."""
        raise NotImplementedError(f"{type(self).__name__} must define quantize")

    def forward(self, x: torch.Tensor, rate: torch.Tensor | None = None) -> dict[str, Any]:
        y_hat, likelihoods = self.latents(x, rate)
        return {"x_hat": self.g_s(y_hat), "likelihoods": likelihoods}

    def bits(self, likelihoods: dict[str, torch.Tensor]) -> torch.Tensor:
        return sum(-torch.log2(lik).sum() for lik in likelihoods.values())

    def distortion_loss(self, x_hat: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        """Per image: 255^2 MSE, or 1 - MS-SSIM."""
        if self.distortion == "mse":
            return 255 ** 2 * (x_hat.float() - x).pow(2).mean((1, 2, 3))
        from gensdk_plugins.compression.metrics import ms_ssim_torch

        return 1 - ms_ssim_torch(x_hat.float().clamp(0, 1), x)

    def train_step(self, batch: tuple[torch.Tensor, ...], ctx: StepContext) -> dict[str, float]:
        x = batch[0]
        x = (x.float() / 255) if x.dtype == torch.uint8 else x.float()
        n = x.shape[0]
        # data augmentation, drawn on the device: half the crops mirrored
        x = torch.where(torch.rand(n, 1, 1, 1, device=x.device) < 0.5, x.flip(3), x)
        lambdas = self.lambdas()
        rate = torch.randint(len(lambdas), (n,), device=x.device)  # each crop at one quality of the model
        out = self(x, rate)
        bpp = self.bits(out["likelihoods"]) / (n * x.shape[2] * x.shape[3])
        distortion = self.distortion_loss(out["x_hat"], x)
        loss = (lambdas[rate] * distortion).mean() + bpp
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
        (1, 3, H, W) in [0, 1], a few typical photos or training crops) at every quality."""
        self.eval()
        for m in self.modules():
            if isinstance(m, EntropyBottleneck):
                m.update_tables()
        ys = [self.g_a(self.pad(x.to(self.device).float())) for x in images]
        rated = [(y, torch.full((len(y),), r, device=y.device)) for y in ys for r in range(len(self.qualities))]
        self.calibrate_hyper([self.gained(y, rate) for y, rate in rated])
        self.calibrate_gains()
        y_hats = [self.quantize(y, rate)[0] for y, rate in rated]
        y_exp = exponent_for(max(float(y.abs().max()) for y in y_hats), ACT_TARGET)
        self.int_g_s.calibrate(self.g_s, y_hats, y_exp)
        self.codec_ready.fill_(1)

    def gained(self, y: torch.Tensor, rate: torch.Tensor) -> torch.Tensor:
        """The latent that is coded at ``rate``: y times a variable-rate model's gains; y here."""
        return y

    def calibrate_hyper(self, ys: list[torch.Tensor]) -> None:
        """Hyperprior codecs: convert the hyper-synthesis, from the coded latents ``ys``."""

    def calibrate_gains(self) -> None:
        """Variable-rate codecs: the integer inverse gains (after ``calibrate_hyper``)."""

    def require_codec(self) -> None:
        if not int(self.codec_ready):
            raise UserError(f"{self.model_name}: not prepared for coding (run prepare_codec "
                            "after training; `gensdk compression train` does)")

    def rate_index(self, quality: int) -> int:
        if quality not in self.qualities:
            raise UserError(f"{self.model_name} codes at quality {', '.join(map(str, self.qualities))}, not {quality}")
        return self.qualities.index(quality)

    def ungain(self, y_hat: torch.Tensor, exp: int, rate: int) -> tuple[torch.Tensor, int]:
        """The decoder's integer y_hat at exponent ``exp`` -> the synthesis input, exactly: a
        variable-rate model's inverse gain; identity here."""
        return y_hat, exp

    @torch.no_grad()
    def synthesize(self, y_hat: torch.Tensor, exp: int, rate: int = 0) -> torch.Tensor:
        """Integer y_hat at exponent ``exp`` -> uint8 pixels (B, 3, H, W), exactly on any device."""
        y_hat, exp = self.ungain(y_hat.double(), exp, rate)
        x = clamp(rescale(y_hat, power_of_two(self.int_g_s.input_exp - exp)))
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

    def quantize(self, y, rate=None):
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

    def quantize(self, y, rate=None):
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
        return self.scale_index(scales, exp), means, exp

    def scale_index(self, scales: torch.Tensor, exp: int) -> torch.Tensor:
        """Integer scales at exponent ``exp`` -> their bins in the coding tables, exactly."""
        thresholds = self.y_conditional.scale_table[:-1].to(scales.device, torch.float64) * power_of_two(exp)
        return (scales[..., None] > thresholds).sum(-1)

    @torch.no_grad()
    def code_latent(self, z_hat: torch.Tensor, step: Callable) -> tuple[torch.Tensor, int]:
        """The entropy coding of y given the integer hyper-latent ``z_hat``, for the encoder and the
        decoder alike: ``step(index, means, exp, channels)`` codes (encoder) or decodes (decoder) the
        integer symbols of y's ``channels`` whose table bins are ``index`` and whose means are
        ``means`` at exponent ``exp``, and returns them. Returns y_hat as integers at its exponent."""
        index, means, exp = self.entropy_parameters(z_hat)
        q = step(index, means, exp, slice(None))
        return q * power_of_two(exp) + (means if means is not None else 0), exp

    def latent_bound(self) -> float:
        """The largest |y_hat| integer the decoder can meet: a 16-bit symbol plus a mean."""
        return (SYMBOL_LIMIT + 1) * power_of_two(self.int_h_s.output_exp) + ACT_LIMIT


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


@register_model("variable-rate-hyperprior")
class VariableRateHyperprior(MeanScaleHyperprior):
    """One mean-scale hyperprior for the whole quality ladder (Cui et al. 2021, "Asymmetric gained deep
    image compression with continuous rate adaptation"): quality q scales y by a learned gain vector
    before it is coded and by an inverse gain vector before the synthesis, so a larger gain means
    finer quantization. Each training crop is drawn at a random quality with that quality's lambda:
    one training run serves every quality, where fixed-rate models need one run each.

    On the decoder side the inverse gains are integers at a power-of-two exponent per quality,
    chosen so that the product with any decodable y_hat stays below 2**53 (exact)."""

    arch_id = 4

    def __init__(self, N: int = 128, M: int = 192, distortion: str = "mse", ladder: int = 8, lr: float = 1e-4,
                 aux_lr: float = 1e-3, max_grad_norm: float = 1.0):
        if ladder not in QUALITIES:
            raise ValueError(f"ladder must be 1 to 8 qualities, got {ladder!r}")
        super().__init__(quality=1, N=N, M=M, distortion=distortion, lr=lr, aux_lr=aux_lr,
                         max_grad_norm=max_grad_norm)
        self.quality = None
        lambdas = torch.tensor(LAMBDAS[distortion][:ladder])
        self.register_buffer("lambda_ladder", lambdas, persistent=False)
        # high-rate theory: the best quantization step falls as lambda ** -1/2, so the gains start there
        start = 0.5 * torch.log(lambdas / lambdas[ladder // 2])
        self.log_gain = nn.Parameter(start[:, None].repeat(1, M))
        self.log_inverse_gain = nn.Parameter(-start[:, None].repeat(1, M))
        self.register_buffer("int_inverse_gain", torch.zeros(ladder, M, dtype=torch.int16))
        self.register_buffer("int_inverse_gain_exp", torch.zeros(ladder, dtype=torch.int32))

    @property
    def qualities(self) -> tuple[int, ...]:
        return tuple(QUALITIES)[:len(self.lambda_ladder)]

    def gained(self, y, rate):
        return y * self.log_gain[rate].exp()[:, :, None, None]

    def quantize(self, y, rate=None):
        if rate is None:
            raise ValueError(f"{self.model_name}: quantize needs the quality index of each image")
        y_hat, likelihoods = super().quantize(self.gained(y, rate), rate)
        return y_hat * self.log_inverse_gain[rate].exp()[:, :, None, None], likelihoods

    def calibrate_gains(self) -> None:
        worst = self.latent_bound()
        for r, inverse in enumerate(self.log_inverse_gain.detach().double().exp().cpu()):
            e = exponent_for(float(inverse.max()), WEIGHT_LIMIT)
            while worst * float(torch.round(inverse * power_of_two(e)).max()) >= EXACT:
                e -= 1
            self.int_inverse_gain[r] = torch.round(inverse * power_of_two(e)).to(torch.int16)
            self.int_inverse_gain_exp[r] = e

    def ungain(self, y_hat, exp, rate):
        inverse = self.int_inverse_gain[rate].to(y_hat.device, torch.float64)[None, :, None, None]
        return y_hat * inverse, exp + int(self.int_inverse_gain_exp[rate])


@register_model("channel-context-hyperprior")
class ChannelContextHyperprior(VariableRateHyperprior):
    """The variable-rate hyperprior with a channel-wise context model (after Minnen & Singh 2020,
    "Channel-wise autoregressive entropy models for learned image compression"): y is coded in
    ``slices`` groups of channels, and the means and scales of each group are the hyperprior's plus a
    correction that a small network computes from the groups decoded before it. The decoder runs
    one network per group, in integers like the rest; the groups cost a few sequential steps, not one
    per latent pixel as a spatial context model would.

    Exactness: hyperprior and corrections are brought to one exponent E by exact multiplications by
    powers of two, and every decoded group is kept at E, so the next group's network and the synthesis
    read exactly what the encoder computed."""

    arch_id = 5

    def __init__(self, N: int = 128, M: int = 192, distortion: str = "mse", ladder: int = 8, slices: int = 4,
                 context_width: int = 96, lr: float = 1e-4, aux_lr: float = 1e-3, max_grad_norm: float = 1.0):
        if slices < 2 or M % slices:
            raise ValueError(f"slices must be at least 2 and divide M={M}, got {slices!r}")
        super().__init__(N=N, M=M, distortion=distortion, ladder=ladder, lr=lr, aux_lr=aux_lr,
                         max_grad_norm=max_grad_norm)
        C = M // slices
        self.slice_channels = C
        # group s (s >= 1) sees groups 0..s-1; 3x3 stride-1 convolutions, as the integer decoder takes
        self.context = nn.ModuleList(
            nn.Sequential(conv(s * C, context_width, 3, 1), nn.ReLU(), conv(context_width, context_width, 3, 1),
                          nn.ReLU(), conv(context_width, 2 * C, 3, 1)) for s in range(1, slices))
        self.int_context = nn.ModuleList(IntegerNet(net) for net in self.context)
        self.register_buffer("int_latent_exp", torch.zeros((), dtype=torch.int32))  # E, the exponent of y_hat

    def _groups(self) -> list[slice]:
        C = self.slice_channels
        return [slice(s * C, (s + 1) * C) for s in range(self.config["slices"])]

    def _float_groups(self, y: torch.Tensor, z_hat: torch.Tensor) -> tuple[torch.Tensor, list[tuple]]:
        """The float twin of ``code_latent``: y (gained) group by group given the rounded hyper-latent.
        Returns y_hat (gained) and, per group, (what its context network read or None, scale, mean)."""
        scales, means = self.split(self.h_s(z_hat))
        y_hats, groups = [], []
        for s, group in enumerate(self._groups()):
            scale, mean, seen = scales[:, group], means[:, group], None
            if s:
                seen = torch.cat(y_hats, 1)
                d_scale, d_mean = self.context[s - 1](seen).chunk(2, 1)
                scale, mean = scale + d_scale, mean + d_mean
            y_hats.append(ste_round(y[:, group] - mean) + mean)
            groups.append((seen, scale, mean))
        return torch.cat(y_hats, 1), groups

    def quantize(self, y, rate=None):
        if rate is None:
            raise ValueError(f"{self.model_name}: quantize needs the quality index of each image")
        y = self.gained(y, rate)
        z = self.h_a(y)
        z_coded = uniform_noise(z) if self.training else torch.round(z)
        y_hat, groups = self._float_groups(y, ste_round(z))
        likelihoods = []
        for group, (_, scale, mean) in zip(self._groups(), groups):
            part = y[:, group]
            coded = uniform_noise(part) if self.training else torch.round(part - mean) + mean
            likelihoods.append(self.y_conditional.likelihood(coded, scale, mean))
        y_hat = y_hat * self.log_inverse_gain[rate].exp()[:, :, None, None]
        return y_hat, {"y": torch.cat(likelihoods, 1), "z": self.z_prior.likelihood(z_coded)}

    @torch.no_grad()
    def calibrate_hyper(self, ys: list[torch.Tensor]) -> None:
        super().calibrate_hyper(ys)  # the hyper-synthesis, from the coded (gained) latents
        inputs: list[list[torch.Tensor]] = [[] for _ in self.context]
        for y in ys:  # the float decoded groups, as the context networks see them
            _, groups = self._float_groups(y, torch.round(self.h_a(y)))
            for s, (seen, _, _) in enumerate(groups[1:]):
                inputs[s].append(seen)
        hyper_exp = self.int_h_s.output_exp
        for net, twin, xs in zip(self.context, self.int_context, inputs):
            twin.calibrate(net, xs, exponent_for(max(float(x.abs().max()) for x in xs), ACT_TARGET))
        exps = [hyper_exp] + [twin.output_exp for twin in self.int_context]
        if max(exps) - min(exps) > 29:  # the upscaled means must stay below 2**53
            raise ValueError(f"integer decoder: exponents {exps} too far apart for one common exponent")
        self.int_latent_exp.fill_(max(exps))

    def latent_bound(self) -> float:
        E = int(self.int_latent_exp)
        lowest = min([self.int_h_s.output_exp] + [twin.output_exp for twin in self.int_context])
        return (SYMBOL_LIMIT + 1) * power_of_two(E) + 2 * ACT_LIMIT * power_of_two(E - lowest)

    @torch.no_grad()
    def code_latent(self, z_hat, step):
        params = self.int_h_s(z_hat.double())
        hyper_scales, hyper_means = self.split(params)
        E = int(self.int_latent_exp)
        up = power_of_two(E - self.int_h_s.output_exp)  # exact: integers times a power of two
        y_hats = []
        for s, group in enumerate(self._groups()):
            scale, mean = hyper_scales[:, group] * up, hyper_means[:, group] * up
            if s:
                twin = self.int_context[s - 1]
                x = clamp(rescale(torch.cat(y_hats, 1), power_of_two(twin.input_exp - E)))
                d_scale, d_mean = twin(x).chunk(2, 1)
                lift = power_of_two(E - twin.output_exp)
                scale, mean = scale + d_scale * lift, mean + d_mean * lift
            q = step(self.scale_index(scale, E), mean, E, group)
            y_hats.append(q * power_of_two(E) + mean)
        return torch.cat(y_hats, 1), E


CODECS = {cls.model_name: cls for cls in (FactorizedPrior, ScaleHyperprior, MeanScaleHyperprior,
                                          VariableRateHyperprior, ChannelContextHyperprior)}
ARCH_IDS = {cls.arch_id: cls.model_name for cls in CODECS.values()}


def build_codec(name: str, quality: int | None = None, **options: Any) -> TransformCodec:
    """A fixed-rate codec at ``quality`` (CompressAI's sizes for it), or the variable-rate one (which
    codes at every quality of its ladder; ``quality`` is not used)."""
    if name not in CODECS:
        raise UserError(f"unknown codec model {name!r}; known: {', '.join(CODECS)}")
    if issubclass(CODECS[name], VariableRateHyperprior):
        return CODECS[name](**options)
    if quality not in QUALITIES:
        raise UserError(f"quality must be 1 to 8, got {quality}")
    N, M = default_sizes(name, quality)
    return CODECS[name](quality=quality, **{"N": N, "M": M, **options})
