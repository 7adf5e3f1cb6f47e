"""The one training loop for every family: GANs, VAEs and autoregressive models.

The loop owns the device, bf16 autocast, optional torch.compile, EMA, atomic checkpoints, resume,
data parallelism under torchrun, a progress bar and a JSONL log. Models only define one step.

Repeatability is stateless by design: the batch at step ``s`` and the random numbers a step draws
depend on ``(seed, s, rank)`` alone, so a run resumed from a checkpoint at step ``s`` takes exactly
the steps an unbroken run would have taken (bit-identical on CPU).

Data parallelism: under ``torchrun`` each rank takes its slice of a global batch and gradients are
averaged with one all-reduce of a flattened buffer per optimizer step. We do this instead of wrapping
in ``DistributedDataParallel`` because GAN steps run the discriminator several times per backward and
WGAN-GP differentiates through a gradient (double backward), neither of which DDP's reducer supports.
"""

from __future__ import annotations

import contextlib
import copy
import json
import math
import os
import time
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import Any, Callable

import torch
import torch.distributed as dist
from torch import nn
from tqdm.auto import tqdm

from gensdk.core.device import resolve_device
from gensdk.core.io import atomic_write
from gensdk.core.model import GenerativeModel, StepContext, batched_nll, save_model
from gensdk.errors import UserError

LR_SCHEDULES = ("constant", "linear", "cosine")
CHECKPOINT = "checkpoint.pt"
LOG = "log.jsonl"
MODEL_DIR = "model"


@dataclass
class TrainConfig:
    steps: int = 1000
    minutes: float | None = None   # a wall-time budget instead of steps: the step count is planned (see Trainer._plan)
    batch_size: int = 128          # per process; the global batch is batch_size * world size
    seed: int = 0
    device: str = "auto"           # auto | cpu | cuda | cuda:N
    bf16: bool = True              # bf16 autocast, used on CUDA only
    compile: bool = False          # torch.compile each top-level submodule (CUDA recommended)
    cuda_graph: bool = False       # replay train_step as one CUDA graph (see Trainer._graph_ready)
    channels_last: bool = False    # NHWC weights and 4-D data: the layout GPU convolutions run fastest in
    ema_decay: float | None = None # EMA of model.ema_module(), e.g. 0.999 for a GAN generator
    lr_schedule: str = "constant"  # constant | linear (to 0 at the last step) | cosine
    warmup_steps: int = 0          # linear warm-up from 0 before the schedule
    checkpoint_every: int = 500
    validate_every: int = 0        # with validation data: its NLL every N steps, best weights kept (early stopping)
    log_every: int = 50
    progress: bool = True
    tensorboard: bool = False

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> "TrainConfig":
        known = {f.name for f in fields(cls)}
        for key in values:
            if key not in known:
                raise UserError(f"train: unknown option {key!r}; options: {', '.join(sorted(known))}")
        cfg = cls(**values)
        for name in ("steps", "batch_size", "checkpoint_every", "log_every"):
            value = getattr(cfg, name)
            if not isinstance(value, int) or value < 1:
                raise UserError(f"train.{name} must be a positive integer, got {value!r}")
        if cfg.minutes is not None and (not isinstance(cfg.minutes, (int, float)) or cfg.minutes <= 0):
            raise UserError(f"train.minutes must be a positive number, got {cfg.minutes!r}")
        if not isinstance(cfg.validate_every, int) or cfg.validate_every < 0:
            raise UserError(f"train.validate_every must be a non-negative integer, got {cfg.validate_every!r}")
        if cfg.validate_every and cfg.ema_decay is not None:
            raise UserError("train.validate_every (early stopping on raw weights) and train.ema_decay exclude each other")
        if cfg.ema_decay is not None and not 0.0 < cfg.ema_decay < 1.0:
            raise UserError(f"train.ema_decay must be in (0, 1), got {cfg.ema_decay!r}")
        if cfg.lr_schedule not in LR_SCHEDULES:
            raise UserError(f"train.lr_schedule must be one of {', '.join(LR_SCHEDULES)}, got {cfg.lr_schedule!r}")
        if not isinstance(cfg.warmup_steps, int) or cfg.warmup_steps < 0:
            raise UserError(f"train.warmup_steps must be a non-negative integer, got {cfg.warmup_steps!r}")
        return cfg

    def lr_factor(self, step: int) -> float:
        """Multiplier of every optimizer's base learning rate at ``step``: a pure function of the
        step, so a resumed run follows the same schedule without extra state."""
        if step < self.warmup_steps:
            return (step + 1) / self.warmup_steps
        progress = (step - self.warmup_steps) / max(1, self.steps - self.warmup_steps)
        if self.lr_schedule == "linear":
            return 1.0 - progress
        if self.lr_schedule == "cosine":
            return 0.5 * (1.0 + math.cos(math.pi * progress))
        return 1.0


