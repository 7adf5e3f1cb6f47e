"""Molecule generators on the engine, behind one wrapper: ``MoleculeGenerator``.

  char-rnn     a SMILES LSTM language model, the CharRNN of MOSES (Segler et al. 2018): core ``TokenLM``.
  transformer  a GPT-style causal Transformer over SMILES tokens: core ``TokenLM(arch="transformer")``.
  vae          a SMILES VAE (Gomez-Bombarelli et al. 2018; MOSES's layout): ``SmilesVAE`` (vae.py), whose
               latent space serves interpolation and optimization.
  graph        an autoregressive graph model on torch-geometric with valence-checked generation (graph.py).

The sequence models read SMILES split by the regex tokenizer of Schwaller et al. (atoms in brackets,
Cl, Br, ring numbers are single tokens), or SELFIES (``representation="selfies"``). Generated text is
turned back into SMILES here; validity is judged by RDKit downstream (``data.clean_smiles``,
``metrics``), never patched up.
"""

from __future__ import annotations

import functools
import math
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Sequence

import numpy as np
import torch

import gensdk.core.autoregressive  # noqa: F401 - registers "token-lm"
from gensdk.core.artifact import Artifact, artifact_folder, register_artifact
from gensdk.core.executor import Backend
from gensdk.core.model import GenerativeModel, build_model
from gensdk.core.tokens import Vocabulary
from gensdk.core.trainer import TrainConfig, Trainer
from gensdk.errors import UserError

from . import graph, vae  # noqa: F401 - register "mol-graph" and "smiles-vae", which KINDS builds and folders name
from .data import (
    MoleculeReport,
    check_representation,
    default_workers,
    load_smiles,
    randomized_smiles,
    to_smiles,
    to_text,
    token_pattern,
    write_smiles,
)

# Defaults per kind: the registry model and its size. char-rnn is MOSES's CharRNN (3 x 768 LSTM,
# dropout 0.2); the transformer is a small GPT of about the same parameter count.
KINDS: dict[str, dict[str, Any]] = {
    "char-rnn": {"model": "token-lm", "arch": "lstm", "d_model": 768, "layers": 3, "dropout": 0.2, "lr": 1e-3},
    "transformer": {"model": "token-lm", "arch": "transformer", "d_model": 512, "layers": 8, "heads": 8,
                    "dropout": 0.1, "lr": 3e-4},
    "vae": {"model": "smiles-vae"},
    "graph": {"model": "mol-graph"},
}
# Sizes to suggest for a CPU (the defaults above are sized for a GPU): 1.1M and 3.2M parameters
CPU_SIZES: dict[str, dict[str, int]] = {"char-rnn": {"d_model": 256, "layers": 2},
                                        "transformer": {"d_model": 256, "layers": 4}}
SEQUENCE_KINDS = ("char-rnn", "transformer", "vae")
MAX_TOKENS = 100  # longest SMILES (in tokens, with <bos>/<eos>) a sequence model learns; MOSES's is 59


@dataclass
class Encoded:
    """Token ids ``[N, T]`` of the molecules a model can learn, which of the inputs they are, and
    what was dropped."""

    ids: torch.Tensor
    index: list[int]
    report: MoleculeReport = field(default_factory=MoleculeReport)


