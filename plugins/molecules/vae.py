"""A SMILES variational autoencoder (Gomez-Bombarelli et al. 2018) in the layout of the MOSES VAE:
a bidirectional GRU encoder to a Gaussian latent, and a GRU decoder that reads the latent at every
step. Its latent space is what ``search.latent_optimize`` moves through.

The loss is MOSES's: the mean next-token cross-entropy plus ``kl_weight`` times the KL divergence
(summed over latent dimensions, averaged over the batch), with ``kl_weight`` rising linearly from 0
to ``kl_max`` over the first ``kl_warmup`` fraction of training (KL annealing, Bowman et al. 2016).

A strong autoregressive decoder can ignore z altogether (posterior collapse: the KL goes to 0 and
every latent point decodes to the same molecule), which makes the latent space useless for search.
Two standard remedies are options: ``word_dropout`` replaces that fraction of the decoder's input
tokens by ``<unk>`` (Bowman et al. 2016), so the decoder must lean on z; ``free_bits`` is a floor in
nats per latent dimension below which the KL is not penalized (Kingma et al. 2016).
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from gensdk.core.model import GenerativeModel, StepContext, register_model
from gensdk.core.tokens import Vocabulary


@register_model("smiles-vae")
class SmilesVAE(GenerativeModel):
    def __init__(self, *, vocab: dict[str, Any], embed_dim: int = 64, encoder_dim: int = 256, latent_dim: int = 128,
                 decoder_dim: int = 512, decoder_layers: int = 3, dropout: float = 0.0, kl_max: float = 0.05,
                 kl_warmup: float = 0.5, lr: float = 3e-4, max_len: int = 100, word_dropout: float = 0.0,
                 free_bits: float = 0.0):
        super().__init__()
        self.vocabulary = Vocabulary.from_dict(vocab)
        if min(embed_dim, encoder_dim, latent_dim, decoder_dim, decoder_layers) < 1 or max_len < 3:
            raise ValueError("sizes must be >= 1 and max_len >= 3")
        if kl_max < 0 or not 0 <= kl_warmup <= 1:
            raise ValueError("kl_max must be >= 0 and kl_warmup in [0, 1]")
        if not 0 <= word_dropout < 1 or free_bits < 0:
            raise ValueError("word_dropout must be in [0, 1) and free_bits >= 0")
        self.word_dropout, self.free_bits = word_dropout, free_bits
        self.vocab_size, self.max_len, self.latent_dim = len(self.vocabulary), max_len, latent_dim
        self.kl_max, self.kl_warmup, self.lr = kl_max, kl_warmup, lr
        self.pad_id, self.bos_id, self.eos_id = self.vocabulary.pad_id, self.vocabulary.bos_id, self.vocabulary.eos_id
        self.embed = nn.Embedding(self.vocab_size, embed_dim, padding_idx=self.pad_id)
        self.encoder = nn.GRU(embed_dim, encoder_dim, batch_first=True, bidirectional=True)
        self.to_posterior = nn.Linear(2 * encoder_dim, 2 * latent_dim)
        self.to_hidden = nn.Linear(latent_dim, decoder_dim * decoder_layers)
        self.decoder = nn.GRU(embed_dim + latent_dim, decoder_dim, decoder_layers, batch_first=True,
                              dropout=dropout if decoder_layers > 1 else 0.0)
        self.head = nn.Linear(decoder_dim, self.vocab_size)
        self.decoder_layers, self.decoder_dim = decoder_layers, decoder_dim

    # --- the two halves ---------------------------------------------------------------------------
    def posterior(self, ids: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Mean and log-variance of q(z | x) for ids ``[B, T]`` (``<bos> ... <eos> <pad>...``)."""
        lengths = (ids != self.pad_id).sum(1).clamp(min=1).cpu()
        packed = nn.utils.rnn.pack_padded_sequence(self.embed(ids), lengths, batch_first=True, enforce_sorted=False)
        _, h = self.encoder(packed)  # [2, B, H]: the last state of each direction
        mu, log_var = self.to_posterior(torch.cat([h[0], h[1]], 1)).chunk(2, 1)
        return mu, log_var

    def _initial_state(self, z: torch.Tensor) -> torch.Tensor:
        return self.to_hidden(z).view(len(z), self.decoder_layers, self.decoder_dim).transpose(0, 1).contiguous()

    def _decode_step(self, ids: torch.Tensor, z: torch.Tensor, state: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        x = torch.cat([self.embed(ids), z[:, None].expand(-1, ids.shape[1], -1)], 2)
        h, state = self.decoder(x, state)
        return self.head(h), state

    def token_nll(self, ids: torch.Tensor, z: torch.Tensor) -> torch.Tensor:
        """``[B, T-1]`` cross-entropy of each next token given z (teacher forcing); 0 on pads. In
        training, ``word_dropout`` of the decoder's inputs (never ``<bos>``) are hidden as ``<unk>``."""
        inputs = ids[:, :-1]
        if self.training and self.word_dropout > 0:
            hide = torch.rand(inputs.shape, device=inputs.device) < self.word_dropout
            hide[:, 0] = False
            inputs = inputs.masked_fill(hide & (inputs != self.pad_id), self.vocabulary.unk_id)
        logits, _ = self._decode_step(inputs, z, self._initial_state(z))
        return F.cross_entropy(logits.float().transpose(1, 2), ids[:, 1:], ignore_index=self.pad_id, reduction="none")

    # --- training ---------------------------------------------------------------------------------
    def make_optimizers(self) -> dict[str, torch.optim.Optimizer]:
        return {"model": torch.optim.Adam(self.parameters(), lr=self.lr)}

    def kl_weight(self, step: int, total: int) -> float:
        ramp = self.kl_warmup * total
        return self.kl_max if ramp <= 0 else self.kl_max * min(1.0, step / ramp)

    def train_step(self, batch: tuple[torch.Tensor, ...], ctx: StepContext) -> dict[str, torch.Tensor]:
        ids = batch[0]
        mu, log_var = self.posterior(ids)
        z = mu + torch.randn_like(mu) * torch.exp(0.5 * log_var)
        tokens = (ids[:, 1:] != self.pad_id).sum().clamp(min=1)
        recon = self.token_nll(ids, z).sum() / tokens
        kl_per_dim = 0.5 * (mu.float().pow(2) + log_var.float().exp() - 1 - log_var.float()).mean(0)
        kl = kl_per_dim.sum()
        penalized = kl_per_dim.clamp(min=self.free_bits).sum() if self.free_bits else kl
        loss = recon + self.kl_weight(ctx.step, ctx.total_steps) * penalized
        ctx.optimize("model", loss)
        return {"loss": loss.detach(), "recon": recon.detach(), "kl": kl.detach()}

    # --- generation -------------------------------------------------------------------------------
    @torch.no_grad()
    def decode(self, z: torch.Tensor, temperature: float = 1.0, max_len: int | None = None) -> torch.Tensor:
        """Ids ``[n, L]`` decoded from latents ``z`` (``temperature=0``: greedy, the usual choice for
        reconstruction and latent optimization)."""
        max_len = max_len or self.max_len
        z = z.to(self.device, torch.float32)
        n = len(z)
        state = self._initial_state(z)
        seq = torch.full((n, 1), self.bos_id, dtype=torch.long, device=self.device)
        finished = torch.zeros(n, dtype=torch.bool, device=self.device)
        banned = torch.zeros(self.vocab_size, dtype=torch.bool, device=self.device)
        banned[[self.pad_id, self.bos_id]] = True
        while seq.shape[1] < max_len and not bool(finished.all()):
            logits, state = self._decode_step(seq[:, -1:], z, state)
            logits = logits[:, -1].float().masked_fill(banned, float("-inf"))
            nxt = (logits.argmax(1) if temperature == 0
                   else torch.multinomial((logits / temperature).softmax(1), 1).squeeze(1))
            nxt = torch.where(finished, torch.full_like(nxt, self.pad_id), nxt)
            seq = torch.cat([seq, nxt[:, None]], 1)
            finished |= nxt == self.eos_id
        return seq

    @torch.no_grad()
    def sample(self, n: int, temperature: float = 1.0, **_: Any) -> torch.Tensor:
        return self.decode(torch.randn(n, self.latent_dim, device=self.device), temperature)

    @torch.no_grad()
    def encode(self, ids: torch.Tensor) -> torch.Tensor:
        """The posterior mean of each sequence: its point in latent space."""
        return self.posterior(ids.to(self.device))[0]