def training_budget(steps: int | None, epochs: float | None, minutes: float | None, rows: int, batch_size: int,
                    default_steps: int) -> dict[str, Any]:
    """TrainConfig's ``steps`` and ``minutes`` from one of a plugin's --steps, --epochs (passes over
    ``rows`` examples: steps = epochs * rows / batch size) or --minutes (the Trainer plans the steps)."""
    if sum(x is not None for x in (steps, epochs, minutes)) > 1:
        raise UserError("give one of --steps, --epochs or --minutes")
    if epochs is not None:
        if epochs <= 0:
            raise UserError(f"--epochs must be positive, got {epochs}")
        steps = max(1, math.ceil(epochs * rows / batch_size))
    return {"steps": steps or default_steps, "minutes": minutes}


class Distributed:
    """Rank, world size and gradient averaging; a no-op outside torchrun."""

    def __init__(self, device_name: str):
        self.world = int(os.environ.get("WORLD_SIZE", "1"))
        self.rank = int(os.environ.get("RANK", "0"))
        local_rank = int(os.environ.get("LOCAL_RANK", "0"))
        if self.world > 1:
            use_cuda = torch.cuda.is_available() and device_name in ("auto", "cuda")
            if use_cuda:
                torch.cuda.set_device(local_rank)
                self.device = torch.device("cuda", local_rank)
            else:
                self.device = torch.device("cpu")
            if not dist.is_initialized():
                dist.init_process_group("nccl" if use_cuda else "gloo")
        else:
            self.device = resolve_device(device_name)

    @property
    def main(self) -> bool:
        return self.rank == 0

    def broadcast_module(self, module: nn.Module) -> None:
        if self.world > 1:
            for tensor in module.state_dict().values():
                dist.broadcast(tensor, src=0)

    def all_reduce_grads(self, params: list[nn.Parameter]) -> None:
        grads = [p.grad for p in params if p.grad is not None]
        if not grads:
            return
        flat = torch.cat([g.reshape(-1) for g in grads])
        dist.all_reduce(flat)
        flat /= self.world
        offset = 0
        for g in grads:
            g.copy_(flat[offset:offset + g.numel()].view_as(g))
            offset += g.numel()

    def barrier(self) -> None:
        if self.world > 1:
            dist.barrier()


