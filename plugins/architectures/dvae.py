"""A D-VAE (Zhang et al. 2019) over NAS-Bench-Graph DAGs, with a performance predictor on its latent
space.

An architecture is a DAG of 6 nodes in topological order: the input (``START``), the four operation
nodes, and ``END``, which reads the leaves (nodes nobody else reads). The encoder is D-VAE's
asynchronous message passing: each node's state is a GRU cell of its type, fed the gated sum of its
parents' states, so a node is updated only after all of its predecessors; the END node's state gives
the posterior. The decoder adds nodes one at a time: the type of the next node from the latest state,
then an edge from each earlier node, then the new node's state from its parents, as in the encoder.
A small MLP predicts the validation accuracy from the posterior mean.

Written in plain torch: the updates are sequential over the nodes of a topological order, which
torch-geometric's parallel message passing does not express; every graph of a batch is updated at
once instead (6 nodes: 6 steps).
"""

from __future__ import annotations

import random
from typing import Sequence

import torch
import torch.nn.functional as F
from torch import nn

from gensdk.core.model import GenerativeModel, StepContext, register_model

from .spaces import NBG_LINKS, NBG_OPS, Arch

TYPES = ("START",) + NBG_OPS + ("END",)
START, END = 0, len(TYPES) - 1
NODES = 6


def to_graph(archs: Sequence[Arch]) -> tuple[torch.Tensor, torch.Tensor]:
    """Node types ``[B, 6]`` and adjacency ``[B, 6, 6]`` (``adj[b, u, v] = 1``: an edge u -> v, u < v)."""
    types = torch.zeros(len(archs), NODES, dtype=torch.long)
    adj = torch.zeros(len(archs), NODES, NODES)
    for b, (link, ops) in enumerate(archs):
        types[b, 1:5] = torch.tensor([TYPES.index(op) for op in ops])
        types[b, 5] = END
        for i, parent in enumerate(link, 1):
            adj[b, parent, i] = 1
        for leaf in set(range(1, 5)) - set(link):
            adj[b, leaf, 5] = 1
    return types, adj


def from_graph(types: torch.Tensor, adj: torch.Tensor) -> list[Arch | None]:
    """Architectures of decoded graphs; None where a graph is not one of the space (wrong types, an op
    node without exactly one parent, END not reading exactly the leaves, four skips)."""
    out: list[Arch | None] = []
    for t, a in zip(types.tolist(), adj.tolist()):
        link = [next((u for u in range(i) if a[u][i]), -1) if sum(a[u][i] for u in range(i)) == 1 else -1
                for i in range(1, 5)]
        ops = [TYPES[x] for x in t[1:5]]
        leaves = {i for i in range(1, 5) if i not in link}
        ok = (t[0] == START and t[5] == END and all(op in NBG_OPS for op in ops) and -1 not in link
              and {u for u in range(5) if a[u][5]} == leaves and set(ops) != {"skip"}
              and tuple(link) in NBG_LINKS)
        out.append((tuple(link), tuple(ops)) if ok else None)
    return out


