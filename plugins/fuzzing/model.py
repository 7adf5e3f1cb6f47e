"""A token-level causal Transformer over C programs, on the engine's ``TokenLM``.

``CodeModel.create(programs)`` builds the vocabulary from a corpus: tokens seen at least
``min_count`` times are words, rarer ones are spelled (``lexer.spell``). ``fit`` trains with the
core Trainer (checkpoints, resume, bf16 on CUDA, early stopping on a held-out slice).
``sample`` decodes under ``BracketBalance``: brackets always close in the right order, nothing
closes what was never opened, and a program can only end at bracket depth 0 after a ``;``, a
``}`` or a directive, i.e. at the end of a complete external declaration.
"""

from __future__ import annotations

import os
from collections import Counter
from pathlib import Path
from typing import Any, Sequence

import torch

import gensdk.core.autoregressive  # noqa: F401 - registers "token-lm"
from gensdk.core.artifact import Artifact, register_artifact
from gensdk.core.io import atomic_write
from gensdk.core.model import GenerativeModel, build_model
from gensdk.core.tokens import EOS_ID, Vocabulary
from gensdk.core.trainer import TrainConfig, Trainer
from gensdk.errors import UserError

from .lexer import CONTINUE, render, spell, tokenize

# A GPT-2-style decoder that trains in minutes on one GPU; "tiny" is for tests and CPUs.
SIZES: dict[str, dict[str, Any]] = {
    "tiny": {"d_model": 64, "layers": 2, "heads": 4, "dropout": 0.0, "lr": 1e-3},
    "small": {"d_model": 256, "layers": 6, "heads": 8, "dropout": 0.1, "lr": 6e-4},
    "base": {"d_model": 512, "layers": 8, "heads": 8, "dropout": 0.1, "lr": 3e-4},
}
OPEN, CLOSE = "([{", ")]}"
ENDS_DECLARATION = (";", "}")


def split_programs(programs: Sequence[str], valid_fraction: float, seed: int) -> tuple[list[str], list[str]]:
    """A seeded held-out slice for early stopping (empty when ``valid_fraction`` is 0)."""
    order = torch.randperm(len(programs), generator=torch.Generator().manual_seed(seed)).tolist()
    k = int(round(len(programs) * valid_fraction))
    return [programs[i] for i in order[k:]], [programs[i] for i in order[:k]]


class BracketBalance:
    """The constraint that ``TokenLM.sample`` calls each step: ``allowed [n, vocab]`` from the
    sequences so far. It keeps each row's stack of open brackets on the device and reads only the
    tokens added since its last call, so a step costs O(1), not O(length)."""

    def __init__(self, vocab: Vocabulary, n: int, max_len: int, device: torch.device, depth: int = 64):
        size = len(vocab)
        self.open_kind = torch.zeros(size, dtype=torch.long, device=device)   # 1..3 for ( [ {
        self.close_kind = torch.zeros(size, dtype=torch.long, device=device)  # 1..3 for ) ] }
        for kind, (o, c) in enumerate(zip(OPEN, CLOSE), start=1):
            if o in vocab:
                self.open_kind[vocab.token_to_id[o]] = kind
            if c in vocab:
                self.close_kind[vocab.token_to_id[c]] = kind
        tokens = vocab.id_to_token
        # a program may end after ; or }, or after a directive (a directive token, or one spelled in pieces)
        self.ends = torch.tensor([t in ENDS_DECLARATION for t in tokens], device=device)
        self.directive = torch.tensor([t.startswith("#") and not t.startswith(CONTINUE) for t in tokens], device=device)
        self.piece = torch.tensor([t.startswith(CONTINUE) for t in tokens], device=device)
        self.in_directive = torch.zeros(n, dtype=torch.bool, device=device)
        self.is_open, self.is_close = self.open_kind > 0, self.close_kind > 0
        self.stack = torch.zeros(n, depth, dtype=torch.long, device=device)
        self.level = torch.zeros(n, dtype=torch.long, device=device)
        self.last = torch.zeros(n, dtype=torch.long, device=device)
        self.rows = torch.arange(n, device=device)
        self.max_len, self.depth, self.seen = max_len, depth, 1  # position 0 is <bos>

    def _push_pop(self, tok: torch.Tensor) -> None:
        opens = self.open_kind[tok]
        slot = self.level.clamp(max=self.depth - 1)
        self.stack[self.rows, slot] = torch.where(opens > 0, opens, self.stack[self.rows, slot])
        self.level = self.level + (opens > 0).long() - self.is_close[tok].long()
        self.level = self.level.clamp(min=0)  # a prefix the caller gave may close too much
        self.in_directive = self.directive[tok] | (self.piece[tok] & self.in_directive)
        self.last = tok

    def __call__(self, seq: torch.Tensor) -> torch.Tensor:
        for t in range(self.seen, seq.shape[1]):
            self._push_pop(seq[:, t])
        self.seen = seq.shape[1]
        top = torch.where(self.level > 0, self.stack[self.rows, (self.level - 1).clamp(min=0)], 0)
        matching = self.close_kind[None, :] == top[:, None]          # [n, vocab]
        allowed = torch.where(self.is_close[None, :], matching & (top[:, None] > 0), True)
        # near max_len the remaining positions must fit every closer and <eos>: an opener needs one
        # more of them, and at the very end only closing is left
        room = self.max_len - self.seen - 1  # positions after the next token
        allowed &= ~(self.is_open[None, :] & ((self.level >= self.depth) | (room <= self.level + 1))[:, None])
        can_end = (self.level == 0) & (self.ends[self.last] | self.in_directive)
        tight = room <= self.level
        allowed = torch.where(tight[:, None], matching & (top[:, None] > 0), allowed)
        can_end = can_end | (tight & (self.level == 0))
        allowed[:, EOS_ID] = can_end
        return allowed


