"""A grammar-constrained autoregressive generator over NAS-Bench-Graph architectures, and the
generative search that fine-tunes it toward architectures that score well.

The space's grammar is ``arch := link op op op op``: one of the 9 link patterns, then an operation for
each of the 4 nodes. An architecture is written as that derivation, one token a choice, and the core
``TokenLM`` decodes it under a constraint that allows, at each position, only the tokens the grammar
allows there (and ``<eos>`` after the fourth op), so every sample is a derivation: 100% of samples
become valid descriptions (``spaces.nas_bench_graph_description``).

Generative search (a cross-entropy method with a language model, after Neural Architecture
Optimization's "fine-tune the generator" family): sample a batch of unseen architectures, evaluate
them, and fine-tune the model by maximum likelihood on the best ``elite`` found so far (by
validation accuracy); repeat until the budget is spent.

The generic decoder over description text (any network of the language, masked by an incremental
parser) is not built yet; this generator covers the NAS-Bench-Graph space.
"""

from __future__ import annotations

import random
from typing import Sequence

import torch

from gensdk.core.autoregressive import TokenLM

from .benchmark import Arch, Evaluate, Trace, random_arch
from .spaces import NBG_LINKS, NBG_OPS

SPECIALS = ("<pad>", "<bos>", "<eos>")
LINK_TOKENS = tuple("link:" + "".join(map(str, lk)) for lk in NBG_LINKS)
OP_TOKENS = tuple("op:" + op for op in NBG_OPS)
TOKENS = SPECIALS + LINK_TOKENS + OP_TOKENS
LENGTH = 1 + 1 + 4 + 1  # <bos> link op op op op <eos>


def encode(archs: Sequence[Arch]) -> torch.Tensor:
    """Token ids ``[N, 7]`` of architectures: ``<bos> link op1..op4 <eos>``."""
    index = {t: i for i, t in enumerate(TOKENS)}
    rows = [[1, index["link:" + "".join(map(str, link))], *(index["op:" + op] for op in ops), 2]
            for link, ops in archs]
    return torch.tensor(rows, dtype=torch.long)


def decode(ids: torch.Tensor) -> list[Arch]:
    out = []
    for row in ids.tolist():
        link = NBG_LINKS[LINK_TOKENS.index(TOKENS[row[1]])]
        ops = tuple(TOKENS[i][3:] for i in row[2:6])
        out.append((link, ops))
    return out


def grammar_constraint(prefix: torch.Tensor) -> torch.Tensor:
    """Allowed next tokens of each row, from its position in the derivation."""
    n, t = prefix.shape
    allowed = torch.zeros(n, len(TOKENS), dtype=torch.bool, device=prefix.device)
    if t == 1:
        allowed[:, len(SPECIALS):len(SPECIALS) + len(LINK_TOKENS)] = True
    elif t <= 5:
        allowed[:, len(SPECIALS) + len(LINK_TOKENS):] = True
        if t == 5:  # four skips are no network: the last op may not be skip when the first three are
            all_skip = (prefix[:, 2:5] == TOKENS.index("op:skip")).all(1)
            allowed[all_skip, TOKENS.index("op:skip")] = False
    else:
        allowed[:, 2] = True  # <eos>
    return allowed


def make_generator(d_model: int = 64, layers: int = 1, lr: float = 3e-3) -> TokenLM:
    return TokenLM(vocab_size=len(TOKENS), arch="gru", d_model=d_model, layers=layers, max_len=LENGTH, lr=lr)


def sample_archs(model: TokenLM, n: int, temperature: float = 1.0) -> list[Arch]:
    return decode(model.sample(n, temperature=temperature, constraint=grammar_constraint).cpu())


def fit(model: TokenLM, archs: Sequence[Arch], steps: int, optimizer: torch.optim.Optimizer) -> float:
    """Maximum-likelihood steps on ``archs`` (all of them each step); the last mean NLL per architecture."""
    ids = encode(archs).to(model.device)
    model.train()
    loss = torch.tensor(0.0)
    for _ in range(steps):
        loss = model.nll(ids).mean()
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
    model.eval()
    return float(loss.detach())


def generative_search(evaluate: Evaluate, budget: int, seed: int = 0, batch: int = 10, elite: int = 10,
                      steps: int = 20, warmup: int = 20, max_tries: int = 20) -> Trace:
    """Spend ``budget`` evaluations: ``warmup`` uniform samples, then batches from the generator, which
    is fine-tuned on the ``elite`` best-by-validation architectures after each batch. Samples already
    evaluated are drawn again (up to ``max_tries`` times) instead of spending the budget on them."""
    torch.manual_seed(seed)
    rng = random.Random(seed)
    model = make_generator()
    optimizer = model.make_optimizers()["model"]
    trace, seen = Trace(), set()

    def spend(arch: Arch) -> None:
        seen.add(arch)
        trace.add(arch, evaluate(arch))

    while len(trace.archs) < min(warmup, budget):
        arch = random_arch(rng)
        if arch not in seen:
            spend(arch)
    while len(trace.archs) < budget:
        best = sorted(range(len(trace.archs)), key=lambda i: trace.valid[i], reverse=True)[:elite]
        fit(model, [trace.archs[i] for i in best], steps, optimizer)
        wanted = min(batch, budget - len(trace.archs))
        fresh: list[Arch] = []
        for _ in range(max_tries):
            for arch in sample_archs(model, 4 * wanted):
                if arch not in seen and arch not in fresh and len(fresh) < wanted:
                    fresh.append(arch)
            if len(fresh) == wanted:
                break
        while len(fresh) < wanted:  # the generator has collapsed onto seen ones: explore uniformly
            arch = random_arch(rng)
            if arch not in seen and arch not in fresh:
                fresh.append(arch)
        for arch in fresh:
            spend(arch)
    return trace
