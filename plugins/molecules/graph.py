"""A graph generative model for molecules on torch-geometric: atoms added one at a time, valence checked.

Representation (why kekulized): a molecule is its heavy-atom graph with hydrogens implicit, kekulized,
so every bond is single, double or triple and an atom's valence is the plain sum of its bond orders.
An atom type is ``(element, formal charge)``; aromaticity is re-perceived by RDKit's sanitization when
a graph is turned back into a molecule, and stereochemistry is dropped (MOSES has none). A molecule
is kept only if this graph turns back into the same canonical SMILES (``not_round_trip`` otherwise,
e.g. radicals or unusual explicit hydrogen counts).

Order: nodes follow a breadth-first search from the atom RDKit ranks first (``CanonicalRankAtoms``),
neighbours taken in rank order. Then every node after the first has a *parent*, its earliest
neighbour, and parents never decrease along the order (BFS's queue), so its other bonds to earlier
nodes ("ring closures") all go to nodes after its parent.

Generation (GraphRNN / MolecularRNN / GraphAF in spirit), for node ``s = 0, 1, ...``:
  1. atom type of ``s`` or STOP, from a GNN over the partial graph ``G_s`` (nodes ``< s``);
  2. parent ``j`` and bond order, one softmax over (j, order) for ``j`` from the previous node's parent
     to ``s - 1``, from the same GNN pass (every node after the first joins the graph: it stays connected);
  3. ring-closure bond order (or none) to each ``j`` between the parent and ``s``, in turn, from a
     second GNN pass over ``G_s`` plus the new node and its parent bond, with the hop distance from
     the parent to ``j`` (the ring such a bond would close); these logits do not depend on the
     closures chosen just before in the same node, only their valence masks do.
Valence: each choice is masked so no atom exceeds its maximum valence (RDKit's, per element and
charge, see ``max_valence``). The same masks are applied in training, so ``nll`` is the exact
negative log-likelihood of what ``sample`` draws (in this node order) and the model spends nothing
on choices it can never make. Every emitted graph therefore sanitizes unless RDKit rejects it for
another reason; nothing is fixed after the fact.

Training cost (GraphAF-style teacher forcing): every step of every molecule in a batch is one graph
in a single torch-geometric batch: ``G_s`` for ``s = 0..n`` and ``G_s`` + new node for the steps with
a closure candidate, about ``n**2`` nodes per molecule of ``n`` atoms (~450 for MOSES' mean of 21),
all in one message-passing pass per layer. Building those graphs is a few dense ``[views, N, N]``
boolean masks on the device, with ``N = max_atoms``.

Data: one packed uint8 tensor per molecule, ``[max_atoms]`` atom type ids (0 = no atom) followed by
the strict lower triangle of the bond-order matrix (``N (N - 1) / 2`` bytes, row-major as
``torch.tril_indices(N, N, -1)``). For MOSES' 1.58M molecules with ``max_atoms=27`` that is
``27 + 351 = 378`` bytes each, 0.60 GB in all: fits on one GPU with the trainer's whole-data indexing.
"""

from __future__ import annotations

import multiprocessing
import time
from collections import Counter, deque
from collections.abc import Sequence
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn
from gensdk.core.model import GenerativeModel, StepContext, build_model, register_model
from gensdk.errors import UserError
from gensdk.extras import require


BOND_ORDERS = (1, 2, 3)          # kekulized single, double, triple; 0 = no bond
MAX_HOPS = 10                    # hop distances to a ring-closure candidate are capped here
QUEUE_BUCKETS = 16               # a node's position relative to the BFS queue head, capped
SKIP_REASONS = ("empty", "invalid", "multi_fragment", "too_large", "unknown_atom_type", "not_round_trip",
                "over_valence")
MAX_ATOMS_LIMIT = 128


def _chem() -> Any:
    try:
        from rdkit import Chem
    except ImportError:
        raise UserError("the molecules graph model needs RDKit: pip install 'gensdk[molecules]'") from None
    return Chem


# =================================================================================================
# Chemistry: SMILES <-> graphs (RDKit)
# =================================================================================================
def max_valence(symbol: str, charge: int) -> int:
    """The largest valence ``v`` such that the atom ``(symbol, charge)`` with 0..v single bonds (and
    implicit hydrogens) sanitizes. Asking RDKit itself applies its periodic table's default valences
    and its charge rules (N+ like C, O- like F, ...) exactly as sanitization will later."""
    Chem = _chem()
    from rdkit import RDLogger

    RDLogger.DisableLog("rdApp.*")
    try:
        best = 0
        for bonds in range(1, 9):
            mol = Chem.RWMol()
            atom = Chem.Atom(symbol)
            atom.SetFormalCharge(charge)
            center = mol.AddAtom(atom)
            for _ in range(bonds):
                mol.AddBond(center, mol.AddAtom(Chem.Atom("C")), Chem.BondType.SINGLE)
            if _sanitized(mol.GetMol()) is None:
                break
            best = bonds
        return best
    finally:
        RDLogger.EnableLog("rdApp.*")


