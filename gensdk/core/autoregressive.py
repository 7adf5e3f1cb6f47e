"""Autoregressive models: exact likelihoods by the chain rule p(x) = prod_i p(x_i | x_<i).

- ``MADE``: masked MLP over a flat binary vector (Germain et al. 2015).
- ``PixelCNN``: masked convolutions over images, raster order (van den Oord et al. 2016).
- ``TokenLM``: a GRU or small causal Transformer over token ids, with a constrained-decoding hook.

All three report ``nll(x)`` per example in nats and train on its mean (token mean for ``TokenLM``).
Losses are computed in float32 so bf16 autocast on the GPU only touches the network's matmuls.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from gensdk.core.model import GenerativeModel, StepContext, register_model
from gensdk.core.nn.masked import MaskedConv2d, MaskedLinear
from gensdk.core.tokens import Vocabulary


def _positive_ints(name: str, values: Sequence[int], allow_empty: bool = False) -> list[int]:
    values = [int(v) for v in values]
    if (not values and not allow_empty) or any(v < 1 for v in values):
        raise ValueError(f"{name} must be a list of positive integers, got {values!r}")
    return values


class _Stack(nn.Module):
    """Layers applied in turn, with ``act`` between them. Defined here rather than using
    ``nn.Sequential`` so that ``torch.compile`` of this child (the trainer compiles top-level
    children) traces one graph instead of recompiling each masked layer separately."""

    def __init__(self, layers: Sequence[nn.Module], act: nn.Module | None = None):
        super().__init__()
        self.layers = nn.ModuleList(layers)
        self.act = act

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for i, layer in enumerate(self.layers):
            if i and self.act is not None:
                x = self.act(x)
            x = layer(x)
        return x


class _SamplingMode:
    """``with _SamplingMode(model):`` eval mode and no autograd, restoring the training flag after."""

    def __init__(self, model: nn.Module):
        self.model, self.was_training = model, model.training
        self.no_grad = torch.no_grad()

    def __enter__(self) -> None:
        self.model.eval()
        self.no_grad.__enter__()

    def __exit__(self, *exc: Any) -> None:
        self.no_grad.__exit__(*exc)
        self.model.train(self.was_training)


# =================================================================================================
# MADE
# =================================================================================================
@register_model("made")
class MADE(GenerativeModel):
    """MADE (Germain et al. 2015, "MADE: Masked Autoencoder for Distribution Estimation").

    An MLP over the flattened binary data whose weights are masked so that output ``i`` (the
    Bernoulli logit of ``x_i``) depends only on inputs earlier in an ordering: one pass gives every
    conditional, so ``nll`` is exact and costs one forward; ``sample`` takes ``D`` passes.

    Each mask is defined by degrees (Sec. 4): input ``j`` has degree ``order[j]`` (its position in the
    ordering), hidden unit ``k`` a degree ``m(k)`` drawn from ``[min degree below, D - 2]``; a hidden
    unit sees units of degree ``<= m(k)``, output ``i`` sees hidden units of degree ``< order[i]``.

    ``num_masks > 1``: order- and connectivity-agnostic training (Sec. 4.2): ``num_masks`` orderings
    and connectivities drawn from ``seed``; training step ``s`` uses mask ``s % num_masks``. ``nll``
    then scores the uniform *mixture* over masks, p(x) = mean_k p_k(x) (the paper's ensemble, which
    averages probabilities, not log-probabilities, and so stays normalised), and ``sample`` draws a
    mask per example. ``natural_ordering``: the first ordering is 0..D-1 (the rest are random).
    """

    def __init__(self, *, data_shape: Sequence[int], hidden: Sequence[int] = (512, 512), num_masks: int = 1,
                 natural_ordering: bool = True, lr: float = 1e-3, seed: int = 0):
        super().__init__()
        self.data_shape = tuple(_positive_ints("data_shape", data_shape))
        hidden = _positive_ints("hidden", hidden, allow_empty=True)
        if num_masks < 1:
            raise ValueError(f"num_masks must be >= 1, got {num_masks}")
        self.num_masks, self.lr = num_masks, lr
        self.dim = D = math.prod(self.data_shape)
        widths = [D, *hidden, D]
        self.net = _Stack([MaskedLinear(a, b) for a, b in zip(widths[:-1], widths[1:])], nn.ReLU())

        # Degrees are the state that defines each mask; stored as buffers so that a saved model
        # keeps its exact connectivity whatever the random generator of the loading torch does.
        gen = torch.Generator().manual_seed(seed)
        orders, hidden_degrees = [], [[] for _ in hidden]
        for k in range(num_masks):
            order = torch.arange(D) if (natural_ordering and k == 0) else torch.randperm(D, generator=gen)
            orders.append(order)
            low = 0
            for l, width in enumerate(hidden):
                # high is exclusive: degrees <= D - 2, since a unit of degree D - 1 would feed no output
                deg = torch.randint(low, max(D - 1, low + 1), (width,), generator=gen)
                hidden_degrees[l].append(deg)
                low = int(deg.min())
        self.register_buffer("orders", torch.stack(orders))  # [K, D]: orders[k, j] = position of x_j
        for l, degs in enumerate(hidden_degrees):
            self.register_buffer(f"degrees_{l}", torch.stack(degs))  # [K, width_l]
        self.use_mask(0)

    def use_mask(self, k: int) -> None:
        """Load mask ``k`` (ordering and connectivity) into the layers."""
        layers = self.net.layers
        degrees = [self.orders[k]] + [getattr(self, f"degrees_{l}")[k] for l in range(len(layers) - 1)]
        for l, layer in enumerate(layers):
            below = degrees[l]
            if l + 1 < len(layers):
                mask = below[None, :] <= degrees[l + 1][:, None]  # hidden unit sees degrees <= its own
            else:
                mask = below[None, :] < self.orders[k][:, None]   # output i sees degrees < order[i]: strict
            layer.set_mask(mask.to(layer.mask.dtype))

    def forward(self, x: torch.Tensor, mask_index: int = 0) -> torch.Tensor:
        """Bernoulli logits ``[B, *data_shape]`` of each ``x_i`` given the inputs before it in ordering
        ``mask_index``."""
        if not 0 <= mask_index < self.num_masks:
            raise ValueError(f"mask_index must be in 0..{self.num_masks - 1}, got {mask_index}")
        if self.num_masks > 1:  # recomputing a mask costs about as much as applying it; keep it simple
            self.use_mask(mask_index)
        return self.net(x.reshape(len(x), self.dim).float()).view(len(x), *self.data_shape)

    def _nll_one_mask(self, x: torch.Tensor, k: int) -> torch.Tensor:
        logits = self(x, k).float().flatten(1)
        return F.binary_cross_entropy_with_logits(logits, x.flatten(1).float(), reduction="none").sum(1)

    def nll(self, x: torch.Tensor) -> torch.Tensor:
        """Exact -log p(x) per example in nats (the mixture over masks when ``num_masks > 1``)."""
        if self.num_masks == 1:
            return self._nll_one_mask(x, 0)
        per_mask = torch.stack([self._nll_one_mask(x, k) for k in range(self.num_masks)])  # [K, B]
        return math.log(self.num_masks) - torch.logsumexp(-per_mask, dim=0)

    def make_optimizers(self) -> dict[str, torch.optim.Optimizer]:
        return {"model": torch.optim.Adam(self.parameters(), lr=self.lr)}

    def train_step(self, batch: tuple[torch.Tensor, ...], ctx: StepContext) -> dict[str, torch.Tensor]:
        loss = self._nll_one_mask(batch[0], ctx.step % self.num_masks).mean()
        ctx.optimize("model", loss)
        return {"loss": loss.detach()}

    def sample(self, n: int, **kwargs: Any) -> torch.Tensor:
        """``n`` binary samples ``[n, *data_shape]``, one coordinate at a time in the ordering."""
        if kwargs:
            raise TypeError(f"MADE.sample takes no options, got {sorted(kwargs)}")
        out = torch.zeros(n, self.dim, device=self.device)
        with _SamplingMode(self):
            which = torch.randint(self.num_masks, (n,), device=self.device)  # mixture component per example
            for k in range(self.num_masks):
                rows = (which == k).nonzero().squeeze(1)
                if len(rows) == 0:
                    continue
                x = torch.zeros(len(rows), self.dim, device=self.device)
                for i in torch.argsort(self.orders[k]).tolist():
                    logits = self(x, k).float().flatten(1)[:, i]
                    x[:, i] = torch.bernoulli(torch.sigmoid(logits))
                out[rows] = x
        return out.view(n, *self.data_shape)


# =================================================================================================
# PixelCNN
# =================================================================================================
class _ResidualBlock(nn.Module):
    """The PixelCNN residual block (van den Oord et al. 2016, Fig. 5): 1x1 (2h -> h), 3x3 mask B,
    1x1 (h -> 2h), ReLUs before each, and a skip connection."""

    def __init__(self, filters: int, data_channels: int):
        super().__init__()
        half = filters // 2
        self.body = nn.Sequential(
            nn.ReLU(), MaskedConv2d("B", filters, half, 1, data_channels),
            nn.ReLU(), MaskedConv2d("B", half, half, 3, data_channels),
            nn.ReLU(), MaskedConv2d("B", half, filters, 1, data_channels),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.body(x)


@register_model("pixelcnn")
class PixelCNN(GenerativeModel):
    """PixelCNN (van den Oord et al. 2016, "Pixel Recurrent Neural Networks", Sec. 3.4).

    ``p(x) = prod_{pixels in raster order} prod_{channels c} p(x_{ij,c} | earlier pixels, channels < c)``,
    each factor a ``levels``-way softmax: ``levels=2`` for binary images, 256 for 8-bit images. Input
    images in [0, 1] are quantised to ``round(x * (levels - 1))`` (integer tensors are taken as levels).

    Layout: a 7x7 mask-A convolution, ``layers - 1`` residual blocks with a 3x3 mask-B convolution,
    then ReLU-1x1-ReLU-1x1 to ``channels * levels`` logits. With several channels the feature maps
    are split into per-channel groups (see ``MaskedConv2d``), so channels of a pixel are generated
    in order (R, then G given R, ...). The plain PixelCNN has a blind spot above-right of each pixel
    (fixed by the Gated PixelCNN); it is still an exact, normalised model.

    ``image_size`` is only the default size for ``sample`` (the network is fully convolutional).
    """

    def __init__(self, *, channels: int = 1, levels: int = 2, filters: int = 64, layers: int = 5,
                 lr: float = 1e-3, image_size: Sequence[int] = (8, 8)):
        super().__init__()
        if channels < 1 or layers < 1:
            raise ValueError(f"channels and layers must be >= 1, got {channels} and {layers}")
        if not 2 <= levels <= 65536:
            raise ValueError(f"levels must be in 2..65536, got {levels}")
        if filters // 2 < channels:
            raise ValueError(f"filters must be at least 2 * channels = {2 * channels}, got {filters}")
        self.channels, self.levels, self.lr = channels, levels, lr
        self.image_size = tuple(_positive_ints("image_size", image_size))
        if len(self.image_size) != 2:
            raise ValueError(f"image_size must be (height, width), got {list(image_size)}")
        self.net = _Stack([
            MaskedConv2d("A", channels, filters, 7, channels),
            *[_ResidualBlock(filters, channels) for _ in range(layers - 1)],
            nn.ReLU(), MaskedConv2d("B", filters, filters, 1, channels),
            nn.ReLU(), MaskedConv2d("B", filters, channels * levels, 1, channels),
        ])

    def quantize(self, x: torch.Tensor) -> torch.Tensor:
        """Level indices (long) of images in [0, 1]; integer tensors pass through."""
        if not x.is_floating_point():
            return x.long()
        return (x.float() * (self.levels - 1)).round().clamp(0, self.levels - 1).long()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Logits ``[B, channels, levels, H, W]`` of every sub-pixel given the ones before it."""
        idx = self.quantize(x)
        logits = self.net(idx.float() * (2.0 / (self.levels - 1)) - 1.0)  # levels -> [-1, 1]
        b, _, h, w = logits.shape
        return logits.view(b, self.channels, self.levels, h, w)

    def nll(self, x: torch.Tensor) -> torch.Tensor:
        """Exact -log p(x) per image in nats over the discrete ``levels`` values."""
        logits = self(x).float().transpose(1, 2)  # cross_entropy wants the classes at dim 1
        return F.cross_entropy(logits, self.quantize(x), reduction="none").flatten(1).sum(1)

    def make_optimizers(self) -> dict[str, torch.optim.Optimizer]:
        return {"model": torch.optim.Adam(self.parameters(), lr=self.lr)}

    def train_step(self, batch: tuple[torch.Tensor, ...], ctx: StepContext) -> dict[str, torch.Tensor]:
        x = batch[0]
        loss = self.nll(x).mean()
        ctx.optimize("model", loss)
        loss = loss.detach()
        return {"loss": loss, "bits_per_dim": loss / (math.prod(x.shape[1:]) * math.log(2))}

    def sample(self, n: int, size: Sequence[int] | None = None, temperature: float = 1.0) -> torch.Tensor:
        """``n`` images ``[n, channels, H, W]`` in [0, 1], one sub-pixel per network pass."""
        h, w = self.image_size if size is None else _positive_ints("size", size)
        if temperature <= 0:
            raise ValueError(f"temperature must be > 0, got {temperature}")
        idx = torch.zeros(n, self.channels, h, w, dtype=torch.long, device=self.device)
        with _SamplingMode(self):
            for i in range(h):
                for j in range(w):
                    for c in range(self.channels):
                        logits = self(idx)[:, c, :, i, j].float() / temperature
                        idx[:, c, i, j] = torch.multinomial(logits.softmax(-1), 1).squeeze(1)
        return idx.float() / (self.levels - 1)


