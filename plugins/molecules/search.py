"""Property-driven search: find molecules that score well on an ``Objective``.

  reinvent  reinforcement learning on a pretrained SMILES language model (Olivecrona et al. 2017,
            REINVENT; Blaschke et al. 2020, REINVENT 2.0): the agent, a copy of the prior, is pulled
            toward the augmented likelihood log p_prior(x) + sigma * reward(x) with the loss
            (log p_aug - log p_agent)^2, plus experience replay of the best molecules so far and a
            diversity filter (a molecule already seen earns nothing; a Bemis-Murcko scaffold earns
            only for its first ``bucket_size`` molecules scoring at least ``bucket_min_score``).
  latent    optimization in a SMILES VAE's latent space: an evolution strategy that decodes a
            population of latent points, keeps the best points found so far, and samples around them
            with a step size that shrinks when a generation brings no improvement (our own; a few
            lines that need no extra library).
  random    the baseline: molecules sampled from the prior, scored, nothing learned.

Every method spends a ``budget`` of scored molecules: each generated molecule counts, valid or not,
repeated or new. The result keeps every unique valid molecule with every score, ranked, and the best
and top-10 mean score after each checkpoint of the budget (``Trace``).
"""

from __future__ import annotations

import copy
import math
import os
from dataclasses import dataclass, field
from typing import Any, Sequence

import numpy as np
import torch

from gensdk.core.io import atomic_write
from gensdk.errors import UserError
from gensdk.extras import require

from .data import progress_bar as _bar, to_smiles
from .models import MoleculeGenerator
from .objectives import Objective, ScoreTable, Transform

METHODS = ("reinvent", "latent", "random")


@dataclass
class Found:
    """One unique valid molecule: its scores and when it was first generated."""

    canonical: str
    score: float
    columns: dict[str, Any]
    scored_at: int  # how many molecules had been scored when it appeared


@dataclass
class SearchResult:
    method: str
    found: dict[str, Found] = field(default_factory=dict)
    trace: list[dict[str, float]] = field(default_factory=list)  # {"scored", "best", "top10"} per checkpoint
    scored: int = 0
    invalid: int = 0
    errors: list[str] = field(default_factory=list)
    columns: list[str] = field(default_factory=list)  # the objective's score columns, for the CSV header

    def ranked(self) -> list[Found]:
        return sorted(self.found.values(), key=lambda f: (-f.score, f.scored_at))

    def top(self, k: int = 10) -> list[float]:
        return [f.score for f in self.ranked()[:k]]

    def write_csv(self, path: str | os.PathLike) -> None:
        """The ranked table of unique valid molecules with every score, written atomically."""
        pd = require("pandas", "molecules")
        rows = [{"rank": i + 1, "smiles": f.canonical, "score": f.score, **f.columns, "scored_at": f.scored_at}
                for i, f in enumerate(self.ranked())]
        frame = pd.DataFrame(rows, columns=["rank", "smiles", "score", *self.columns, "scored_at"])
        atomic_write(path, lambda tmp: frame.to_csv(tmp, index=False))