@register_artifact("molecule-generator", plugin="molecules")
class MoleculeGenerator(Artifact):
    """A trained or untrained generator of one ``kind``: ``fit(smiles)``, ``sample(n)``, ``save``/``load``."""

    state_key = "molecules"
    sample_formats = ".smi or .smi.gz"

    def __init__(self, kind: str, model: GenerativeModel, representation: str = "smiles"):
        self.kind, self.model, self.representation = kind, model, representation

    # --- construction -------------------------------------------------------------------------------
    @classmethod
    def create(cls, kind: str, smiles: Sequence[str], representation: str = "smiles", **options: Any
               ) -> "MoleculeGenerator":
        """A new model whose vocabulary (or atom types, for ``graph``) come from ``smiles``."""
        if kind not in KINDS:
            raise UserError(f"unknown molecule model {kind!r} (known: {', '.join(KINDS)})")
        if kind == "graph":
            if representation != "smiles":
                raise UserError("the graph model reads molecules, not text: representation does not apply")
            from .graph import make_graph_model

            options.setdefault("workers", default_workers())
            return cls(kind, make_graph_model(smiles, **options), representation)
        check_representation(representation)
        texts = [t for t in to_text(smiles, representation) if t]
        if not texts:
            raise UserError("no molecule to build a vocabulary from")
        tokenizer = Vocabulary(pattern=token_pattern(representation))
        tokens = [tokenizer.tokenize(t) for t in texts]
        vocab = Vocabulary.build(tokens, pattern=tokenizer.pattern)
        longest = max(map(len, tokens)) + 2
        settings = {k: v for k, v in KINDS[kind].items() if k != "model"}
        settings.update(options)
        settings.setdefault("max_len", min(MAX_TOKENS, max(longest, 64)))
        model = build_model(KINDS[kind]["model"], vocab=vocab.to_dict(), **settings)
        return cls(kind, model, representation)

    @property
    def vocabulary(self) -> Vocabulary:
        return self.model.vocabulary

    # --- data ---------------------------------------------------------------------------------------
    def encode(self, smiles: Sequence[str]) -> Encoded:
        """Token ids of the molecules this model can learn; those with a token outside its vocabulary
        or longer than its ``max_len`` are dropped and counted."""
        vocab, max_len = self.vocabulary, self.model.max_len
        known = set(vocab.token_to_id)
        report = MoleculeReport(total=len(smiles))
        rows, index = [], []
        for i, (s, text) in enumerate(zip(smiles, to_text(smiles, self.representation))):
            if not text:
                report.note("invalid", s)
                continue
            tokens = vocab.tokenize(text)
            if not known.issuperset(tokens):
                report.note("unknown_tokens", s)
                continue
            if len(tokens) + 2 > max_len:
                report.note("too_long", s)
                continue
            rows.append(tokens)
            index.append(i)
        report.kept = len(rows)
        if not rows:
            raise UserError(f"no molecule fits the model ({report.summary()})")
        return Encoded(vocab.encode_batch(rows), index, report)

    # --- training -----------------------------------------------------------------------------------
    def fit(self, smiles: Sequence[str], config: TrainConfig, out_dir: str | os.PathLike | None = None,
            resume: bool = False, overwrite: bool = False) -> MoleculeReport:
        """Train on ``smiles`` with the core trainer (checkpoints and ``resume`` in ``out_dir``)."""
        if self.kind == "graph":
            from .graph import graph_dataset

            graphs, _, counts = graph_dataset(smiles, max_atoms=self.model.max_atoms, vocab=self.model.config["vocab"],
                                              workers=default_workers())
            tensors = (graphs,)
            report = MoleculeReport(total=counts["read"], kept=counts["kept"],
                                    invalid=sum(v for k, v in counts.items() if k not in ("read", "kept")))
        else:
            encoded = self.encode(smiles)
            tensors, report = (encoded.ids,), encoded.report
        Trainer(self.model, tensors, config, out_dir).fit(resume=resume, overwrite=overwrite, save=self.save)
        return report

    # --- generation ---------------------------------------------------------------------------------
    @torch.no_grad()
    def sample(self, n: int, batch_size: int = 2048, temperature: float = 1.0, seed: int | None = None,
               progress: bool = False) -> list[str]:
        """``n`` raw SMILES (not validated: "" where the model produced nothing decodable), made in
        batches on the model's device (``sample_smiles`` draws the same batches on any backend)."""
        out: list[str] = []
        from tqdm import tqdm

        with tqdm(total=n, disable=not progress, desc=f"sampling {self.kind}", unit="mol") as bar:
            for size, batch_seed in batches(n, batch_size, seed):
                out.extend(self.sample_batch(size, batch_seed, temperature))
                bar.update(size)
        return out

    def sample_batch(self, n: int, seed: int | None, temperature: float = 1.0) -> list[str]:
        """One batch of ``n`` raw SMILES, drawn after seeding torch with ``seed`` (None: as torch stands)."""
        if seed is not None:
            torch.manual_seed(seed)
        self.model.eval()
        return self._sample_batch(n, temperature)

    def _sample_batch(self, n: int, temperature: float) -> list[str]:
        if self.kind == "graph":
            return [s or "" for s in self.model.sample(n, temperature=temperature)]
        ids = self.model.sample(n, temperature=temperature)
        texts = [self.vocabulary.decode(row) for row in ids.cpu()]
        return to_smiles(texts, self.representation)

    def log_likelihood(self, smiles: Sequence[str], batch_size: int = 1024) -> torch.Tensor:
        """log p(molecule) in nats under a sequence language model (-inf where it cannot be encoded)."""
        if self.kind not in ("char-rnn", "transformer"):
            raise UserError(f"log_likelihood needs a language model (char-rnn or transformer), not {self.kind!r}")
        out = torch.full((len(smiles),), -math.inf)
        try:
            encoded = self.encode(smiles)
        except UserError:  # none of them can be encoded
            return out
        ids = encoded.ids.to(self.model.device)
        with torch.no_grad():
            nll = torch.cat([self.model.nll(ids[i:i + batch_size]).float().cpu()
                             for i in range(0, len(ids), batch_size)])
        out[torch.tensor(encoded.index)] = -nll
        return out

    # --- the artifact -------------------------------------------------------------------------------
    def state(self) -> dict[str, Any]:
        return {"kind": self.kind, "representation": self.representation}

    @classmethod
    def restore(cls, folder: Path, state: dict[str, Any], model: GenerativeModel, device: Any) -> "MoleculeGenerator":
        return cls(state["kind"], model, state.get("representation", "smiles"))

    def write_samples(self, n: int, out: Path, seed: int = 0) -> Path:
        """Raw SMILES, one a line (what MOSES scores: invalid ones count)."""
        if not out.name.endswith((".smi", ".smi.gz")):
            raise UserError(f"{out}: output must end in {self.sample_formats}")
        write_smiles(out, self.sample(n, seed=seed))
        return out

    def evaluate(self, data: str | None = None, n: int | None = None, seed: int = 0) -> dict[str, Any]:
        """The MOSES metrics of ``n`` samples (default 10,000); with ``data`` (a SMILES file or
        moses:test) also those against it as the reference."""
        from .metrics import evaluate_smiles, reference_from

        generated = self.sample(n or 10_000, seed=seed)
        return evaluate_smiles(generated, test=reference_from(data) if data else None)


