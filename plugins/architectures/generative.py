"""A grammar-constrained autoregressive generator over a space's genomes, and the generative search
that fine-tunes it toward architectures that score well.

A space's grammar is its sequence of choices (NAS-Bench-Graph: ``arch := link op op op op``; the CNN
space: stages, then per stage width, kernel, norm, activation, residual, pooling, then head and
dropout). A genome is written as that derivation, one token a choice, and the core ``TokenLM`` decodes
it under a constraint that allows, at each position, only the tokens of that choice (the last one
also masked by the space's whole-genome constraint, then ``<eos>``), so every sample is a derivation:
100% of samples become valid descriptions.

Generative search (a cross-entropy method with a language model, after Neural Architecture
Optimization's "fine-tune the generator" family): sample a batch of unseen architectures, evaluate
them, and fine-tune the model by maximum likelihood on the best ``elite`` found so far (by
validation accuracy); repeat until the budget is spent. With ``screen=k`` the generator proposes k
times the batch and a random-forest performance predictor, refitted on everything evaluated so far
(one-hot choices -> validation accuracy), picks the batch: the generator says what is plausible, the
predictor what is promising.
"""

from __future__ import annotations

import random
from typing import Sequence

import numpy as np
import torch

from gensdk.core.autoregressive import TokenLM

from .search import Evaluate, Trace
from .spaces import Genome, Space

SPECIALS = ("<pad>", "<bos>", "<eos>")


class GenomeTokens:
    """The token vocabulary of a space: ``<pad> <bos> <eos>``, then ``vocabulary:option`` for each
    choice's vocabulary (shared by choices that name the same one); a genome is ``<bos> c1 .. cN <eos>``."""

    def __init__(self, space: Space):
        self.space = space
        tokens, first = list(SPECIALS), {}
        for choice in space.choices:
            if choice.vocabulary not in first:
                first[choice.vocabulary] = len(tokens)
                tokens += [f"{choice.vocabulary}:{option}" for option in choice.options]
        self.tokens = tuple(tokens)
        self.offsets = [first[c.vocabulary] for c in space.choices]  # token id of option 0 of each choice
        self.length = len(space.choices) + 2

    def encode(self, genomes: Sequence[Genome]) -> torch.Tensor:
        return torch.tensor([[1, *(o + g for o, g in zip(self.offsets, genome)), 2] for genome in genomes],
                            dtype=torch.long)

    def decode(self, ids: torch.Tensor) -> list[Genome]:
        return [tuple(t - o for t, o in zip(row[1:], self.offsets)) for row in ids.tolist()]

    def constraint(self, prefix: torch.Tensor) -> torch.Tensor:
        """Allowed next tokens of each row, from its position in the derivation."""
        n, t = prefix.shape
        allowed = torch.zeros(n, len(self.tokens), dtype=torch.bool, device=prefix.device)
        choices = self.space.choices
        if t > len(choices):
            allowed[:, 2] = True  # <eos>
            return allowed
        i, offset = t - 1, self.offsets[t - 1]
        allowed[:, offset:offset + len(choices[i].options)] = True
        if i == len(choices) - 1:  # the whole-genome constraint decides the last choice
            for row, genes in enumerate(self.decode(prefix)):
                for option in range(len(choices[i].options)):
                    if not self.space.is_valid(genes + (option,)):
                        allowed[row, offset + option] = False
        return allowed


def make_generator(space: Space, d_model: int = 64, layers: int = 1, lr: float = 3e-3) -> TokenLM:
    vocabulary = GenomeTokens(space)
    return TokenLM(vocab_size=len(vocabulary.tokens), arch="gru", d_model=d_model, layers=layers,
                   max_len=vocabulary.length, lr=lr)


def sample_genomes(space: Space, model: TokenLM, n: int, temperature: float = 1.0) -> list[Genome]:
    vocabulary = GenomeTokens(space)
    return vocabulary.decode(model.sample(n, temperature=temperature, constraint=vocabulary.constraint).cpu())


def fit(space: Space, model: TokenLM, genomes: Sequence[Genome], steps: int, optimizer: torch.optim.Optimizer) -> float:
    """Maximum-likelihood steps on ``genomes`` (all of them each step); the last mean NLL per genome."""
    ids = GenomeTokens(space).encode(genomes).to(model.device)
    model.train()
    loss = torch.tensor(0.0)
    for _ in range(steps):
        loss = model.nll(ids).mean()
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
    model.eval()
    return float(loss.detach())


def one_hot(space: Space, genomes: Sequence[Genome]) -> np.ndarray:
    """Features of genomes for a performance predictor: each choice's option, one-hot."""
    widths = [len(c.options) for c in space.choices]
    starts = np.cumsum([0, *widths[:-1]])
    x = np.zeros((len(genomes), sum(widths)), dtype=np.float32)
    for row, genome in enumerate(genomes):
        x[row, starts + np.asarray(genome)] = 1.0
    return x


def screen_with_predictor(space: Space, trace: Trace, candidates: list[Genome], wanted: int, seed: int) -> list[Genome]:
    """The ``wanted`` candidates that a random forest fitted on the evaluated genomes rates best."""
    from sklearn.ensemble import RandomForestRegressor

    forest = RandomForestRegressor(n_estimators=100, min_samples_leaf=2, random_state=seed, n_jobs=1)
    forest.fit(one_hot(space, trace.archs), np.asarray(trace.valid))
    predicted = forest.predict(one_hot(space, candidates))
    return [candidates[i] for i in np.argsort(-predicted, kind="stable")[:wanted]]


def generative_search(space: Space, evaluate: Evaluate, budget: int, seed: int = 0, batch: int = 5, elite: int = 10,
                      steps: int = 20, warmup: int = 10, max_tries: int = 20, screen: int = 1) -> Trace:
    """Spend ``budget`` evaluations: ``warmup`` uniform samples, then batches from the generator, which
    is fine-tuned on the ``elite`` best-by-validation architectures after each batch. Samples of a network
    already evaluated are drawn again (up to ``max_tries`` times) instead of spending the budget on them;
    ``screen > 1`` lets a performance predictor pick each batch from ``screen`` times as many samples."""
    torch.manual_seed(seed)
    rng = random.Random(seed)
    model = make_generator(space)
    optimizer = model.make_optimizers()["model"]
    trace, seen = Trace(), set()

    def spend(genome: Genome) -> None:
        seen.add(space.key(genome))
        trace.spend(evaluate, genome)

    while len(trace.archs) < min(warmup, budget):
        genome = space.random(rng)
        if space.key(genome) not in seen:
            spend(genome)
    while len(trace.archs) < budget:
        best = sorted(range(len(trace.archs)), key=lambda i: trace.valid[i], reverse=True)[:elite]
        fit(space, model, [trace.archs[i] for i in best], steps, optimizer)
        wanted = min(batch, budget - len(trace.archs))
        proposed = wanted * max(1, screen)
        fresh: dict = {}
        for _ in range(max_tries):
            for genome in sample_genomes(space, model, 4 * proposed):
                key = space.key(genome)
                if key not in seen and key not in fresh and len(fresh) < proposed:
                    fresh[key] = genome
            if len(fresh) == proposed:
                break
        while len(fresh) < wanted:  # the generator has collapsed onto seen ones: explore uniformly
            genome = space.random(rng)
            if space.key(genome) not in seen and space.key(genome) not in fresh:
                fresh[space.key(genome)] = genome
        chosen = list(fresh.values())
        if len(chosen) > wanted:
            chosen = screen_with_predictor(space, trace, chosen, wanted, seed + len(trace.archs))
        for genome in chosen:
            spend(genome)
    return trace