class Bookkeeper:
    """Scores batches, remembers every unique valid molecule, and records the trace at checkpoints."""

    def __init__(self, objective: Objective, method: str, checkpoints: Sequence[int], workers: int | None):
        self.objective, self.workers = objective, workers
        self.result = SearchResult(method)
        self.checkpoints = sorted(checkpoints)
        self._errors: dict[str, list[Any]] = {}  # objective -> [count, first message, first SMILES]

    def score(self, smiles: Sequence[str]) -> tuple[ScoreTable, np.ndarray]:
        """The batch's score table and, per molecule, whether it is new (valid and never seen)."""
        table = self.objective.score(list(smiles), workers=self.workers)
        columns = {k: v for k, v in table.columns().items() if k not in ("smiles", "canonical", "valid", "score")}
        self.result.columns = list(columns)
        new = np.zeros(len(smiles), dtype=bool)
        for i, canonical in enumerate(table.canonical):
            self.result.scored += 1
            if not table.valid[i] or canonical is None:
                self.result.invalid += 1
            elif canonical not in self.result.found:
                new[i] = True
                self.result.found[canonical] = Found(canonical, float(table.score[i]),
                                                     {k: _plain(v[i]) for k, v in columns.items()},
                                                     self.result.scored)
            self._checkpoint()
        for name, errors in table.errors.items():
            record = self._errors.setdefault(name, [0, errors.first_message, errors.first_smiles])
            record[0] += errors.count
        valid = self.result.scored - self.result.invalid
        self.result.errors = [f"objective {name!r} {message} on {count} of {valid} valid molecules (first: {first})"
                              for name, (count, message, first) in self._errors.items()]
        return table, new

    def _checkpoint(self) -> None:
        while self.checkpoints and self.result.scored >= self.checkpoints[0]:
            top = self.result.top(10)
            self.result.trace.append({"scored": self.checkpoints.pop(0), "best": top[0] if top else math.nan,
                                      "top10": float(np.mean(top)) if len(top) == 10 else math.nan})


def _plain(value: Any) -> Any:
    return value.item() if isinstance(value, np.generic) else value


# --- random sampling -------------------------------------------------------------------------------
def random_search(prior: MoleculeGenerator, objective: Objective, budget: int, batch_size: int = 256,
                  checkpoints: Sequence[int] = (), workers: int | None = None, progress: bool = False,
                  seed: int = 0) -> SearchResult:
    book = Bookkeeper(objective, "random", checkpoints, workers)
    torch.manual_seed(seed)
    with _bar(budget, progress, "random") as bar:
        while book.result.scored < budget:
            smiles = prior.sample(min(batch_size, budget - book.result.scored))
            book.score(smiles)
            bar.update(len(smiles))
    return book.result


# --- REINVENT --------------------------------------------------------------------------------------
@dataclass
class ReinventConfig:
    batch_size: int = 128
    sigma: float = 120.0           # REINVENT 2.0's default weight of the score in the augmented likelihood
    lr: float = 1e-4
    replay_size: int = 100         # best molecules kept for experience replay
    replay_batch: int = 24         # of them added to each step's loss
    bucket_size: int = 25          # molecules per scaffold that still earn their score
    bucket_min_score: float = 0.4  # molecules below this do not fill a scaffold bucket
    reward: dict[str, Any] | None = None  # a Transform spec mapping the score to [0, 1] (default: clip to [0, 1])


def reinvent(prior: MoleculeGenerator, objective: Objective, budget: int, config: ReinventConfig | None = None,
             checkpoints: Sequence[int] = (), workers: int | None = None, progress: bool = False,
             seed: int = 0) -> SearchResult:
    """REINVENT on the language model ``prior`` (char-rnn or transformer); the prior stays frozen."""
    if prior.kind not in ("char-rnn", "transformer"):
        raise UserError(f"reinvent needs a language-model prior (char-rnn or transformer), not {prior.kind!r}")
    cfg = config or ReinventConfig()
    reward_of = Transform.from_dict(cfg.reward, "reward") if cfg.reward else None
    torch.manual_seed(seed)
    agent_model = _without_dropout(copy.deepcopy(prior.model)).train()  # train mode: cuDNN RNNs backprop only so
    prior.model.eval()  # frozen: its likelihood is only ever computed under no_grad
    optimizer = torch.optim.Adam(agent_model.parameters(), lr=cfg.lr)
    book = Bookkeeper(objective, "reinvent", checkpoints, workers)
    buckets: dict[str, int] = {}
    replay: list[Replayed] = []
    vocab = prior.vocabulary
    with _bar(budget, progress, "reinvent") as bar:
        while book.result.scored < budget:
            n = min(cfg.batch_size, budget - book.result.scored)
            with torch.no_grad():
                ids = agent_model.sample(n)
            smiles = to_smiles([vocab.decode(row) for row in ids.cpu()], prior.representation)
            table, new = book.score(smiles)
            reward = np.clip(reward_of(table.score) if reward_of else table.score, 0.0, 1.0)
            reward = np.where(table.valid, np.nan_to_num(reward), 0.0)
            reward = _diversity_filter(reward, table, new, buckets, cfg)
            loss = _augmented_likelihood_loss(agent_model, prior.model, ids, torch.as_tensor(reward, dtype=torch.float32),
                                              cfg.sigma)
            if replay:
                picks = [replay[i] for i in np.random.default_rng(book.result.scored).permutation(len(replay))
                         [:cfg.replay_batch]]
                replay_ids = torch.nn.utils.rnn.pad_sequence([r.ids for r in picks], batch_first=True,
                                                             padding_value=vocab.pad_id).to(agent_model.device)
                replay_reward = torch.tensor([r.reward for r in picks], dtype=torch.float32)
                loss = torch.cat([loss, _augmented_likelihood_loss(agent_model, prior.model, replay_ids, replay_reward,
                                                                   cfg.sigma)])
            optimizer.zero_grad(set_to_none=True)
            loss.mean().backward()
            optimizer.step()
            _update_replay(replay, table, reward, ids.cpu(), vocab.pad_id, cfg.replay_size)
            bar.update(n)
    agent_model.eval()
    return book.result