def _sanitized(mol: Any) -> Any:
    Chem = _chem()
    try:
        Chem.SanitizeMol(mol)
    except (Chem.rdchem.MolSanitizeException, ValueError, RuntimeError):
        return None
    return mol


def graph_to_mol(atom_types: Sequence[Sequence[Any]], atoms: Sequence[int],
                 bonds: Sequence[tuple[int, int, int]]) -> Any:
    """An RDKit Mol from type ids (1-based into ``atom_types``) and ``(i, j, order)`` bonds, sanitized;
    None when RDKit cannot sanitize it. No repair is attempted."""
    Chem = _chem()
    kinds = {1: Chem.BondType.SINGLE, 2: Chem.BondType.DOUBLE, 3: Chem.BondType.TRIPLE}
    mol = Chem.RWMol()
    for type_id in atoms:
        symbol, charge = atom_types[type_id - 1]
        atom = Chem.Atom(symbol)
        atom.SetFormalCharge(int(charge))
        mol.AddAtom(atom)
    for i, j, order in bonds:
        mol.AddBond(int(i), int(j), kinds[int(order)])
    return _sanitized(mol.GetMol())


def graph_to_smiles(atom_types: Sequence[Sequence[Any]], atoms: Sequence[int],
                    bonds: Sequence[tuple[int, int, int]]) -> str | None:
    """Canonical SMILES (no stereo) of a graph, or None when RDKit cannot sanitize it."""
    mol = graph_to_mol(atom_types, atoms, bonds)
    return None if mol is None else _chem().MolToSmiles(mol, isomericSmiles=False)


def _bfs_order(mol: Any, ranks: Sequence[int]) -> list[int]:
    """Breadth-first order from the lowest-ranked atom, neighbours by rank (a few lines of our own:
    RDKit ranks atoms canonically but has no BFS ordering)."""
    start = min(range(mol.GetNumAtoms()), key=ranks.__getitem__)
    order, seen, queue = [], {start}, deque([start])
    while queue:
        atom = queue.popleft()
        order.append(atom)
        for nb in sorted((n.GetIdx() for n in mol.GetAtomWithIdx(atom).GetNeighbors()), key=ranks.__getitem__):
            if nb not in seen:
                seen.add(nb)
                queue.append(nb)
    return order


def smiles_to_graph(smiles: str, max_atoms: int) -> tuple[str, list[tuple[str, int]], list[tuple[int, int, int]]] | str:
    """``(canonical SMILES, atom types in BFS order, bonds (i, j, order) with i > j)``, or the reason
    (one of ``SKIP_REASONS``) the molecule cannot be a graph of this model."""
    Chem = _chem()
    from rdkit import rdBase

    text = smiles.strip()
    if not text:
        return "empty"
    with rdBase.BlockLogs():
        mol = Chem.MolFromSmiles(text)
        if mol is None or mol.GetNumAtoms() == 0:
            return "invalid"
        if len(Chem.GetMolFrags(mol)) > 1:
            return "multi_fragment"
        if mol.GetNumAtoms() > max_atoms:
            return "too_large"
        canonical = Chem.MolToSmiles(mol, isomericSmiles=False)
        ranks = list(Chem.CanonicalRankAtoms(mol, breakTies=True))
        try:
            Chem.Kekulize(mol, clearAromaticFlags=True)
        except Chem.rdchem.MolSanitizeException:
            return "invalid"
        order = _bfs_order(mol, ranks)
        position = {atom: pos for pos, atom in enumerate(order)}
        types = [(mol.GetAtomWithIdx(a).GetSymbol(), mol.GetAtomWithIdx(a).GetFormalCharge()) for a in order]
        bonds = []
        for bond in mol.GetBonds():
            order_value = bond.GetBondTypeAsDouble()
            if order_value not in BOND_ORDERS:
                return "not_round_trip"
            i, j = position[bond.GetBeginAtomIdx()], position[bond.GetEndAtomIdx()]
            bonds.append((max(i, j), min(i, j), int(order_value)))
        local_types = sorted(set(types))
        ids = [local_types.index(t) + 1 for t in types]
        if graph_to_smiles(local_types, ids, bonds) != canonical:
            return "not_round_trip"
    return canonical, types, bonds