class BatchSchedule:
    """Stateless batches: epoch ``e`` is ``randperm(N)`` seeded by ``(seed, e)``; step ``s`` takes its
    slice; rank ``r`` takes its part of the global batch. The last partial batch of an epoch is dropped."""

    def __init__(self, n: int, batch_size: int, seed: int, rank: int, world: int,
                 device: torch.device | str = "cpu"):
        self.n, self.batch_size, self.seed, self.rank, self.world = n, batch_size, seed, rank, world
        self.device = device
        self.global_batch = batch_size * world
        self.per_epoch = n // self.global_batch
        if self.per_epoch == 0:
            raise UserError(f"the data set has {n} examples, fewer than one global batch of {self.global_batch}")
        self._epoch, self._perm = -1, None

    def indices(self, step: int) -> torch.Tensor:
        epoch, i = divmod(step, self.per_epoch)
        if epoch != self._epoch:
            gen = torch.Generator().manual_seed(self.seed * 7919 + epoch)
            # drawn on the CPU (the same on every device), moved once per epoch: no per-step copy or sync
            self._epoch, self._perm = epoch, torch.randperm(self.n, generator=gen).to(self.device)
        start = i * self.global_batch + self.rank * self.batch_size
        return self._perm[start:start + self.batch_size]


class EMA:
    """Exponential moving average of a module's weights (buffers such as batch-norm statistics are
    copied). Written here rather than using torch's ``AveragedModel``, whose update reads its step
    counter back to the host every call and so stalls the GPU once per training step."""

    def __init__(self, module: nn.Module, decay: float):
        self.decay = decay
        self.module = copy.deepcopy(module).eval().requires_grad_(False)

    @torch.no_grad()
    def update(self, source: nn.Module) -> None:
        torch._foreach_lerp_(list(self.module.parameters()), list(source.parameters()), 1.0 - self.decay)
        for mine, theirs in zip(self.module.buffers(), source.buffers()):
            mine.copy_(theirs)


def step_seed(seed: int, step: int, rank: int) -> int:
    return (seed * 1_000_003 + step * 1_009 + rank) % (2**63)


PLAN_FROM, PLAN_STEPS = 10, 40  # a minutes budget times steps PLAN_FROM .. PLAN_FROM + PLAN_STEPS
PLAN_CEILING = 10**9
GRAPH_WARMUP_STEPS = 3  # eager steps before capture: lazy CUDA initialisation must not land in the graph


class StepGraph:
    """One training step captured as a CUDA graph and replayed: a small model's step then costs its
    kernels' time instead of Python's and the launches' (for CTGAN's 256-wide MLPs, most of it).
    Each replay copies the batch into the captured input tensors; random numbers stay per step,
    because a replay draws from the generator's seed and offset at replay time."""

    def __init__(self, model: GenerativeModel, batch: tuple[torch.Tensor, ...], ctx: StepContext, autocast: Any):
        torch.cuda.synchronize()
        self.inputs = tuple(t.clone() for t in batch)
        self.graph = torch.cuda.CUDAGraph()
        with torch.cuda.graph(self.graph), autocast:
            self.losses = model.train_step(self.inputs, ctx)

    def replay(self, batch: tuple[torch.Tensor, ...]) -> dict[str, torch.Tensor]:
        for static, new in zip(self.inputs, batch):
            static.copy_(new)
        self.graph.replay()
        return self.losses