def _without_dropout(model: torch.nn.Module) -> torch.nn.Module:
    """The agent's likelihood must be the deterministic one the prior is compared with."""
    for module in model.modules():
        if isinstance(module, torch.nn.Dropout):
            module.p = 0.0
        if isinstance(module, torch.nn.RNNBase):
            module.dropout = 0.0
        if hasattr(module, "dropout") and isinstance(module.dropout, float):
            module.dropout = 0.0
    return model


def _augmented_likelihood_loss(agent: torch.nn.Module, prior: torch.nn.Module, ids: torch.Tensor,
                               reward: torch.Tensor, sigma: float) -> torch.Tensor:
    """Per-sequence (log p_prior + sigma * reward - log p_agent)^2."""
    with torch.no_grad():
        prior_logp = -prior.nll(ids).float()
    agent_logp = -agent.nll(ids).float()
    augmented = prior_logp + sigma * reward.to(ids.device)
    return (augmented - agent_logp) ** 2


def _diversity_filter(reward: np.ndarray, table: ScoreTable, new: np.ndarray, buckets: dict[str, int],
                      cfg: ReinventConfig) -> np.ndarray:
    """REINVENT 2.0's identical-Murcko-scaffold filter, plus no reward for a molecule seen before."""
    from rdkit import Chem
    from rdkit.Chem.Scaffolds import MurckoScaffold

    reward = reward.copy()
    for i, canonical in enumerate(table.canonical):
        if not new[i]:
            reward[i] = 0.0
            continue
        if reward[i] < cfg.bucket_min_score:
            continue
        mol = Chem.MolFromSmiles(canonical)
        scaffold = Chem.MolToSmiles(MurckoScaffold.GetScaffoldForMol(mol)) if mol is not None else canonical
        buckets[scaffold] = buckets.get(scaffold, 0) + 1
        if buckets[scaffold] > cfg.bucket_size:
            reward[i] = 0.0
    return reward


@dataclass
class Replayed:
    """A molecule in the replay memory, kept as the token ids the agent sampled (so it replays even
    when its canonical SMILES would tokenize differently)."""

    reward: float
    canonical: str
    ids: torch.Tensor


def _update_replay(replay: list[Replayed], table: ScoreTable, reward: np.ndarray, ids: torch.Tensor, pad_id: int,
                   size: int) -> None:
    known = {r.canonical for r in replay}
    for i, (r, canonical) in enumerate(zip(reward, table.canonical)):
        if canonical is not None and r > 0 and canonical not in known:
            row = ids[i]
            replay.append(Replayed(float(r), canonical, row[:int((row != pad_id).sum())].clone()))
            known.add(canonical)
    replay.sort(key=lambda item: -item.reward)
    del replay[size:]