def train_generator(source: str, run_dir: str | os.PathLike, model: str = "char-rnn", representation: str = "smiles",
                    steps: int | None = None, epochs: float | None = None, minutes: float | None = None,
                    batch_size: int = 256, options: dict[str, Any] | None = None, column: str | None = None,
                    randomize: int = 0, device: str = "auto", seed: int = 0, resume: bool = False,
                    overwrite: bool = False, progress: bool = True, say=print) -> MoleculeGenerator:
    """``gensdk molecules train`` and a molecules recipe: read ``source``, build ``model`` (``options``:
    its size, ``lr``), train it in ``run_dir`` (cosine schedule, checkpoints, ``resume``) and save its
    ``model/``. ``say`` prints what a user should see (the data read, a size hint, the result)."""
    from gensdk.core.device import resolve_device
    from gensdk.core.trainer import training_budget

    if randomize < 0 or (randomize and (model == "graph" or representation != "smiles")):
        raise UserError("--randomize K needs K >= 0 and a SMILES sequence model (char-rnn, transformer, vae)")
    smiles, report = load_smiles(source, column=column, canonicalize=not source.startswith("moses:"))
    say(f"{source}: {report.summary()}")
    if randomize:
        smiles = randomized_smiles(smiles, randomize, seed=seed)
    options = dict(options or {})
    torch.manual_seed(seed)  # the initial weights too, not only the batch order
    generator = MoleculeGenerator.create(model, smiles, representation=representation, **options)
    if model in CPU_SIZES and resolve_device(device).type == "cpu" and not {"d_model", "layers"} & set(options):
        # the default size stays the same on every device (the same command, the same model); a hint instead
        size = sum(p.numel() for p in generator.model.parameters()) / 1e6
        small = " ".join(f"--option {k}={v}" for k, v in CPU_SIZES[model].items())
        say(f"hint: the default {model} has {size:.1f}M parameters, sized for a GPU; "
            f"on a CPU a smaller one trains much faster: {small}")
    budget = training_budget(steps, epochs, minutes, len(smiles), batch_size, default_steps=10_000)
    steps = budget["steps"]
    config = TrainConfig.from_dict({**budget, "batch_size": batch_size, "device": device, "seed": seed,
                                    "lr_schedule": "cosine", "warmup_steps": min(1000, steps // 20),
                                    "checkpoint_every": max(1, min(1000, steps // 10)), "progress": progress})
    fitted = generator.fit(smiles, config, out_dir=run_dir, resume=resume, overwrite=overwrite)
    what = f"{fitted.kept} random SMILES ({randomize} of each molecule)" if randomize else f"{fitted.kept} molecules"
    say(f"trained {model} on {what} ({fitted.summary()}) -> {Path(run_dir) / 'model'}")
    return generator


def load_generator(folder: str | os.PathLike, device: str = "auto") -> MoleculeGenerator:
    """A saved generator, or the ``model/`` folder of a training run, on ``device``."""
    return MoleculeGenerator.load(artifact_folder(folder), device)


def batches(n: int, batch_size: int, seed: int | None) -> list[tuple[int, int | None]]:
    """(size, seed) of each batch of a sample of ``n``: batch i's seed depends on ``seed`` and i alone, so the
    batches can be drawn by any worker, in any order, and give the same molecules."""
    if n < 0 or batch_size < 1:
        raise UserError("n must be >= 0 and batch_size >= 1")
    return [(min(batch_size, n - start),
             None if seed is None else int(np.random.SeedSequence([seed, i]).generate_state(1)[0]))
            for i, start in enumerate(range(0, n, batch_size))]


def _draw(temperature: float, generator: MoleculeGenerator, batch: tuple[int, int | None]) -> list[str]:
    return generator.sample_batch(batch[0], batch[1], temperature)


def sample_smiles(folder: str | os.PathLike, n: int, *, batch_size: int = 2048, temperature: float = 1.0,
                  seed: int | None = 0, device: str = "auto", backend: Backend | None = None,
                  progress: bool = False) -> list[str]:
    """``MoleculeGenerator.sample`` of the generator saved in ``folder``, its batches drawn by ``backend``
    (default: this process). Each worker loads the generator once: on Ray, an actor per GPU."""
    from tqdm import tqdm

    backend = backend or Backend()
    on, gpus = backend.resolve_device(device)
    setup = functools.partial(load_generator, str(Path(folder).absolute()), on)
    out: list[str] = []
    with tqdm(total=n, disable=not progress, desc="sampling", unit="mol") as bar:
        for smiles in backend.map(functools.partial(_draw, temperature), batches(n, batch_size, seed), setup=setup,
                                  gpus=gpus):
            out.extend(smiles)
            bar.update(len(smiles))
    return out
