"""The contract every generative model meets, the model registry, and save/load.

A model is an ``nn.Module`` that knows how to take one training step on a batch. The trainer
(``trainer.py``) owns everything around that step: device, autocast, EMA, checkpoints, DDP.
A saved model is a folder with ``config.json`` (the registry name and the constructor arguments)
and ``model.safetensors``; no pickle is ever written or read.
"""

from __future__ import annotations

import functools
import inspect
import json
import os
from pathlib import Path
from typing import Any, Callable, ClassVar

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file
from safetensors.torch import load_model as _load_safetensors
from safetensors.torch import save_model as _save_safetensors
from torch import nn

from gensdk.core.io import atomic_write, write_folder
from gensdk.errors import UserError

MODELS: dict[str, type["GenerativeModel"]] = {}


def register_model(name: str) -> Callable[[type], type]:
    """Class decorator: make a model buildable and loadable by ``name`` (CompressAI's shape)."""

    def wrap(cls: type) -> type:
        if name in MODELS and MODELS[name] is not cls:
            raise ValueError(f"model name {name!r} is already registered by {MODELS[name].__name__}")
        cls.model_name = name
        MODELS[name] = cls
        return cls

    return wrap


def build_model(name: str, **kwargs: Any) -> "GenerativeModel":
    """Build a registered model from its name and keyword arguments, with a clear error on bad ones."""
    if name not in MODELS:
        raise UserError(f"unknown model {name!r}; known models: {', '.join(sorted(MODELS))}")
    cls = MODELS[name]
    params = inspect.signature(cls.__init__).parameters
    unknown = [k for k in kwargs if k not in params]
    if unknown:
        known = [p for p in params if p != "self"]
        raise UserError(f"model {name!r} has no option {unknown[0]!r}; its options: {', '.join(known)}")
    try:
        return cls(**kwargs)
    except (ValueError, TypeError, RuntimeError) as err:  # RuntimeError: torch on a negative size
        raise UserError(f"model {name!r}: {(str(err).splitlines() or [''])[0]}") from None


class StepContext:
    """What a model's ``train_step`` gets from the trainer besides the batch.

    ``optimize(name, loss)`` runs zero_grad, backward, the data-parallel gradient all-reduce and the
    optimizer step, so models never see distribution or precision details.
    """

    def __init__(self, optimizers: dict[str, torch.optim.Optimizer], step: int, total_steps: int,
                 all_reduce: Callable[[list[nn.Parameter]], None] | None = None):
        self.optimizers = optimizers
        self.step = step
        self.total_steps = total_steps
        self._all_reduce = all_reduce

    def optimize(self, name: str, loss: torch.Tensor, max_grad_norm: float | None = None) -> None:
        """``max_grad_norm`` clips the (averaged) gradient's norm before the step."""
        opt = self.optimizers[name]
        opt.zero_grad(set_to_none=True)
        loss.backward()
        params = [p for group in opt.param_groups for p in group["params"]]
        if self._all_reduce is not None:
            self._all_reduce(params)
        if max_grad_norm is not None:
            torch.nn.utils.clip_grad_norm_(params, max_grad_norm)
        opt.step()


class GenerativeModel(nn.Module):
    """Base of every model. Subclasses take keyword arguments only; they are recorded in
    ``self.config`` (defaults filled in) so that ``save``/``load`` rebuild the same model.

    Subclasses implement:
      - ``make_optimizers() -> dict[str, Optimizer]``
      - ``train_step(batch, ctx) -> dict[str, float]``: one step; call ``ctx.optimize`` per optimizer
      - ``sample(n, **kw) -> Tensor``
    and may implement ``nll(x) -> Tensor`` (per-example negative log-likelihood in nats) and
    ``ema_module()`` (the submodule whose weights the trainer averages, e.g. the generator).
    """

    model_name: ClassVar[str] = ""
    # True when train_step runs the same kernels every step (no host syncs, no branching on data or
    # ctx.step), so the trainer may capture it in a CUDA graph (TrainConfig.cuda_graph).
    static_step: ClassVar[bool] = False
    config: dict[str, Any]

    def __init_subclass__(cls, **kw: Any) -> None:
        super().__init_subclass__(**kw)
        if "__init__" not in cls.__dict__:
            return
        init = cls.__init__
        signature = inspect.signature(init)

        @functools.wraps(init)
        def recording_init(self: GenerativeModel, *args: Any, **kwargs: Any) -> None:
            if args:
                raise TypeError(f"{cls.__name__} takes keyword arguments only")
            init(self, **kwargs)
            if type(self).__init__ is recording_init:  # the outermost class records its own arguments
                bound = signature.bind(self, **kwargs)
                bound.apply_defaults()
                self.config = {k: v for k, v in bound.arguments.items() if k != "self"}

        cls.__init__ = recording_init

    # --- the trainer's side of the contract -------------------------------------------------
    def make_optimizers(self) -> dict[str, torch.optim.Optimizer]:
        raise NotImplementedError(f"{type(self).__name__} must define make_optimizers")

    def train_step(self, batch: tuple[torch.Tensor, ...], ctx: StepContext) -> dict[str, float]:
        raise NotImplementedError(f"{type(self).__name__} must define train_step")

    def sample(self, n: int, **kwargs: Any) -> torch.Tensor:
        raise NotImplementedError(f"{type(self).__name__} must define sample")

    def ema_module(self) -> nn.Module | None:
        return None

    @property
    def device(self) -> torch.device:
        return next(self.parameters()).device

    # --- persistence -------------------------------------------------------------------------
    def save(self, folder: str | os.PathLike) -> Path:
        return save_model(self, folder)

    @classmethod
    def load(cls, folder: str | os.PathLike, map_location: str | torch.device = "cpu") -> "GenerativeModel":
        return load_model(folder, map_location)