# --- latent-space optimization ---------------------------------------------------------------------
@dataclass
class LatentConfig:
    population: int = 128
    elite: int = 16           # best latent points kept as parents
    step: float = 0.5         # initial standard deviation of the moves around a parent
    shrink: float = 0.8       # step multiplier after a generation without improvement
    min_step: float = 0.05
    fresh: float = 0.1        # fraction of each generation drawn from the prior N(0, I) instead


def latent_optimize(vae: MoleculeGenerator, objective: Objective, budget: int, config: LatentConfig | None = None,
                    checkpoints: Sequence[int] = (), workers: int | None = None, progress: bool = False,
                    seed: int = 0) -> SearchResult:
    """An evolution strategy in the VAE's latent space; molecules are greedy decodes of latent points."""
    if vae.kind != "vae":
        raise UserError(f"latent optimization needs a VAE, not {vae.kind!r}")
    cfg = config or LatentConfig()
    rng = torch.Generator().manual_seed(seed)
    model = vae.model.eval()
    book = Bookkeeper(objective, "latent", checkpoints, workers)
    parents = torch.empty(0, model.latent_dim)
    parent_scores = torch.empty(0)
    step, best = cfg.step, -math.inf
    with _bar(budget, progress, "latent") as bar:
        while book.result.scored < budget:
            n = min(cfg.population, budget - book.result.scored)
            fresh = n if len(parents) == 0 else max(1, int(round(cfg.fresh * n)))
            z = torch.randn(fresh, model.latent_dim, generator=rng)
            if n > fresh:
                pick = torch.randint(len(parents), (n - fresh,), generator=rng)
                z = torch.cat([z, parents[pick] + step * torch.randn(n - fresh, model.latent_dim, generator=rng)])
            ids = model.decode(z, temperature=0)
            smiles = to_smiles([vae.vocabulary.decode(row) for row in ids.cpu()], vae.representation)
            table, _ = book.score(smiles)
            scores = torch.as_tensor(np.where(table.valid, np.nan_to_num(table.score, nan=-math.inf), -math.inf),
                                     dtype=torch.float32)
            parents, parent_scores = torch.cat([parents, z]), torch.cat([parent_scores, scores])
            order = parent_scores.argsort(descending=True)[:cfg.elite]
            parents, parent_scores = parents[order], parent_scores[order]
            top = float(parent_scores[0])
            if top <= best:
                step = max(cfg.min_step, step * cfg.shrink)
            best = max(best, top)
            bar.update(n)
    return book.result


def optimize(generator: MoleculeGenerator, objective: Objective, method: str, budget: int,
             checkpoints: Sequence[int] = (), workers: int | None = None, progress: bool = False, seed: int = 0,
             **options: Any) -> SearchResult:
    """Run ``method`` ("reinvent", "latent", "random") for ``budget`` scored molecules."""
    if method not in METHODS:
        raise UserError(f"unknown search method {method!r} (known: {', '.join(METHODS)})")
    if budget < 1:
        raise UserError(f"budget must be positive, got {budget}")
    common = {"checkpoints": checkpoints, "workers": workers, "progress": progress, "seed": seed}
    known = {"random": ["batch_size"], "reinvent": list(ReinventConfig.__dataclass_fields__),
             "latent": list(LatentConfig.__dataclass_fields__)}[method]
    unknown = sorted(set(options) - set(known))
    if unknown:
        raise UserError(f"{method} has no option {unknown[0]!r} (options: {', '.join(known)})")
    if method == "random":
        return random_search(generator, objective, budget, **options, **common)
    if method == "reinvent":
        return reinvent(generator, objective, budget, ReinventConfig(**options), **common)
    return latent_optimize(generator, objective, budget, LatentConfig(**options), **common)