def _parse_chunk(args: tuple[list[str], int]) -> list[Any]:
    smiles, max_atoms = args
    return [smiles_to_graph(s, max_atoms) for s in smiles]


# =================================================================================================
# Packed tensors
# =================================================================================================
def packed_width(max_atoms: int) -> int:
    return max_atoms + max_atoms * (max_atoms - 1) // 2


def unpack_graphs(x: torch.Tensor, max_atoms: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Packed ``[B, packed_width]`` -> atom type ids ``[B, N]`` and symmetric bond orders ``[B, N, N]`` (long)."""
    if x.dim() != 2 or x.shape[1] != packed_width(max_atoms):
        raise ValueError(f"graphs must be [B, {packed_width(max_atoms)}] for max_atoms={max_atoms}, "
                         f"got {tuple(x.shape)}")
    atoms = x[:, :max_atoms].long()
    rows, cols = torch.tril_indices(max_atoms, max_atoms, -1, device=x.device)
    adj = torch.zeros(len(x), max_atoms, max_atoms, dtype=torch.long, device=x.device)
    adj[:, rows, cols] = x[:, max_atoms:].long()
    return atoms, adj + adj.transpose(1, 2)


def pack_graphs(atoms: torch.Tensor, adj: torch.Tensor) -> torch.Tensor:
    n = atoms.shape[1]
    rows, cols = torch.tril_indices(n, n, -1, device=atoms.device)
    return torch.cat([atoms, adj[:, rows, cols]], 1).to(torch.uint8)


def graph_bonds(adj_row: torch.Tensor) -> list[tuple[int, int, int]]:
    """``(i, j, order)`` with ``i > j`` of one symmetric bond-order matrix."""
    i, j = torch.nonzero(torch.tril(adj_row, -1), as_tuple=True)
    return list(zip(i.tolist(), j.tolist(), adj_row[i, j].tolist()))


def _check_vocab(vocab: Any) -> tuple[list[list[Any]], list[int]]:
    if not isinstance(vocab, dict) or "atom_types" not in vocab or "max_valence" not in vocab:
        raise ValueError(f"vocab must be a dict with 'atom_types' and 'max_valence', got {vocab!r:.80}")
    types, valences = vocab["atom_types"], vocab["max_valence"]
    ok = (isinstance(types, list) and isinstance(valences, list) and 0 < len(types) == len(valences) <= 255
          and all(isinstance(t, (list, tuple)) and len(t) == 2 and isinstance(t[0], str) and isinstance(t[1], int)
                  for t in types)
          and all(isinstance(v, int) and 0 <= v <= 8 for v in valences))
    if not ok:
        raise ValueError(f"vocab needs 1..255 atom_types [symbol, charge] and as many max_valence "
                        f"integers in 0..8, got {vocab!r:.120}")
    return [[t[0], t[1]] for t in types], list(valences)


def graph_dataset(smiles: Sequence[str], max_atoms: int = 38, vocab: dict[str, Any] | None = None,
                  workers: int = 1) -> tuple[torch.Tensor, dict[str, Any], dict[str, int]]:
    """SMILES -> ``(graphs, vocab, report)``.

    ``graphs``: uint8 ``[kept, packed_width(max_atoms)]`` (see the module notes), one tensor the
    ``Trainer`` takes as is. ``vocab``: ``{"atom_types": [[symbol, charge], ...], "max_valence": [...]}``,
    built from the data by frequency unless given (then atoms outside it are skipped). ``report``:
    ``read``, ``kept`` and a count per reason in ``SKIP_REASONS``. ``workers > 1`` parses in processes.
    """
    if isinstance(smiles, (str, bytes)) or not isinstance(smiles, Sequence):
        raise UserError(f"graph_dataset: smiles must be a list of SMILES strings, got {type(smiles).__name__}")
    bad = next((i for i, s in enumerate(smiles) if not isinstance(s, str)), None)
    if bad is not None:
        raise UserError(f"graph_dataset: smiles[{bad}] is {type(smiles[bad]).__name__}, not a string")
    if not isinstance(max_atoms, int) or not 2 <= max_atoms <= MAX_ATOMS_LIMIT:
        raise UserError(f"graph_dataset: max_atoms must be an integer in 2..{MAX_ATOMS_LIMIT}, got {max_atoms!r}")
    if not isinstance(workers, int) or workers < 1:
        raise UserError(f"graph_dataset: workers must be a positive integer, got {workers!r}")
    try:
        given = _check_vocab(vocab) if vocab is not None else None
    except ValueError as err:
        raise UserError(f"graph_dataset: {err}") from None
    _chem()

    chunks = [(list(smiles[i:i + 2000]), max_atoms) for i in range(0, len(smiles), 2000)]
    if workers > 1 and len(chunks) > 1:
        with ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("spawn")) as pool:
            parsed = [item for chunk in pool.map(_parse_chunk, chunks) for item in chunk]
    else:
        parsed = [item for chunk in chunks for item in _parse_chunk(chunk)]

    report = {"read": len(smiles), "kept": 0, **{reason: 0 for reason in SKIP_REASONS}}
    graphs = []
    for item in parsed:
        if isinstance(item, str):
            report[item] += 1
        else:
            graphs.append(item)
    if given is None:
        counts = Counter(t for _, types, _ in graphs for t in types)
        atom_types = [list(t) for t, _ in sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))]
        valences = [max_valence(s, c) for s, c in atom_types]
    else:
        atom_types, valences = given
    type_id = {tuple(t): i + 1 for i, t in enumerate(atom_types)}

    kept = []
    for _, types, bonds in graphs:
        if any(t not in type_id for t in types):
            report["unknown_atom_type"] += 1
            continue
        used = [0] * len(types)
        for i, j, order in bonds:
            used[i] += order
            used[j] += order
        if any(u > valences[type_id[t] - 1] for u, t in zip(used, types)):
            report["over_valence"] += 1
            continue
        kept.append(([type_id[t] for t in types], bonds))
    report["kept"] = len(kept)
    if not kept:
        skipped = ", ".join(f"{k} {v}" for k, v in report.items() if k not in ("read", "kept") and v)
        raise UserError(f"graph_dataset: no usable molecule among {len(smiles)} SMILES ({skipped or 'none given'})")
    packed = np.zeros((len(kept), packed_width(max_atoms)), dtype=np.uint8)
    for row, (ids, bonds) in zip(packed, kept):
        row[:len(ids)] = ids
        for i, j, order in bonds:
            row[max_atoms + i * (i - 1) // 2 + j] = order
    return torch.from_numpy(packed), {"atom_types": atom_types, "max_valence": valences}, report


# =================================================================================================
# The model
# =================================================================================================
def _mlp(d_in: int, hidden: int, d_out: int) -> nn.Sequential:
    return nn.Sequential(nn.Linear(d_in, hidden), nn.ReLU(), nn.Linear(hidden, d_out))


def _hops(adjacency: torch.Tensor, source: torch.Tensor) -> torch.Tensor:
    """Hop distance ``[V, N]`` from ``source[v]`` in each boolean ``[V, N, N]`` graph, capped at
    ``MAX_HOPS`` (also for unreachable nodes). Dense frontier expansion on the device; written here
    because torch-geometric has no batched shortest-path routine."""
    a = adjacency.float()
    reached = F.one_hot(source, a.shape[1]).bool()
    dist = torch.full(reached.shape, MAX_HOPS, dtype=torch.long, device=a.device)
    dist[reached] = 0
    frontier = reached
    for d in range(1, MAX_HOPS):
        frontier = (torch.bmm(a, frontier.float().unsqueeze(2)).squeeze(2) > 0) & ~reached
        dist[frontier] = d
        reached = reached | frontier
    return dist


class _GraphEncoder(nn.Module):
    """GINE message passing (Hu et al. 2020) over a batch of partial graphs given as dense masks.

    A node's input is its atom type, its position relative to the BFS queue head (the earliest
    node that may still take a child) and whether it is the node just added; bonds enter as edge
    features. Pre-norm residual layers; the graph vector is the mean node state plus the node count.
    """

    def __init__(self, num_types: int, max_atoms: int, hidden: int, layers: int):
        super().__init__()
        self.type_emb = nn.Embedding(num_types + 1, hidden)
        self.queue_emb = nn.Embedding(QUEUE_BUCKETS + 1, hidden)
        self.new_emb = nn.Embedding(2, hidden)
        self.bond_emb = nn.Embedding(len(BOND_ORDERS), hidden)
        self.norms = nn.ModuleList(nn.LayerNorm(hidden) for _ in range(layers))
        # torch-geometric is imported when a graph model is built, not when the plugin loads: its import takes
        # seconds, and importing this module registers "mol-graph" for every command
        gnn = require("torch_geometric.nn", "molecules")
        self.pool = gnn.global_mean_pool
        self.convs = nn.ModuleList(gnn.GINEConv(_mlp(hidden, hidden, hidden), edge_dim=hidden) for _ in range(layers))
        self.size_emb = nn.Embedding(max_atoms + 2, hidden)
        self.readout = _mlp(2 * hidden, hidden, hidden)

    def forward(self, atoms: torch.Tensor, nodes: torch.Tensor, bonds: torch.Tensor, queue_head: torch.Tensor,
                new_node: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """``atoms [V, N]`` type ids, ``nodes [V, N]`` which nodes each view holds, ``bonds [V, N, N]``
        lower-triangular orders among them, ``queue_head``, ``new_node [V]`` (-1: none).
        Returns node states ``[nodes, H]``, graph vectors ``[V, H]`` and node ids ``[V, N]`` (-1: absent)."""
        views, pos = nodes.nonzero(as_tuple=True)
        node_id = torch.full(nodes.shape, -1, dtype=torch.long, device=nodes.device)
        node_id[views, pos] = torch.arange(len(views), device=nodes.device)
        queue = (pos - queue_head[views]).clamp(-1, QUEUE_BUCKETS - 1) + 1
        h = (self.type_emb(atoms[views, pos]) + self.queue_emb(queue)
             + self.new_emb((pos == new_node[views]).long()))
        ev, ei, ej = bonds.nonzero(as_tuple=True)
        src, dst = node_id[ev, ei], node_id[ev, ej]
        edge_index = torch.stack([torch.cat([src, dst]), torch.cat([dst, src])])
        edge_attr = self.bond_emb(bonds[ev, ei, ej] - 1).repeat(2, 1)
        for norm, conv in zip(self.norms, self.convs):
            h = h + conv(norm(h), edge_index, edge_attr)
        pooled = self.pool(h, views, size=len(nodes))
        graph = self.readout(torch.cat([pooled, self.size_emb(nodes.sum(1))], 1))
        return h, graph, node_id


def _pick(logits: torch.Tensor, temperature: float) -> tuple[torch.Tensor, torch.Tensor]:
    """A draw from ``softmax(logits / temperature)`` per row (masked entries are -inf) and its log-probability."""
    logp = torch.log_softmax(logits.float() / temperature, 1)
    choice = torch.multinomial(logp.exp(), 1).squeeze(1)
    return choice, logp.gather(1, choice[:, None]).squeeze(1)


@register_model("mol-graph")
class MolGraphModel(GenerativeModel):
    """Autoregressive molecular graph generator with valence masks (see the module notes).

    ``vocab``: ``graph_dataset``'s vocabulary (atom types and their maximum valences), kept in the
    config so a saved model decodes on its own. ``max_atoms``: the packed width of its data and the
    largest molecule it generates. ``hidden``/``layers``: the GINE encoder's width and depth.
    """

    def __init__(self, *, vocab: dict[str, Any], max_atoms: int = 38, hidden: int = 128, layers: int = 4,
                 lr: float = 1e-3):
        super().__init__()
        self.atom_types, valences = _check_vocab(vocab)
        if not isinstance(max_atoms, int) or not 2 <= max_atoms <= MAX_ATOMS_LIMIT:
            raise ValueError(f"max_atoms must be an integer in 2..{MAX_ATOMS_LIMIT}, got {max_atoms!r}")
        if hidden < 1 or layers < 1 or lr <= 0:
            raise ValueError(f"hidden and layers must be >= 1 and lr > 0, got {hidden}, {layers}, {lr}")
        self.max_atoms, self.lr = max_atoms, lr
        num_types = len(self.atom_types)
        # index 0 is "no atom": valence 0
        self.register_buffer("valence", torch.tensor([0, *valences], dtype=torch.long), persistent=False)
        self.encoder = _GraphEncoder(num_types, max_atoms, hidden, layers)
        self.type_head = _mlp(hidden, hidden, num_types + 1)
        self.new_type_emb = nn.Embedding(num_types + 1, hidden)
        self.parent_head = _mlp(3 * hidden, hidden, len(BOND_ORDERS))
        self.hop_emb = nn.Embedding(MAX_HOPS + 1, hidden)
        self.closure_head = _mlp(3 * hidden, hidden, len(BOND_ORDERS) + 1)

    # --- the heads, shared by nll and sample so both use one conditional ---------------------------
    def _type_logits(self, graph: torch.Tensor, steps: torch.Tensor, can_attach: torch.Tensor) -> torch.Tensor:
        """Masked ``[V, types + 1]`` logits (0 = STOP): no STOP before the first atom; no atom when no
        queue node has a free valence or the graph is full; only atoms that can take a bond."""
        logits = self.type_head(graph).float()
        atom_ok = (steps == 0)[:, None] | (can_attach[:, None] & (self.valence[None, 1:] >= 1))
        allowed = torch.cat([(steps >= 1)[:, None], atom_ok], 1)
        return logits.masked_fill(~allowed, float("-inf"))

    def _parent_logits(self, h: torch.Tensor, graph: torch.Tensor, node_id: torch.Tensor, new_type: torch.Tensor,
                       candidate: torch.Tensor, free: torch.Tensor) -> torch.Tensor:
        """Masked ``[V, N * 3]`` logits over (parent node, bond order): ``candidate [V, N]`` marks the
        nodes from the queue head on, ``free [V, N]`` their free valences."""
        v, j = candidate.nonzero(as_tuple=True)
        scores = self.parent_head(torch.cat([h[node_id[v, j]], graph[v], self.new_type_emb(new_type[v])], 1))
        logits = torch.full((*candidate.shape, len(BOND_ORDERS)), float("-inf"), device=h.device)
        logits[v, j] = scores.float()
        cap = torch.minimum(free, self.valence[new_type][:, None])
        orders = torch.tensor(BOND_ORDERS, device=h.device)
        return logits.masked_fill(orders > cap[:, :, None], float("-inf")).flatten(1)

    def _closure_logits(self, h: torch.Tensor, node_id: torch.Tensor, new_node: torch.Tensor,
                        candidate: torch.Tensor, hops: torch.Tensor) -> torch.Tensor:
        """Unmasked ``[V, N, 4]`` logits (0 = no bond) of a bond from the new node to each candidate."""
        v, j = candidate.nonzero(as_tuple=True)
        new_state = h[node_id[v, new_node[v]]]
        scores = self.closure_head(torch.cat([h[node_id[v, j]], new_state, self.hop_emb(hops[v, j])], 1))
        logits = torch.zeros((*candidate.shape, len(BOND_ORDERS) + 1), device=h.device)
        logits[v, j] = scores.float()
        return logits

    @staticmethod
    def _closure_mask(free_j: torch.Tensor, free_new: torch.Tensor) -> torch.Tensor:
        """``[..., 4]`` allowed closure orders: none always, order k when both atoms have k free."""
        orders = torch.arange(len(BOND_ORDERS) + 1, device=free_j.device)
        return (orders == 0) | (orders <= torch.minimum(free_j, free_new).unsqueeze(-1))

    # --- likelihood ----------------------------------------------------------------------------------
    def nll(self, x: torch.Tensor) -> torch.Tensor:
        """Exact -log p(graph) in nats per packed graph ``[B, packed_width]``, in its stored node order
        (which must be a BFS order: parents non-decreasing), with every generation step in one batch."""
        atoms, adj = unpack_graphs(x, self.max_atoms)
        dev, (B, N) = x.device, atoms.shape
        ar = torch.arange(N, device=dev)
        steps = torch.arange(N + 1, device=dev)
        size = (atoms > 0).sum(1)
        lower = adj.tril(-1)
        parent = (lower > 0).to(torch.uint8).argmax(2)                   # earliest neighbour; 0 for the root
        queue_head = torch.cat([torch.zeros_like(parent[:, :1]), parent], 1)  # [B, N+1]: parent of s - 1
        used = F.pad(adj.cumsum(2), (1, 0))                                # [B, N, N+1]: valence from nodes < s
        free = self.valence[atoms][:, :, None] - used                      # [B, N(j), N+1(s)]
        in_queue = (ar[None, :, None] >= queue_head[:, None, :]) & (ar[None, :, None] < steps[None, None, :])
        can_attach = (in_queue & (free >= 1)).any(1) & (steps < N)         # [B, N+1]
        logp = torch.zeros(B, device=dev)

        # G_s views: nodes < s, for s = 0..size (s = size decides STOP)
        vb, vs = (steps[None] <= size[:, None]).nonzero(as_tuple=True)
        nodes = ar[None] < vs[:, None]
        bonds = lower[vb] * nodes[:, :, None]
        h, graph, node_id = self.encoder(atoms[vb], nodes, bonds, queue_head[vb, vs], torch.full_like(vs, -1))
        target = F.pad(atoms, (0, 1))[vb, vs]
        type_logp = torch.log_softmax(self._type_logits(graph, vs, can_attach[vb, vs]), 1)
        logp.index_add_(0, vb, type_logp.gather(1, target[:, None]).squeeze(1))

        attach = (vs >= 1) & (vs < size[vb])
        pv, pb, ps = attach.nonzero().squeeze(1), vb[attach], vs[attach]
        candidate = in_queue[pb, :, ps]
        parent_logits = self._parent_logits(h, graph[pv], node_id[pv], atoms[pb, ps], candidate, free[pb, :, ps])
        chosen = parent[pb, ps] * len(BOND_ORDERS) + adj[pb, ps, parent[pb, ps]] - 1
        logp.index_add_(0, pb, torch.log_softmax(parent_logits, 1).gather(1, chosen[:, None]).squeeze(1))

        # G_s + node s bonded to its parent, for the steps with a closure candidate (run
        # even when there is none, so every parameter gets a gradient, as data-parallel all-reduce needs)
        closing = (steps[None, :N] >= 1) & (steps[None, :N] < size[:, None]) & (parent < steps[None, :N] - 1)
        cb, cs = closing.nonzero(as_tuple=True)
        cp = parent[cb, cs]
        nodes = ar[None] <= cs[:, None]
        row_ok = (ar[None, :, None] < cs[:, None, None]) | ((ar[None, :, None] == cs[:, None, None])
                                                             & (ar[None, None, :] == cp[:, None, None]))
        older = lower[cb] * (ar[None, :, None] < cs[:, None, None])
        h, _, node_id = self.encoder(atoms[cb], nodes, lower[cb] * row_ok, cp, cs)
        hops = _hops((older + older.transpose(1, 2)) > 0, cp)
        candidate = (ar[None] > cp[:, None]) & (ar[None] < cs[:, None])
        logits = self._closure_logits(h, node_id, cs, candidate, hops)
        free_new = self.valence[atoms[cb, cs]][:, None] - used[cb, cs, :N]  # [C, N]: before the bond to j
        allowed = self._closure_mask(free[cb, :, cs], free_new)
        closure_logp = torch.log_softmax(logits.masked_fill(~allowed, float("-inf")), 2)
        closure_logp = torch.where(candidate, closure_logp.gather(2, adj[cb, cs].unsqueeze(2)).squeeze(2), 0.0)
        logp.index_add_(0, cb, closure_logp.sum(1))
        return -logp

    def make_optimizers(self) -> dict[str, torch.optim.Optimizer]:
        return {"model": torch.optim.Adam(self.parameters(), lr=self.lr)}

    def train_step(self, batch: tuple[torch.Tensor, ...], ctx: StepContext) -> dict[str, torch.Tensor]:
        nll = self.nll(batch[0]).mean()
        ctx.optimize("model", nll)
        return {"loss": nll.detach()}

    # --- generation ----------------------------------------------------------------------------------
    @torch.no_grad()
    def sample_graphs(self, n: int, temperature: float = 1.0) -> tuple[torch.Tensor, torch.Tensor]:
        """``n`` graphs generated together: packed uint8 ``[n, packed_width]`` and each one's
        log-probability under the (tempered) sampling distribution ``[n]``."""
        if not isinstance(n, int) or n < 1:
            raise ValueError(f"n must be a positive integer, got {n!r}")
        if not temperature > 0:
            raise ValueError(f"temperature must be > 0, got {temperature!r}")
        was_training = self.training
        self.eval()
        dev, N = self.device, self.max_atoms
        ar = torch.arange(N, device=dev)
        atoms = torch.zeros(n, N, dtype=torch.long, device=dev)
        adj = torch.zeros(n, N, N, dtype=torch.long, device=dev)
        queue_head = torch.zeros(n, dtype=torch.long, device=dev)
        logp = torch.zeros(n, device=dev)
        active = torch.ones(n, dtype=torch.bool, device=dev)
        for s in range(N + 1):
            rows = active.nonzero().squeeze(1)
            if len(rows) == 0:
                break
            step = torch.full_like(rows, s)
            nodes = (ar < s).expand(len(rows), N)
            free = self.valence[atoms[rows]] - adj[rows].sum(2)
            in_queue = (ar[None] >= queue_head[rows, None]) & nodes
            can_attach = (in_queue & (free >= 1)).any(1) & (s < N)
            h, graph, node_id = self.encoder(atoms[rows], nodes, adj[rows].tril(-1), queue_head[rows],
                                             torch.full_like(rows, -1))
            new_type, lp = _pick(self._type_logits(graph, step, can_attach), temperature)
            logp[rows] += lp
            grows = new_type > 0
            active[rows[~grows]] = False
            rows, new_type = rows[grows], new_type[grows]
            if len(rows) == 0:
                break
            atoms[rows, s] = new_type
            if s == 0:
                continue
            parent_logits = self._parent_logits(h, graph[grows], node_id[grows], new_type, in_queue[grows], free[grows])
            choice, lp = _pick(parent_logits, temperature)
            logp[rows] += lp
            parent, order = choice // len(BOND_ORDERS), choice % len(BOND_ORDERS) + 1
            adj[rows, s, parent] = order
            adj[rows, parent, s] = order
            queue_head[rows] = parent

            closing = parent < s - 1
            rows, parent = rows[closing], parent[closing]
            if len(rows) == 0:
                continue
            step = torch.full_like(rows, s)
            older = adj[rows] * ((ar[:, None] < s) & (ar[None, :] < s))
            h, _, node_id = self.encoder(atoms[rows], (ar <= s).expand(len(rows), N), adj[rows].tril(-1), parent, step)
            candidate = (ar[None] > parent[:, None]) & (ar[None] < s)
            logits = self._closure_logits(h, node_id, step, candidate, _hops(older > 0, parent))
            # one decision per older node j, in order (each closure uses up valence the next may want);
            # every row draws and rows without j as a candidate discard the draw, so the loop never
            # waits on the device (a nonzero() per j was most of the sampling time on the GPU)
            for j in range(1, s):
                pending = candidate[:, j]
                free_j = self.valence[atoms[rows, j]] - adj[rows, j].sum(1)
                free_new = self.valence[atoms[rows, s]] - adj[rows, s].sum(1)
                allowed = self._closure_mask(free_j, free_new)
                order, lp = _pick(logits[:, j].masked_fill(~allowed, float("-inf")), temperature)
                order = torch.where(pending, order, adj[rows, s, j])  # j == parent keeps its bond
                logp[rows] += lp * pending
                adj[rows, s, j] = order
                adj[rows, j, s] = order
        self.train(was_training)
        return pack_graphs(atoms, adj), logp

    def sample(self, n: int, temperature: float = 1.0, batch_size: int = 2048) -> list[str | None]:
        """``n`` canonical SMILES, generated ``batch_size`` graphs at a time on the model's device; an
        entry is None where RDKit cannot sanitize the generated graph (never repaired)."""
        if not isinstance(batch_size, int) or batch_size < 1:
            raise ValueError(f"batch_size must be a positive integer, got {batch_size!r}")
        if not isinstance(n, int) or n < 1:
            raise ValueError(f"n must be a positive integer, got {n!r}")
        out: list[str | None] = []
        for start in range(0, n, batch_size):
            graphs, _ = self.sample_graphs(min(batch_size, n - start), temperature)
            out += self.decode(graphs)
        return out

    def decode(self, graphs: torch.Tensor) -> list[str | None]:
        """Packed graphs -> canonical SMILES (None where RDKit cannot sanitize one)."""
        atoms, adj = unpack_graphs(graphs.cpu(), self.max_atoms)
        out = []
        for atom_row, adj_row in zip(atoms, adj):
            size = int((atom_row > 0).sum())
            out.append(graph_to_smiles(self.atom_types, atom_row[:size].tolist(), graph_bonds(adj_row[:size, :size])))
        return out


# =================================================================================================
# Building and training
# =================================================================================================
def make_graph_model(smiles: Sequence[str], max_atoms: int = 38, workers: int = 1, **options: Any) -> MolGraphModel:
    """A new ``mol-graph`` model whose atom types come from ``smiles`` (``options``: hidden, layers, lr)."""
    _, vocab, _ = graph_dataset(smiles, max_atoms=max_atoms, workers=workers)
    return build_model("mol-graph", vocab=vocab, max_atoms=max_atoms, **options)


def train_graph_model(smiles: Sequence[str], out_dir: str | Path | None, steps: int = 20000, batch_size: int = 256,
                      max_atoms: int = 38, hidden: int = 128, layers: int = 4, lr: float = 1e-3,
                      workers: int = 1, resume: bool = False,
                      **train_options: Any) -> tuple[MolGraphModel, dict[str, Any]]:
    """Parse ``smiles``, train a ``mol-graph`` model with the core ``Trainer`` (``train_options`` go to
    ``TrainConfig``: device, seed, bf16, lr_schedule, ...) and return it with a report: the data
    report, vocab, training seconds and molecules/s. ``resume`` continues the run in ``out_dir``
    from its last checkpoint; otherwise a run there is replaced."""
    from gensdk.core.trainer import TrainConfig, Trainer

    t0 = time.perf_counter()
    graphs, vocab, data_report = graph_dataset(smiles, max_atoms=max_atoms, workers=workers)
    parse_s = time.perf_counter() - t0
    model = MolGraphModel(vocab=vocab, max_atoms=max_atoms, hidden=hidden, layers=layers, lr=lr)
    cfg = TrainConfig.from_dict({"steps": steps, "batch_size": batch_size, **train_options})
    trainer = Trainer(model, graphs, cfg, out_dir)
    t0 = time.perf_counter()
    model = trainer.fit(resume=resume, overwrite=not resume)
    train_s = time.perf_counter() - t0
    return model, {"data": data_report, "vocab": vocab, "parse_s": round(parse_s, 1), "train_s": round(train_s, 1),
                   "molecules_per_s": trainer.throughput and round(trainer.throughput, 1),
                   "bytes_on_device": graphs.numel(), "final_loss": trainer.history[-1].get("loss")}