@register_artifact("c-program-model", plugin="fuzzing")
class CodeModel(Artifact):
    """A C language model: ``create``, ``fit``, ``sample``, ``save`` / ``load``."""

    state_key = "fuzzing"
    title = "C program model"
    sample_formats = "a folder (one .c file a program)"

    def __init__(self, model: GenerativeModel):
        self.model = model
        self.vocabulary: Vocabulary = model.vocabulary
        self.words = frozenset(t for t in self.vocabulary.id_to_token if not t.startswith(CONTINUE))

    @classmethod
    def create(cls, programs: Sequence[str], size: str = "small", max_len: int = 1024, min_count: int = 3,
               **options: Any) -> "CodeModel":
        if size not in SIZES:
            raise UserError(f"unknown model size {size!r} (known: {', '.join(SIZES)})")
        if max_len < 16:
            raise UserError(f"max_len must be >= 16 tokens, got {max_len}")
        if not programs:
            raise UserError("no program to build a vocabulary from")
        counts = Counter(tok for text in programs for tok in tokenize(text))
        words = {t for t, c in counts.items() if c >= min_count}
        spelled = Counter(tok for t in counts if t not in words for tok in spell([t], words))
        vocab = Vocabulary(sorted(words | set(spelled)))
        settings = {**SIZES[size], **options, "max_len": max_len}
        return cls(build_model("token-lm", arch="transformer", vocab=vocab.to_dict(), **settings))

    @property
    def max_len(self) -> int:
        return self.model.max_len

    def tokens(self, program: str) -> list[str]:
        return spell(tokenize(program), self.words)

    def encode(self, programs: Sequence[str]) -> tuple[torch.Tensor, dict[str, int]]:
        """Token ids ``[N, max_len]`` of the programs that fit (``<bos>`` and ``<eos>`` included) and
        counts of those that did not."""
        rows, dropped = [], Counter()
        for text in programs:
            toks = self.tokens(text)
            if len(toks) + 2 > self.max_len:
                dropped["too-long"] += 1
            elif not toks:
                dropped["empty"] += 1
            else:
                rows.append(toks)
        if not rows:
            raise UserError(f"no program fits the model's {self.max_len} tokens")
        return self.vocabulary.encode_batch(rows, max_len=max(len(r) for r in rows) + 2), dict(dropped)

    def fit(self, programs: Sequence[str], config: TrainConfig, out_dir: str | os.PathLike | None = None,
            valid_fraction: float = 0.05, resume: bool = False, overwrite: bool = False) -> dict[str, Any]:
        """Train on ``programs`` (a seeded ``valid_fraction`` held out for early stopping when
        ``config.validate_every`` is set). Returns the encoding counts."""
        train, valid = split_programs(programs, valid_fraction if config.validate_every else 0.0, config.seed)
        ids, dropped = self.encode(train)
        valid_ids = self.encode(valid)[0] if valid else None
        Trainer(self.model, (ids,), config, out_dir, valid=(valid_ids,) if valid_ids is not None else None).fit(
            resume=resume, overwrite=overwrite, save=self.save)
        return {"train": len(ids), "valid": len(valid), "dropped": dropped}

    @torch.no_grad()
    def sample_tokens(self, n: int, temperature: float = 1.0, top_k: int | None = None,
                      max_len: int | None = None) -> list[list[str]]:
        """``n`` programs as token lists, under ``BracketBalance``."""
        max_len = max_len or self.max_len
        device = self.model.device
        rule = BracketBalance(self.vocabulary, n, max_len, device)
        with torch.autocast("cuda", dtype=torch.bfloat16, enabled=device.type == "cuda"):
            ids = self.model.sample(n, max_len=max_len, temperature=temperature, top_k=top_k, constraint=rule)
        return [self.vocabulary.decode_tokens(row) for row in ids.cpu()]

    def sample(self, n: int, batch_size: int = 512, temperature: float = 1.0, top_k: int | None = None,
               seed: int | None = None, progress: bool = False) -> list[str]:
        """``n`` programs as C text (not yet made runnable: see ``program.make_runnable``)."""
        if n < 0 or batch_size < 1:
            raise UserError("n must be >= 0 and batch_size >= 1")
        if temperature <= 0:
            raise UserError(f"temperature must be > 0, got {temperature}")
        if seed is not None:
            torch.manual_seed(seed)
        from tqdm.auto import tqdm

        self.model.eval()
        out: list[str] = []
        with tqdm(total=n, disable=not progress, desc="sampling", unit="program") as bar:
            while len(out) < n:
                size = min(batch_size, n - len(out))
                out.extend(render(t) for t in self.sample_tokens(size, temperature, top_k))
                bar.update(size)
        return out

    def nll_per_token(self, programs: Sequence[str]) -> float:
        """Mean next-token cross-entropy (nats) of ``programs`` under the model."""
        ids, _ = self.encode(programs)
        ids = ids.to(self.model.device)
        self.model.eval()
        with torch.no_grad():
            total = sum(float(self.model.nll(ids[i:i + 64]).sum()) for i in range(0, len(ids), 64))
        return total / max(1, int((ids[:, 1:] != 0).sum()))

    # --- the artifact -------------------------------------------------------------------------------
    def state(self) -> dict[str, Any]:
        return {"kind": "c-transformer"}

    @classmethod
    def restore(cls, folder: Path, state: dict[str, Any], model: GenerativeModel, device: Any) -> "CodeModel":
        return cls(model)

    def write_samples(self, n: int, out: Path, seed: int = 0) -> Path:
        """``n`` programs as generated, ``prog-NNNNN.c`` in the folder ``out`` (``gensdk fuzzing
        generate`` makes them runnable, repairs them and writes a dictionary)."""
        if out.suffix or (out.exists() and (not out.is_dir() or any(out.iterdir()))):
            raise UserError(f"{out}: give a new or empty folder for the programs")
        for i, program in enumerate(self.sample(n, seed=seed)):
            atomic_write(out / f"prog-{i:05d}.c", lambda tmp, text=program: Path(tmp).write_text(text))
        return out

    def evaluate(self, data: str | None = None, n: int | None = None, seed: int = 0) -> dict[str, Any]:
        """Of ``n`` samples (default 100) made runnable, the share gcc compiles; with ``data`` (a corpus
        folder of held-out programs) also their NLL per token."""
        from .corpus import compiles, load_corpus
        from .program import make_runnable
        from .sandbox import Sandbox

        programs = self.sample(n or 100, seed=seed)
        with Sandbox() as box:
            compiled = sum(compiles(make_runnable(text), box) for text in programs)
        results: dict[str, Any] = {"programs": len(programs), "compiles": compiled / len(programs)}
        if data:
            results["nll_per_token"] = self.nll_per_token(load_corpus(Path(data)))
        return results


