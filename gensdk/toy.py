"""The 2-D Gaussians playground behind ``gensdk toy`` and the README's first command."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from gensdk import api
from gensdk.core.gan import OBJECTIVES
from gensdk.core.io import atomic_write
from gensdk.errors import UserError

# Per-objective settings. From the papers: WGAN-GP (Gulrajani et al.) uses 5 critic steps and Adam
# (0.5, 0.9); WGAN (Arjovsky et al.) RMSprop at 5e-5 with clipping; the rest Adam (0.5, 0.999).
# From our sweeps on the std-0.02 ring (benchmarks/results/raw/ring_sweep*.jsonl): lr 1e-3 decayed linearly
# to 0, and a gradient-penalty weight of 1 instead of the paper's 10, which left samples smeared
# between modes (high-quality rate 0.2-10% at weight 10, 56-88% at weight 1, same budget).
OBJECTIVE_SETTINGS: dict[str, dict[str, Any]] = {
    "wgan-gp": {"n_critic": 5, "betas": [0.5, 0.9], "gp_weight": 1.0},
    "wgan": {"n_critic": 5, "optimizer": "rmsprop", "lr_g": 5e-5, "lr_d": 5e-5},
}
LEARNING_RATE = 1e-3


def toy_recipe(loss: str = "nonsaturating", data: str = "ring", steps: int = 20000, minibatch_std: bool = True,
               seed: int = 0) -> dict[str, Any]:
    if loss not in OBJECTIVES:
        raise UserError(f"unknown GAN loss {loss!r}; known: {', '.join(OBJECTIVES)}")
    if data not in ("ring", "grid"):
        raise UserError(f"unknown toy data {data!r}; use ring or grid")
    model = {"name": "gan", "arch": "mlp", "z_dim": 16, "hidden": [128, 128, 128], "loss": loss,
             "minibatch_std": minibatch_std, "lr_g": LEARNING_RATE, "lr_d": LEARNING_RATE,
             **OBJECTIVE_SETTINGS.get(loss, {})}
    return {
        "data": {"name": data, "n": 100_000, "seed": seed},
        "model": model,
        "train": {"steps": steps, "batch_size": 256, "seed": seed, "lr_schedule": "linear", "ema_decay": 0.999,
                  "checkpoint_every": max(1, steps // 10), "log_every": max(1, steps // 20)},
        "evaluate": {"samples": 10_000, "seed": seed},
    }


def run_toy(loss: str = "nonsaturating", data: str = "ring", steps: int = 20000, minibatch_std: bool = True,
            seed: int = 0, out: str | Path = "runs/toy", progress: bool = True) -> tuple[dict[str, Any], Path]:
    """Train, evaluate (mode coverage, high-quality rate) and draw real vs generated points."""
    import torch

    from gensdk.core.plot import scatter

    out = Path(out)
    recipe = toy_recipe(loss, data, steps, minibatch_std, seed)
    model = api.train(recipe, out=out, overwrite=True, progress=progress)  # a playground: reruns replace
    results = api.evaluate_recipe(model, recipe)
    real = api.dataset_from({**recipe["data"], "n": 2000}).x
    torch.manual_seed(seed)
    fake = model.sample(2000).cpu()
    picture = out / "toy.png"
    image = scatter([real, fake], ["real", f"generated ({loss})"])
    atomic_write(picture, lambda tmp: image.save(tmp, format="PNG"))
    return results, picture