@register_model("nbg-dvae")
class DagVAE(GenerativeModel):
    def __init__(self, *, hidden: int = 96, latent: int = 16, beta: float = 0.005, predictor_weight: float = 1.0,
                 lr: float = 1e-3):
        super().__init__()
        self.hidden, self.latent, self.beta, self.predictor_weight, self.lr = hidden, latent, beta, predictor_weight, lr
        k = len(TYPES)
        self.embed = nn.Embedding(k, hidden)
        self.encoder_cell, self.decoder_cell = nn.GRUCell(hidden, hidden), nn.GRUCell(hidden, hidden)
        self.encoder_gate, self.decoder_gate = nn.Linear(hidden, hidden), nn.Linear(hidden, hidden)
        self.to_posterior = nn.Linear(hidden, 2 * latent)
        self.from_latent = nn.Linear(latent, hidden)
        self.type_head = nn.Sequential(nn.Linear(hidden, hidden), nn.ReLU(), nn.Linear(hidden, k))
        self.edge_head = nn.Sequential(nn.Linear(3 * hidden, hidden), nn.ReLU(), nn.Linear(hidden, 1))
        self.predictor = nn.Sequential(nn.Linear(latent, hidden), nn.ReLU(), nn.Linear(hidden, 1))

    # message passing in topological order, shared by encoder and decoder
    def _node_state(self, cell: nn.GRUCell, gate: nn.Linear, states: list[torch.Tensor], parents: torch.Tensor,
                    node_type: torch.Tensor, initial: torch.Tensor | None) -> torch.Tensor:
        if states:
            stacked = torch.stack(states, 1)  # [B, v, H]
            message = (parents[..., None] * torch.sigmoid(gate(stacked)) * stacked).sum(1)
        else:
            message = torch.zeros(len(node_type), self.hidden, device=node_type.device)
        if initial is not None:
            message = message + initial
        return cell(self.embed(node_type), message)

    def encode(self, types: torch.Tensor, adj: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        states: list[torch.Tensor] = []
        for v in range(NODES):
            states.append(self._node_state(self.encoder_cell, self.encoder_gate, states, adj[:, :v, v],
                                           types[:, v], None))
        mu, log_var = self.to_posterior(states[-1]).chunk(2, 1)
        return mu, log_var

    def _edge_logits(self, states: list[torch.Tensor], graph: torch.Tensor, node_type: torch.Tensor) -> torch.Tensor:
        stacked = torch.stack(states, 1)
        v = stacked.shape[1]
        new = torch.cat([graph, self.embed(node_type)], 1)[:, None].expand(-1, v, -1)
        return self.edge_head(torch.cat([stacked, new], 2)).squeeze(2)  # [B, v]

    def reconstruction_loss(self, z: torch.Tensor, types: torch.Tensor, adj: torch.Tensor) -> torch.Tensor:
        """Teacher-forced negative log-likelihood of the graphs given z (sum over nodes and edges)."""
        initial = torch.tanh(self.from_latent(z))
        states: list[torch.Tensor] = []
        loss = torch.zeros(len(z), device=z.device)
        for v in range(NODES):
            graph = states[-1] if states else initial
            loss = loss + F.cross_entropy(self.type_head(graph), types[:, v], reduction="none")
            if v:
                logits = self._edge_logits(states, graph, types[:, v])
                loss = loss + F.binary_cross_entropy_with_logits(logits, adj[:, :v, v], reduction="none").sum(1)
            states.append(self._node_state(self.decoder_cell, self.decoder_gate, states, adj[:, :v, v], types[:, v],
                                           initial if v == 0 else None))
        return loss

    @torch.no_grad()
    def decode(self, z: torch.Tensor, greedy: bool = True) -> tuple[torch.Tensor, torch.Tensor]:
        z = z.to(self.device)
        initial = torch.tanh(self.from_latent(z))
        types = torch.zeros(len(z), NODES, dtype=torch.long, device=self.device)
        adj = torch.zeros(len(z), NODES, NODES, device=self.device)
        states: list[torch.Tensor] = []
        for v in range(NODES):
            graph = states[-1] if states else initial
            logits = self.type_head(graph)
            types[:, v] = logits.argmax(1) if greedy else torch.multinomial(logits.softmax(1), 1).squeeze(1)
            if v:
                p = torch.sigmoid(self._edge_logits(states, graph, types[:, v]))
                adj[:, :v, v] = (p > 0.5).float() if greedy else torch.bernoulli(p)
            states.append(self._node_state(self.decoder_cell, self.decoder_gate, states, adj[:, :v, v], types[:, v],
                                           initial if v == 0 else None))
        return types.cpu(), adj.cpu()

    def make_optimizers(self) -> dict[str, torch.optim.Optimizer]:
        return {"model": torch.optim.Adam(self.parameters(), lr=self.lr)}

    def train_step(self, batch: tuple[torch.Tensor, ...], ctx: StepContext) -> dict[str, torch.Tensor]:
        types, adj, score = batch
        mu, log_var = self.encode(types, adj)
        z = mu + torch.randn_like(mu) * torch.exp(0.5 * log_var)
        recon = self.reconstruction_loss(z, types, adj).mean()
        kl = 0.5 * (mu.pow(2) + log_var.exp() - 1 - log_var).sum(1).mean()
        predicted = self.predictor(mu).squeeze(1)
        mse = F.mse_loss(predicted, score)
        loss = recon + self.beta * kl + self.predictor_weight * mse
        ctx.optimize("model", loss)
        return {"loss": loss.detach(), "recon": recon.detach(), "kl": kl.detach(), "mse": mse.detach()}

    @torch.no_grad()
    def sample(self, n: int, **_: object) -> tuple[torch.Tensor, torch.Tensor]:
        return self.decode(torch.randn(n, self.latent, device=self.device))


# --- search in the latent space ------------------------------------------------------------------------
def latent_search(model: DagVAE, evaluate, budget: int, seed: int = 0, warmup: int = 20, batch: int = 10,
                  elite: int = 10, ascent_steps: int = 50, step_size: float = 0.05, predictor_steps: int = 200):
    """Bayesian-optimization-free latent search (in the spirit of D-VAE's): evaluate ``warmup`` prior
    samples; then repeatedly fit a fresh predictor MLP on the posterior means of everything evaluated
    (``model`` itself is trained without accuracies, so it costs no evaluation), move the ``elite`` best
    latents up the predictor's gradient, decode them, and evaluate the valid unseen ones (a batch that
    yields none is filled from the prior). ``evaluate`` takes NAS-Bench-Graph genomes, as the trace holds."""
    from .search import Trace
    from .spaces import NasBenchGraphSpace

    space = NasBenchGraphSpace()

    def random_arch(rng: random.Random) -> Arch:
        return space.arch(space.random(rng))

    generator = torch.Generator().manual_seed(seed)
    rng = random.Random(seed)
    model.eval()
    trace, seen, latents = Trace(), set(), []

    def spend(arch: Arch, z: torch.Tensor) -> None:
        seen.add(arch)
        latents.append(z)
        trace.spend(evaluate, space.genome(*arch))

    def posterior_mean(arch: Arch) -> torch.Tensor:
        with torch.no_grad():
            return model.encode(*(t.to(model.device) for t in to_graph([arch])))[0][0].cpu()

    while len(trace.archs) < min(warmup, budget):
        z = torch.randn(1, model.latent, generator=generator)
        arch = from_graph(*model.decode(z))[0]
        if arch is None or arch in seen:
            arch = random_arch(rng)
            if arch in seen:
                continue
        spend(arch, posterior_mean(arch))
    while len(trace.archs) < budget:
        x = torch.stack(latents)
        y = torch.tensor(trace.valid)
        y = (y - y.mean()) / y.std().clamp(min=1e-6)
        torch.manual_seed(seed + len(trace.archs))
        predictor = nn.Sequential(nn.Linear(model.latent, 64), nn.ReLU(), nn.Linear(64, 1))
        optimizer = torch.optim.Adam(predictor.parameters(), lr=1e-2, weight_decay=1e-3)
        for _ in range(predictor_steps):
            loss = F.mse_loss(predictor(x).squeeze(1), y)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
        best = y.argsort(descending=True)[:elite]
        z = (x[best] + 0.1 * torch.randn(len(best), model.latent, generator=generator)).requires_grad_(True)
        for _ in range(ascent_steps):
            gain = predictor(z).sum()
            (grad,) = torch.autograd.grad(gain, z)
            z = (z + step_size * grad).detach().requires_grad_(True)
        wanted = min(batch, budget - len(trace.archs))
        found = 0
        for arch in from_graph(*model.decode(z.detach())):
            if arch is not None and arch not in seen and found < wanted:
                spend(arch, posterior_mean(arch))
                found += 1
        while found < wanted:  # fill from the prior (or uniformly) so every round spends its batch
            candidate = from_graph(*model.decode(torch.randn(1, model.latent, generator=generator)))[0]
            arch = candidate if candidate is not None and candidate not in seen else random_arch(rng)
            if arch not in seen:
                spend(arch, posterior_mean(arch))
                found += 1
    return trace