def train_model(corpus: str | os.PathLike, out: str | os.PathLike, size: str = "small", max_len: int = 1024,
                steps: int | None = None, epochs: float | None = None, minutes: float | None = None,
                batch_size: int = 32, lr: float | None = None, validate_every: int = 250, device: str = "auto",
                seed: int = 0, compile: bool = False, resume: bool = False, overwrite: bool = False,
                progress: bool = True) -> tuple[CodeModel, dict[str, Any]]:
    """``gensdk fuzzing train`` and a fuzzing recipe: the C Transformer of ``size`` trained on a corpus
    folder in the run folder ``out`` (its ``model/``); returns the model and the encoding counts."""
    from gensdk.core.trainer import training_budget

    from .corpus import load_corpus

    out = Path(out)
    programs = load_corpus(Path(corpus))
    budget = training_budget(steps, epochs, minutes, len(programs), batch_size, default_steps=3000)
    steps = budget["steps"]
    options = {"lr": lr} if lr is not None else {}
    if resume and (out / "model" / "config.json").is_file():
        model = CodeModel.load(out, device="cpu")
    else:
        model = CodeModel.create(programs, size=size, max_len=max_len, **options)
    config = TrainConfig.from_dict({**budget, "batch_size": batch_size, "device": device, "seed": seed,
                                    "compile": compile, "validate_every": validate_every,
                                    "checkpoint_every": max(1, min(500, steps)), "progress": progress,
                                    "lr_schedule": "cosine", "warmup_steps": min(200, steps // 10)})
    return model, model.fit(programs, config, out, resume=resume, overwrite=overwrite)