# =================================================================================================
# TokenLM
# =================================================================================================
ARCHS = ("gru", "lstm", "transformer")
SYNC_EVERY = 16  # sampling steps between checks that wait for the device


class KVCache:
    """Every decoder block's keys and values of the positions generated so far, in buffers allocated
    once for ``capacity`` positions (``[B, heads, capacity, d/heads]``, the dtype of the first keys
    written): a step writes one position in place, where growing the tensors would copy the whole
    cache every step (quadratic in the length)."""

    def __init__(self, capacity: int):
        self.capacity, self.length = capacity, 0
        self.keys: list[torch.Tensor] = []
        self.values: list[torch.Tensor] = []

    def extend(self, layer: int, k: torch.Tensor, v: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Store block ``layer``'s new keys and values; return all of them so far (views)."""
        end = self.length + k.shape[2]
        if end > self.capacity:
            raise ValueError(f"the key/value cache holds {self.capacity} positions, {end} asked for")
        if layer == len(self.keys):
            shape = (*k.shape[:2], self.capacity, k.shape[3])
            self.keys.append(k.new_empty(shape))
            self.values.append(v.new_empty(shape))
        self.keys[layer][:, :, self.length:end] = k
        self.values[layer][:, :, self.length:end] = v
        return self.keys[layer][:, :, :end], self.values[layer][:, :, :end]


class _DecoderBlock(nn.Module):
    """Pre-norm Transformer decoder block (Vaswani et al. 2017; GPT-2 layout), causal self-attention
    through ``F.scaled_dot_product_attention(is_causal=True)``."""

    def __init__(self, d_model: int, heads: int, dropout: float):
        super().__init__()
        self.heads, self.dropout = heads, dropout
        self.norm1, self.norm2 = nn.LayerNorm(d_model), nn.LayerNorm(d_model)
        self.qkv = nn.Linear(d_model, 3 * d_model)
        self.proj = nn.Linear(d_model, d_model)
        self.mlp = nn.Sequential(nn.Linear(d_model, 4 * d_model), nn.GELU(), nn.Linear(4 * d_model, d_model))
        self.drop = nn.Dropout(dropout)

    def forward(self, x: torch.Tensor, cache: KVCache | None = None, layer: int = 0) -> torch.Tensor:
        """``x [B, T, d]``. With a ``cache`` holding earlier positions, ``T`` must be 1 (one new token
        attends to every earlier one, so no mask is needed); an empty cache takes any ``T``."""
        b, t, d = x.shape
        q, k, v = self.qkv(self.norm1(x)).view(b, t, 3, self.heads, d // self.heads).permute(2, 0, 3, 1, 4)
        causal = cache is None or cache.length == 0
        if cache is not None:
            if t != 1 and not causal:
                raise ValueError("with cached keys and values, feed one token at a time")
            k, v = cache.extend(layer, k, v)
        att = F.scaled_dot_product_attention(q, k, v, is_causal=causal and t > 1,
                                             dropout_p=self.dropout if self.training else 0.0)
        x = x + self.drop(self.proj(att.transpose(1, 2).reshape(b, t, d)))
        return x + self.drop(self.mlp(self.norm2(x)))


class _TransformerNet(nn.Module):
    """Token + learned position embeddings, causal decoder blocks, final norm, vocabulary head."""

    def __init__(self, vocab_size: int, d_model: int, layers: int, heads: int, max_len: int, dropout: float):
        super().__init__()
        self.max_len = max_len
        self.embed = nn.Embedding(vocab_size, d_model)
        self.pos = nn.Embedding(max_len, d_model)
        self.drop = nn.Dropout(dropout)
        self.blocks = nn.ModuleList(_DecoderBlock(d_model, heads, dropout) for _ in range(layers))
        self.norm = nn.LayerNorm(d_model)
        self.head = nn.Linear(d_model, vocab_size)

    def forward(self, ids: torch.Tensor, state: KVCache | None = None) -> tuple[torch.Tensor, KVCache | None]:
        """Logits for ``ids``; ``state`` caches every block's keys and values of the earlier positions
        (and receives those of ``ids``), so sampling feeds one new token per step instead of
        recomputing the whole prefix."""
        start = 0 if state is None else state.length
        h = self.drop(self.embed(ids) + self.pos(torch.arange(start, start + ids.shape[1], device=ids.device)))
        for i, block in enumerate(self.blocks):
            h = block(h, state, i)
        if state is not None:
            state.length += ids.shape[1]
        return self.head(self.norm(h)), state


class _RNNNet(nn.Module):
    """Token embedding, a stacked GRU or LSTM, vocabulary head; ``state`` is the RNN's hidden state."""

    def __init__(self, cell: str, vocab_size: int, d_model: int, layers: int, dropout: float):
        super().__init__()
        self.embed = nn.Embedding(vocab_size, d_model)
        self.drop = nn.Dropout(dropout)
        rnn = nn.GRU if cell == "gru" else nn.LSTM
        self.rnn = rnn(d_model, d_model, layers, batch_first=True, dropout=dropout if layers > 1 else 0.0)
        self.head = nn.Linear(d_model, vocab_size)

    def forward(self, ids: torch.Tensor, state: Any = None) -> tuple[torch.Tensor, Any]:
        h, state = self.rnn(self.drop(self.embed(ids)), state)
        return self.head(self.drop(h)), state


Constraint = Callable[[torch.Tensor], torch.Tensor]


@register_model("token-lm")
class TokenLM(GenerativeModel):
    """A next-token language model over id sequences ``<bos> t1 ... tn <eos> <pad>...``.

    ``arch="gru"``: an ``nn.GRU`` (Cho et al. 2014); ``"lstm"``: an ``nn.LSTM`` (the CharRNN of
    MOSES); ``arch="transformer"``: a causal decoder
    (pre-norm blocks, learned positional embeddings, Radford et al. 2019). Right padding needs no
    attention mask: under the causal mask a real token never attends to the pads after it.

    The loss is the mean next-token cross-entropy over non-pad targets; ``nll(x)`` sums it per
    sequence (nats). ``max_len`` bounds sequence length including ``<bos>`` and ``<eos>``.
    ``vocab`` optionally stores a ``Vocabulary.to_dict()`` in the config (``vocab_size`` then
    defaults to its size); ``self.vocabulary`` gives it back.
    """

    def __init__(self, *, vocab_size: int | None = None, arch: str = "gru", d_model: int = 128, layers: int = 2,
                 heads: int = 4, max_len: int = 128, dropout: float = 0.0, lr: float = 1e-3,
                 pad_id: int = 0, bos_id: int = 1, eos_id: int = 2, vocab: dict[str, Any] | None = None):
        super().__init__()
        self.vocabulary = Vocabulary.from_dict(vocab) if vocab is not None else None
        if vocab_size is None:
            if self.vocabulary is None:
                raise ValueError("give vocab_size or vocab")
            vocab_size = len(self.vocabulary)
        if self.vocabulary is not None and vocab_size != len(self.vocabulary):
            raise ValueError(f"vocab_size={vocab_size} but the vocabulary has {len(self.vocabulary)} tokens")
        if arch not in ARCHS:
            raise ValueError(f"arch must be one of {', '.join(ARCHS)}, got {arch!r}")
        if len({pad_id, bos_id, eos_id}) != 3 or not all(0 <= i < vocab_size for i in (pad_id, bos_id, eos_id)):
            raise ValueError(f"pad_id, bos_id, eos_id must be distinct ids below vocab_size={vocab_size}")
        if arch == "transformer" and d_model % heads:
            raise ValueError(f"d_model={d_model} must be divisible by heads={heads}")
        if min(d_model, layers, max_len) < 1 or max_len < 2:
            raise ValueError("d_model and layers must be >= 1 and max_len >= 2")
        if not 0.0 <= dropout < 1.0:
            raise ValueError(f"dropout must be in [0, 1), got {dropout}")
        self.vocab_size, self.arch, self.max_len, self.lr = vocab_size, arch, max_len, lr
        self.pad_id, self.bos_id, self.eos_id = pad_id, bos_id, eos_id
        self.net = (_TransformerNet(vocab_size, d_model, layers, heads, max_len, dropout) if arch == "transformer"
                    else _RNNNet(arch, vocab_size, d_model, layers, dropout))

    def forward(self, ids: torch.Tensor, state: Any = None) -> torch.Tensor:
        """Next-token logits ``[B, T, vocab]`` for ids ``[B, T]`` (position ``t`` predicts ``t + 1``)."""
        return self._run(ids, state)[0]

    def _run(self, ids: torch.Tensor, state: Any = None) -> tuple[torch.Tensor, Any]:
        """Logits and the state after ``ids`` (which continue from ``state``): the RNN's hidden state,
        or the transformer's key/value caches."""
        if self.arch == "transformer" and ids.shape[1] > self.max_len:
            raise ValueError(f"sequence length {ids.shape[1]} exceeds max_len={self.max_len}")
        return self.net(ids, state)

    def token_nll(self, x: torch.Tensor) -> torch.Tensor:
        """``[B, T-1]`` cross-entropy of each next token in nats; 0 where the target is pad."""
        logits = self(x[:, :-1]).float()
        return F.cross_entropy(logits.transpose(1, 2), x[:, 1:], ignore_index=self.pad_id, reduction="none")

    def nll(self, x: torch.Tensor) -> torch.Tensor:
        """Exact -log p(sequence) per row in nats (the ``<bos>`` is given, the ``<eos>`` is scored)."""
        return self.token_nll(x).sum(1)

    def make_optimizers(self) -> dict[str, torch.optim.Optimizer]:
        return {"model": torch.optim.Adam(self.parameters(), lr=self.lr)}

    def train_step(self, batch: tuple[torch.Tensor, ...], ctx: StepContext) -> dict[str, torch.Tensor]:
        x = batch[0]
        tokens = (x[:, 1:] != self.pad_id).sum().clamp(min=1)
        loss = self.token_nll(x).sum() / tokens
        ctx.optimize("model", loss)
        return {"loss": loss.detach()}

    # --- generation -------------------------------------------------------------------------------
    def _prefix(self, n: int, prefix: Sequence[int] | torch.Tensor | None) -> torch.Tensor:
        if prefix is None:
            return torch.full((n, 1), self.bos_id, dtype=torch.long, device=self.device)
        prefix = torch.as_tensor(prefix, dtype=torch.long, device=self.device)
        if prefix.dim() == 1:
            prefix = prefix.expand(n, -1)
        if prefix.dim() != 2 or len(prefix) != n:
            raise ValueError(f"prefix must be a list of ids or a [n={n}, t] tensor, got shape {tuple(prefix.shape)}")
        if prefix.shape[1] == 0 or not bool((prefix[:, 0] == self.bos_id).all()):
            prefix = torch.cat([torch.full((n, 1), self.bos_id, dtype=torch.long, device=self.device), prefix], 1)
        return prefix.clone()

    def sample(self, n: int, max_len: int | None = None, temperature: float = 1.0, top_k: int | None = None,
               constraint: Constraint | None = None, prefix: Sequence[int] | torch.Tensor | None = None) -> torch.Tensor:
        """Generate ``n`` sequences ``LongTensor [n, L]`` in the training format: ``<bos>`` first, then
        tokens up to ``<eos>``, ``<pad>`` after it. Stops when every row has emitted ``<eos>`` or ``L``
        reaches ``max_len`` (default ``self.max_len``; rows cut there have no ``<eos>``).

        ``temperature``: divides the logits; 0 means greedy. ``top_k``: keep the k likeliest tokens.
        ``prefix``: ids every row starts with (``<bos>`` is prepended unless present): a list, or a
        ``[n, t]`` tensor for a different prefix per row.
        ``constraint(prefix_ids [n, t]) -> BoolTensor [n, vocab]``: the ALLOWED next tokens of each
        row (constrained decoding, e.g. a grammar). It sees all ``n`` rows every step so row indices
        stay stable; rows that have already ended are included (their ids hold ``<eos>``/``<pad>``)
        and their answer is ignored. Disallowed tokens get logit -inf before temperature and top-k;
        an unfinished row with no allowed token raises ``ValueError``. ``<pad>`` and ``<bos>`` are
        never generated.
        """
        max_len = self.max_len if max_len is None else max_len
        if self.arch == "transformer" and max_len > self.max_len:
            raise ValueError(f"max_len={max_len} exceeds the transformer's max_len={self.max_len}")
        if temperature < 0:
            raise ValueError(f"temperature must be >= 0, got {temperature}")
        if top_k is not None and top_k < 1:
            raise ValueError(f"top_k must be >= 1, got {top_k}")
        seq = self._prefix(n, prefix)
        if seq.shape[1] > max_len:
            raise ValueError(f"the prefix ({seq.shape[1]} ids with <bos>) is longer than max_len={max_len}")
        never = torch.zeros(self.vocab_size, dtype=torch.bool, device=self.device)
        never[[self.pad_id, self.bos_id]] = True
        finished = (seq == self.eos_id).any(1)
        stuck_at = torch.full((n,), -1, dtype=torch.long, device=self.device)  # where a row's constraint allowed nothing
        with _SamplingMode(self):
            # RNN hidden state or transformer key/value cache: one token per step after this
            logits, state = self._run(seq, KVCache(max_len) if self.arch == "transformer" else None)
            logits = logits[:, -1].float()
            step = 0
            while seq.shape[1] < max_len:
                # a check reads the device: only every SYNC_EVERY steps, so the GPU is never left idle
                # waiting for the next step's kernels (ended rows meanwhile get pads)
                if step % SYNC_EVERY == 0:
                    self._raise_if_stuck(stuck_at)
                    if bool(finished.all()):
                        break
                step += 1
                allowed = ~never.expand(n, -1)
                if constraint is not None:
                    allowed = allowed & self._check_constraint(constraint(seq), n)
                    stuck = ~allowed.any(1) & ~finished
                    stuck_at = torch.where(stuck & (stuck_at < 0), seq.shape[1], stuck_at)
                allowed = allowed | finished[:, None]  # ended rows get pad below; keep their softmax finite
                nxt = self._pick(logits.masked_fill(~allowed, float("-inf")), temperature, top_k)
                nxt = torch.where(finished, torch.full_like(nxt, self.pad_id), nxt)
                seq = torch.cat([seq, nxt[:, None]], 1)
                finished = finished | (nxt == self.eos_id)
                if seq.shape[1] < max_len:
                    logits, state = self._run(nxt[:, None], state)
                    logits = logits[:, -1].float()
            self._raise_if_stuck(stuck_at)
        # the columns after the last row ended hold only pads: as if the loop had stopped right there
        return seq[:, :int((seq != self.pad_id).any(0).nonzero().max()) + 1]

    @staticmethod
    def _raise_if_stuck(stuck_at: torch.Tensor) -> None:
        if bool((stuck_at >= 0).any()):
            rows = (stuck_at >= 0).nonzero().squeeze(1).tolist()
            raise ValueError(f"the constraint allows no next token for row(s) {rows[:10]} "
                             f"at position {int(stuck_at[rows[0]])}")

    def _check_constraint(self, allowed: torch.Tensor, n: int) -> torch.Tensor:
        allowed = torch.as_tensor(allowed, device=self.device)
        if allowed.dtype != torch.bool or tuple(allowed.shape) != (n, self.vocab_size):
            raise ValueError(f"constraint must return a BoolTensor of shape ({n}, {self.vocab_size}), "
                             f"got {allowed.dtype} {tuple(allowed.shape)}")
        return allowed

    @staticmethod
    def _pick(logits: torch.Tensor, temperature: float, top_k: int | None) -> torch.Tensor:
        if top_k is not None and top_k < logits.shape[1]:
            kth = logits.topk(top_k, dim=1).values[:, -1:]
            logits = logits.masked_fill(logits < kth, float("-inf"))
        if temperature == 0:
            return logits.argmax(1)
        # Gumbel-max: argmax(logits / T + Gumbel noise) is a draw from softmax(logits / T), without
        # torch.multinomial's wait on the GPU (and several times faster on a CPU); -inf stays -inf
        noise = -torch.log(-torch.log(torch.rand_like(logits).clamp_(min=torch.finfo(logits.dtype).tiny)))
        return (logits / temperature + noise).argmax(1)