def check_sample_options(model: GenerativeModel, options: dict[str, Any]) -> None:
    """Sampling options a model's ``sample`` does not take are one clear error, not a TypeError."""
    params = inspect.signature(model.sample).parameters
    if any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params.values()):
        return
    known = [p for p in params if p != "n"]
    for key in options:
        if key not in known:
            raise UserError(f"model {model.model_name!r} has no sampling option {key!r}; "
                            f"its options: {', '.join(known) or 'none'}")


def batched_nll(model: GenerativeModel, x: torch.Tensor, y: torch.Tensor | None = None, batch_size: int = 256,
                **options: Any) -> torch.Tensor:
    """Per-example ``model.nll`` of ``x`` in float32, a batch at a time; labels ``y`` are passed only to
    conditional models (``num_classes > 0``)."""
    labelled = y is not None and getattr(model, "num_classes", 0)
    return torch.cat([model.nll(x[i:i + batch_size], **({"y": y[i:i + batch_size]} if labelled else {}),
                                **options).float()
                      for i in range(0, len(x), batch_size)])


def save_model(model: GenerativeModel, folder: str | os.PathLike, extra: dict[str, Any] | None = None,
               files: dict[str, Callable[[Path], Any]] | None = None) -> Path:
    """Write ``config.json`` + ``model.safetensors`` into ``folder`` atomically (``write_folder``).
    ``files`` maps further file names to writers (``write(path)``) of what belongs with the weights,
    e.g. a fitted data transformer; they land in the same rename."""
    config = json.dumps({"model": model.model_name, "config": model.config, **(extra or {})}, indent=2, sort_keys=True)
    return write_folder(folder, {"config.json": lambda path: path.write_text(config),
                                 "model.safetensors": lambda path: _save_weights(model, path),
                                 **(files or {})})


def _save_weights(model: nn.Module, path: Path) -> None:
    """safetensors' ``save_model`` refuses tensors that are views into one shared buffer (a cuDNN RNN's
    flattened weights on the GPU): save a copy of each such tensor; tied weights (the same tensor
    under two names) are still written once."""
    try:
        _save_safetensors(model, str(path))
    except RuntimeError:
        state = {name: tensor.detach().clone().contiguous() for name, tensor in model.state_dict().items()}
        save_file(state, str(path))


def half_state(state: dict[str, torch.Tensor], keep_exact: Callable[[str], bool] = lambda key: False
               ) -> dict[str, torch.Tensor]:
    """``state`` with its floating-point tensors in fp16 (a model to ship: half the bytes), except the
    keys ``keep_exact`` names; integer tensors (counters, tables) stay as they are. Contiguous, since
    safetensors stores NCHW whatever layout training used."""
    return {k: (v.half() if v.is_floating_point() and not keep_exact(k) else v).contiguous() for k, v in state.items()}


def halve_weights(folder: str | os.PathLike) -> list[Path]:
    """Rewrite every ``*.safetensors`` under a saved folder through ``half_state``. Loading casts the
    weights back to the model's dtype. Returns the files rewritten."""
    files = sorted(Path(folder).rglob("*.safetensors"))
    for path in files:
        state = half_state(load_file(str(path)))
        atomic_write(path, lambda tmp, state=state: save_file(state, tmp))
    return files


def read_model_config(folder: str | os.PathLike) -> dict[str, Any]:
    folder = Path(folder)
    path = folder / "config.json"
    if not path.is_file():
        raise UserError(f"{folder}: not a saved model (no config.json)")
    try:
        meta = json.loads(path.read_text(encoding="utf-8"))
        meta["model"], meta["config"]
    except (ValueError, KeyError, TypeError, RecursionError) as err:  # ValueError: bad JSON or not UTF-8
        raise UserError(f"{path}: malformed model config ({err.__class__.__name__}: {err})") from None
    if not isinstance(meta["model"], str) or not isinstance(meta["config"], dict):
        raise UserError(f"{path}: malformed model config ('model' must be a name and 'config' a mapping)")
    return meta


def load_model(folder: str | os.PathLike, map_location: str | torch.device = "cpu",
               may_lack: Callable[[str], bool] | None = None) -> GenerativeModel:
    """Rebuild a model from a saved folder; every failure is one clear ``UserError``. ``may_lack``:
    the weights a folder exported for inference may leave out (e.g. a codec's float decoder, whose
    integer twin decodes), which keep their initial values."""
    folder = Path(folder)
    meta = read_model_config(folder)
    try:
        model = build_model(meta["model"], **meta["config"])
    except UserError as err:  # the message names the file to mend
        raise UserError(f"{folder / 'config.json'}: {err}") from None
    weights = folder / "model.safetensors"
    if not weights.is_file():
        raise UserError(f"{folder}: no model.safetensors")
    try:
        missing, unexpected = _load_safetensors(model, str(weights), strict=False, device=str(map_location))
    except (SafetensorError, RuntimeError, OSError) as err:
        raise UserError(f"{weights}: cannot load weights ({str(err).splitlines()[0]})") from None
    missing = [key for key in missing if not (may_lack and may_lack(key))]
    if missing or unexpected:
        raise UserError(f"{weights}: weights do not match model {meta['model']!r} "
                        f"(missing {list(missing)[:3]}, unexpected {list(unexpected)[:3]})")
    return model.to(map_location).eval()