class Trainer:
    """``Trainer(model, data, config, out_dir).fit(resume=...)``.

    ``data`` is a tensor or a tuple of equally long tensors (e.g. images and labels); it is moved to
    the device once. ``out_dir`` receives ``checkpoint.pt``, ``log.jsonl`` and the final ``model/``.
    """

    def __init__(self, model: GenerativeModel, data: torch.Tensor | tuple[torch.Tensor, ...],
                 config: TrainConfig | None = None, out_dir: str | os.PathLike | None = None,
                 valid: torch.Tensor | tuple[torch.Tensor, ...] | None = None):
        self.config = config or TrainConfig()
        self.out_dir = Path(out_dir) if out_dir is not None else None
        self.dist = Distributed(self.config.device)
        self.device = self.dist.device
        self.data = tuple(self._place(t) for t in (data if isinstance(data, tuple) else (data,)))
        if len({len(t) for t in self.data}) != 1:
            raise UserError("data tensors have different lengths: " + ", ".join(str(len(t)) for t in self.data))
        self.model = model.to(self.device)
        if self.config.channels_last:
            self.model.to(memory_format=torch.channels_last)
        self.dist.broadcast_module(self.model)
        self.optimizers = self.model.make_optimizers()
        self.graph: StepGraph | None = None
        self.base_lrs = {name: [float(group["lr"]) for group in opt.param_groups]
                         for name, opt in self.optimizers.items()}
        self._make_capturable()
        self.ema: EMA | None = None
        if self.config.ema_decay is not None and self.model.ema_module() is not None:
            self.ema = EMA(self.model.ema_module(), self.config.ema_decay)
        if self.config.compile:
            for child in self.model.children():
                child.compile()
        self.schedule = BatchSchedule(len(self.data[0]), self.config.batch_size, self.config.seed,
                                      self.dist.rank, self.dist.world, self.device)
        self.step = 0
        self.history: list[dict[str, Any]] = []
        self.valid = None
        if valid is not None and self.config.validate_every:
            if not hasattr(self.model, "nll"):
                raise UserError(f"train.validate_every: model {self.model.model_name!r} has no likelihood to validate")
            self.valid = tuple(self._place(t) for t in (valid if isinstance(valid, tuple) else (valid,)))
        self.best: dict[str, Any] | None = None  # {"valid_nll", "step", "model"}: early stopping's pick
        self.throughput: float | None = None  # examples/s over the run's timed steps (all ranks)
        self.plan: dict[str, Any] | None = None  # a minutes budget's planned step count, once measured

    # --- checkpoints -----------------------------------------------------------------------------
    @property
    def checkpoint_path(self) -> Path | None:
        return self.out_dir / CHECKPOINT if self.out_dir else None

    def save_checkpoint(self) -> None:
        if not (self.dist.main and self.out_dir):
            return
        self.out_dir.mkdir(parents=True, exist_ok=True)
        state = {
            "format": "gensdk-checkpoint-1",
            "step": self.step,
            "seed": self.config.seed,
            "model_name": self.model.model_name,
            "model_config": json.dumps(self.model.config, sort_keys=True),
            "model": self.model.state_dict(),
            "optimizers": {k: o.state_dict() for k, o in self.optimizers.items()},
            "ema": self.ema.module.state_dict() if self.ema is not None else None,
            "best": self.best,
            "planned_steps": self.plan["steps"] if self.plan else None,
        }
        atomic_write(self.checkpoint_path, lambda tmp: torch.save(state, tmp))

    def load_checkpoint(self, path: Path) -> None:
        try:
            state = torch.load(path, map_location=self.device, weights_only=True)
            step, name, config = state["step"], state["model_name"], state["model_config"]
        except Exception as err:  # torch raises many types for a damaged file
            raise UserError(f"{path}: not a readable gensdk checkpoint ({type(err).__name__})") from None
        if name != self.model.model_name or json.loads(config) != json.loads(json.dumps(self.model.config)):
            raise UserError(f"{path}: checkpoint is for model {name!r} with a different configuration "
                            f"than this run's {self.model.model_name!r}; use a new output folder")
        if state["seed"] != self.config.seed:
            raise UserError(f"{path}: checkpoint was written with seed {state['seed']}, this run has seed "
                            f"{self.config.seed}")
        try:
            self.model.load_state_dict(state["model"])
            for key, opt in self.optimizers.items():
                opt.load_state_dict(state["optimizers"][key])
            if self.ema is not None:
                if state["ema"] is None:
                    raise KeyError("ema")
                self.ema.module.load_state_dict(state["ema"])
        except (KeyError, RuntimeError, ValueError) as err:
            raise UserError(f"{path}: checkpoint does not match this model ({str(err).splitlines()[0]})") from None
        self.step = step
        self.best = state.get("best")
        if self.config.minutes is not None and state.get("planned_steps"):
            self.config.steps = state["planned_steps"]  # the schedule planned for the budget, followed again
            self.plan = {"steps": self.config.steps, "minutes": self.config.minutes, "resumed": True}
        self._make_capturable()  # the loaded param groups replaced the learning-rate tensors

    # --- logging ---------------------------------------------------------------------------------
    def _truncate_log(self) -> None:
        """On resume, drop log lines the killed run wrote after its last checkpoint."""
        path = self.out_dir / LOG
        if not path.exists():
            return
        kept = [line for line in path.read_text().splitlines()
                if line.strip() and json.loads(line).get("step", 0) <= self.step]
        atomic_write(path, lambda tmp: Path(tmp).write_text("".join(line + "\n" for line in kept)))
        self.history = [json.loads(line) for line in kept]

    def _log(self, record: dict[str, Any], writer: Any) -> None:
        self.history.append(record)
        if self.out_dir and self.dist.main:
            with open(self.out_dir / LOG, "a") as fh:
                fh.write(json.dumps(record) + "\n")
        if writer is not None:
            for key, value in record.items():
                if key != "step" and isinstance(value, (int, float)):
                    writer.add_scalar(key, value, record["step"])

    def _tensorboard(self) -> Any:
        if not (self.config.tensorboard and self.out_dir and self.dist.main):
            return None
        try:
            from torch.utils.tensorboard import SummaryWriter
        except ImportError:
            raise UserError("train.tensorboard is on but the tensorboard package is not installed "
                            "(pip install 'gensdk[tensorboard]')") from None
        return SummaryWriter(str(self.out_dir / "tensorboard"))

    # --- the loop --------------------------------------------------------------------------------
    def _sync(self) -> None:
        if self.device.type == "cuda":
            torch.cuda.synchronize(self.device)

    def fit(self, resume: bool = False, overwrite: bool = False, extra: dict[str, Any] | None = None,
            stop_after: float | None = None, save: Callable[[Path, dict[str, Any]], Any] | None = None
            ) -> GenerativeModel:
        """Train to ``config.steps``. A folder that already holds a run is continued with ``resume``,
        replaced with ``overwrite``, and otherwise refused, so no finished work is lost by mistake.
        ``extra`` goes into the saved model's config.json beside the training settings (what a plugin
        needs to load the folder as its own kind of model). ``stop_after``: seconds of wall time after
        which the run checkpoints and returns unfinished (``self.finished`` is False), for a long
        schedule trained in slices (a machine lent for minutes at a time); ``resume`` continues it.
        ``save(folder, record)`` writes the final ``model/`` instead of ``save_model``: a plugin's
        artifact passes its own ``save``, so that ``model/`` is the whole artifact, written once."""
        cfg = self.config
        started = time.perf_counter()
        if stop_after is not None and self.dist.world > 1:
            raise UserError("stop_after: ranks would stop at different steps; use it in one process")
        if self.out_dir and self.dist.main:
            self.out_dir.mkdir(parents=True, exist_ok=True)
        if resume:
            if not (self.checkpoint_path and self.checkpoint_path.exists()):
                raise UserError(f"--resume: no checkpoint at {self.checkpoint_path}")
            self.load_checkpoint(self.checkpoint_path)
            if self.dist.main:
                self._truncate_log()
        elif self.checkpoint_path and self.checkpoint_path.exists() and not overwrite:
            raise UserError(f"{self.out_dir}: holds a run already; use --resume to continue it, --overwrite to "
                            "replace it, or another output folder")
        elif self.out_dir and self.dist.main:
            (self.out_dir / LOG).unlink(missing_ok=True)

        # autocast's weight cache would pin tensors of the first step into a CUDA graph: off when graphed
        autocast = torch.autocast("cuda", dtype=torch.bfloat16, enabled=cfg.bf16 and self.device.type == "cuda",
                                  cache_enabled=not self._graph_ready())
        self.graph_warmup_until = self.step + GRAPH_WARMUP_STEPS
        writer = self._tensorboard()
        planning = cfg.minutes is not None and self.plan is None
        first = self.step
        if planning:
            cfg.steps = PLAN_CEILING  # until the rate is measured; the schedule is still in warm-up or near 1
        bar = tqdm(total=cfg.steps, initial=self.step, disable=not (cfg.progress and self.dist.main),
                   desc=self.model.model_name, dynamic_ncols=True)
        self.model.train()
        self._sync()
        t_last, step_last, timed_examples, timed_seconds = time.perf_counter(), self.step, 0, 0.0
        while self.step < cfg.steps:
            torch.manual_seed(step_seed(cfg.seed, self.step, self.dist.rank))
            idx = self.schedule.indices(self.step)
            batch = tuple(t[idx] for t in self.data)
            self._set_learning_rates()
            ctx = StepContext(self.optimizers, self.step, cfg.steps,
                              self.dist.all_reduce_grads if self.dist.world > 1 else None)
            if self.graph is not None:
                losses = self.graph.replay(batch)
            elif self._graph_ready() and self.step >= self.graph_warmup_until:
                self.graph = StepGraph(self.model, batch, ctx, autocast)
                torch.manual_seed(step_seed(cfg.seed, self.step, self.dist.rank))  # capture drew no numbers
                losses = self.graph.replay(batch)
            else:
                with autocast, self._warmup_stream():
                    losses = self.model.train_step(batch, ctx)
            if self.ema is not None:
                self.ema.update(self.model.ema_module())
            self.step += 1
            bar.update(1)
            if planning and self.step - first in (PLAN_FROM, PLAN_FROM + PLAN_STEPS):
                planning = self._plan(started, self.step - first)
                if not planning:
                    bar.total = cfg.steps
            if self.step % cfg.log_every == 0 or self.step == cfg.steps:
                self._sync()
                now = time.perf_counter()
                examples = (self.step - step_last) * self.schedule.global_batch
                rate = examples / max(now - t_last, 1e-9)
                if step_last > 0 or self.step > cfg.log_every:  # the first window holds warm-up/compile
                    timed_examples, timed_seconds = timed_examples + examples, timed_seconds + (now - t_last)
                record = {"step": self.step, **{k: float(v) for k, v in losses.items()},
                          "examples_per_s": round(rate, 2)}
                bad = [k for k, v in record.items() if isinstance(v, float) and not math.isfinite(v)]
                self._log(record, writer)
                bar.set_postfix({k: f"{v:.4g}" for k, v in record.items() if k != "step"})
                if bad:
                    raise FloatingPointError(f"training diverged at step {self.step}: {bad[0]} is not finite")
                t_last, step_last = time.perf_counter(), self.step
            if self.valid is not None and (self.step % cfg.validate_every == 0 or self.step == cfg.steps):
                self._validate(writer)
            if self.step % cfg.checkpoint_every == 0 or self.step == cfg.steps:
                self.save_checkpoint()
            if stop_after is not None and self.step < cfg.steps and time.perf_counter() - started > stop_after:
                self.save_checkpoint()
                break
        bar.close()
        if writer is not None:
            writer.close()
        self.throughput = timed_examples / timed_seconds if timed_seconds else None
        self.model.eval()
        if not self.finished:
            return self.model
        self._apply_ema()
        if self.best is not None:
            self.model.load_state_dict(self.best["model"])
        if self.out_dir and self.dist.main:
            record = {"train": asdict(cfg), "steps_done": self.step, **(extra or {})}
            if save is None:
                save_model(self.model, self.out_dir / MODEL_DIR, extra=record)
            else:
                save(self.out_dir / MODEL_DIR, record)
        self.dist.barrier()
        return self.model

    def _plan(self, started: float, done: int) -> bool:
        """A minutes budget: time PLAN_STEPS steps after the first PLAN_FROM (warm-up, graph capture,
        compilation), then set ``config.steps`` to what fits in the time left, at 97% (checkpoints,
        the final save). Returns whether planning goes on. Rank 0 decides for every rank."""
        self._sync()
        now = time.perf_counter()
        if done == PLAN_FROM:
            self._plan_start = now
            return True
        rate = PLAN_STEPS / (now - self._plan_start)
        left = self.config.minutes * 60 - (now - started)
        steps = torch.tensor([self.step + max(0, int(rate * left * 0.97))], device=self.device)
        if self.dist.world > 1:
            dist.broadcast(steps, src=0)
        self.config.steps = int(steps)
        self.plan = {"steps": self.config.steps, "steps_per_s": round(rate, 2), "minutes": self.config.minutes}
        return False

    @property
    def finished(self) -> bool:
        return self.step >= self.config.steps

    @torch.no_grad()
    def _validate(self, writer: Any) -> None:
        """Mean NLL on the validation data; remember the weights when it is the best so far."""
        self.model.eval()
        x, *labels = self.valid
        nll = batched_nll(self.model, x, labels[0] if labels else None).mean().item()
        self.model.train()
        if self.best is None or nll < self.best["valid_nll"]:
            self.best = {"valid_nll": nll, "step": self.step,
                         "model": {k: v.detach().cpu().clone() for k, v in self.model.state_dict().items()}}
        self._log({"step": self.step, "valid_nll": nll, "best_step": self.best["step"]}, writer)

    def _graph_ready(self) -> bool:
        """A CUDA graph replays one fixed sequence of kernels, so it is used only when asked for, on CUDA,
        in one process, for a model that declares its ``train_step`` static (``GenerativeModel.static_step``:
        no host syncs, no branches on data or step). The learning-rate schedule still applies: the
        optimizers read their rates from device tensors that each step refills (``_make_capturable``)."""
        cfg = self.config
        return (cfg.cuda_graph and self.device.type == "cuda" and self.dist.world == 1 and self.model.static_step
                and not cfg.compile)

    def _place(self, tensor: torch.Tensor) -> torch.Tensor:
        """A data tensor on the device; images (4-D) in NHWC with ``channels_last``, so that each batch
        indexed from them is NHWC too."""
        tensor = tensor.to(self.device)
        if self.config.channels_last and tensor.dim() == 4:
            tensor = tensor.contiguous(memory_format=torch.channels_last)
        return tensor

    def _make_capturable(self) -> None:
        """For a CUDA graph: optimizer state on the GPU, updated inside the graph, and each learning rate
        a one-element device tensor, so that a replay reads the rate the schedule set for this step
        instead of the number baked in at capture."""
        if not self._graph_ready():
            return
        for opt in self.optimizers.values():
            for group in opt.param_groups:
                if "capturable" in group:
                    group["capturable"] = True
                    if not isinstance(group["lr"], torch.Tensor):
                        group["lr"] = torch.tensor(float(group["lr"]), device=self.device)

    @contextlib.contextmanager
    def _warmup_stream(self) -> Any:
        """Eager steps before a capture run on a side stream, as torch.cuda.graphs asks."""
        if not self._graph_ready():
            yield
            return
        current = torch.cuda.current_stream(self.device)
        stream = torch.cuda.Stream(self.device)
        stream.wait_stream(current)
        with torch.cuda.stream(stream):
            yield
        current.wait_stream(stream)

    def _set_learning_rates(self) -> None:
        factor = self.config.lr_factor(self.step)
        for name, opt in self.optimizers.items():
            for group, base in zip(opt.param_groups, self.base_lrs[name]):
                if isinstance(group["lr"], torch.Tensor) and self._graph_ready():
                    group["lr"].fill_(base * factor)  # in place: the captured graph reads this tensor
                else:
                    group["lr"] = base * factor

    def _apply_ema(self) -> None:
        """Put the averaged weights into the model for sampling and export (checkpoints keep raw ones)."""
        if self.ema is not None:
            self.model.ema_module().load_state_dict(self.ema.module.state_dict())
