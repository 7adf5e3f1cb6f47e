"""Token vocabularies for sequence models: characters, a given token list, or a regex tokenizer.

Ids 0..3 are always the specials ``<pad>``, ``<bos>``, ``<eos>``, ``<unk>``, matching ``TokenLM``'s
defaults (``pad_id=0, bos_id=1, eos_id=2``). ``to_dict()`` is plain JSON, so a model can keep its
vocabulary in its config and ``save``/``load`` round-trip it.
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Iterable, Sequence
from typing import Any

import numpy as np
import torch

PAD, BOS, EOS, UNK = "<pad>", "<bos>", "<eos>", "<unk>"
SPECIALS = (PAD, BOS, EOS, UNK)
PAD_ID, BOS_ID, EOS_ID, UNK_ID = range(4)

# The SMILES tokenizer of Schwaller et al. 2019 ("Molecular Transformer"): bracket atoms,
# two-letter elements (Br, Cl), ring-bond numbers (%12) and bond symbols are single tokens.
SMILES_PATTERN = (r"(\[[^\]]+]|Br?|Cl?|N|O|S|P|F|I|b|c|n|o|s|p|\(|\)|\.|=|#|-|\+|\\|\/|:|~|@|\?|>|\*|\$"
                  r"|%[0-9]{2}|[0-9])")


class Vocabulary:
    """Maps tokens to ids and back.

    ``tokens``: the ordinary tokens (ids 4, 5, ...). ``pattern``: an optional regex whose matches are
    the tokens of a text (e.g. ``SMILES_PATTERN``); text between matches becomes one token per
    character, so nothing is silently dropped. Without a pattern a text is split into characters.
    ``sep`` joins tokens in ``decode`` ("" for characters and SMILES, " " for words).
    ``encode``/``encode_batch`` also accept already-tokenised texts (lists of tokens).
    """

    def __init__(self, tokens: Iterable[str] = (), pattern: str | None = None, sep: str = ""):
        tokens = list(tokens)
        clash = [t for t in tokens if t in SPECIALS]
        if clash:
            raise ValueError(f"token {clash[0]!r} is reserved for a special token")
        if len(set(tokens)) != len(tokens):
            dup = next(t for t in tokens if tokens.count(t) > 1)
            raise ValueError(f"token {dup!r} appears twice in the vocabulary")
        if pattern is not None:
            try:
                self._regex = re.compile(pattern)
            except re.error as err:
                raise ValueError(f"bad tokenizer pattern {pattern!r}: {err}") from None
        else:
            self._regex = None
        self.pattern = pattern
        self.sep = sep
        self.id_to_token: list[str] = [*SPECIALS, *tokens]
        self.token_to_id: dict[str, int] = {t: i for i, t in enumerate(self.id_to_token)}

    # --- construction ---------------------------------------------------------------------------
    @classmethod
    def build(cls, texts: Iterable[str | Sequence[str]], pattern: str | None = None, sep: str = "",
              min_count: int = 1) -> "Vocabulary":
        """Every token seen at least ``min_count`` times in ``texts``, sorted (so the ids do not depend
        on the order of the texts)."""
        probe = cls(pattern=pattern, sep=sep)
        counts: dict[str, int] = {}
        for text in texts:
            for tok in probe.tokenize(text):
                counts[tok] = counts.get(tok, 0) + 1
        return cls(sorted(t for t, c in counts.items() if c >= min_count and t not in SPECIALS),
                   pattern=pattern, sep=sep)

    def to_dict(self) -> dict[str, Any]:
        return {"tokens": self.id_to_token[len(SPECIALS):], "pattern": self.pattern, "sep": self.sep}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "Vocabulary":
        return cls(data["tokens"], pattern=data.get("pattern"), sep=data.get("sep", ""))

    # --- ids --------------------------------------------------------------------------------------
    pad_id, bos_id, eos_id, unk_id = PAD_ID, BOS_ID, EOS_ID, UNK_ID

    def __len__(self) -> int:
        return len(self.id_to_token)

    def __contains__(self, token: str) -> bool:
        return token in self.token_to_id

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Vocabulary) and self.to_dict() == other.to_dict()

    def __repr__(self) -> str:
        return f"Vocabulary({len(self)} ids, pattern={self.pattern!r})"

    def tokenize(self, text: str | Sequence[str]) -> list[str]:
        if not isinstance(text, str):
            return list(text)  # already tokens
        if self._regex is None:
            return list(text)
        if self._regex.groups <= 1:  # fast path: when the matches tile the whole text they are the tokens
            found = self._regex.findall(text)
            if sum(map(len, found)) == len(text):
                return found
        out: list[str] = []
        pos = 0
        for match in self._regex.finditer(text):
            out.extend(text[pos:match.start()])  # unmatched characters, one token each
            if match.group(0):
                out.append(match.group(0))
            pos = match.end()
        out.extend(text[pos:])
        return out

    def encode(self, text: str | Sequence[str], add_bos_eos: bool = False) -> list[int]:
        """Token ids of ``text``; unknown tokens map to ``<unk>``."""
        ids = [self.token_to_id.get(t, UNK_ID) for t in self.tokenize(text)]
        return [BOS_ID, *ids, EOS_ID] if add_bos_eos else ids

    def decode_tokens(self, ids: Iterable[int] | torch.Tensor) -> list[str]:
        """Tokens of ``ids`` up to the first ``<eos>``, specials left out."""
        if isinstance(ids, torch.Tensor):
            ids = ids.tolist()
        out = []
        for i in ids:
            if i == EOS_ID:
                break
            if i >= len(SPECIALS):
                if i >= len(self.id_to_token):
                    raise ValueError(f"id {i} is outside the vocabulary of {len(self)} ids")
                out.append(self.id_to_token[i])
        return out

    def decode(self, ids: Iterable[int] | torch.Tensor) -> str:
        return self.sep.join(self.decode_tokens(ids))

    def encode_batch(self, texts: Sequence[str | Sequence[str]], max_len: int | None = None) -> torch.Tensor:
        """``LongTensor [N, T]``: each row ``<bos> ... <eos>`` then ``<pad>``. ``T`` is ``max_len`` when
        given (fixed shapes suit compiled models), else the longest row. A text that does not fit
        raises ``ValueError`` rather than losing its ``<eos>``."""
        lookup = self.token_to_id.get
        rows = [[lookup(t, UNK_ID) for t in self.tokenize(text)] for text in texts]
        lengths = np.fromiter((len(r) + 2 for r in rows), dtype=np.int64, count=len(rows))
        longest = int(lengths.max()) if len(rows) else 2
        width = longest if max_len is None else max_len
        if longest > width:
            i = int(np.argmax(lengths > width))
            raise ValueError(f"text {i} needs {lengths[i]} ids with <bos> and <eos>, more than max_len={width}")
        out = np.full((len(rows), width), PAD_ID, dtype=np.int64)
        out[:, 0] = BOS_ID
        out[np.arange(len(rows)), lengths - 1] = EOS_ID
        if len(rows):  # every row's tokens in one scatter: column j of row i for j in 1..len-2
            row_of = np.repeat(np.arange(len(rows)), lengths - 2)
            col_of = np.arange(len(row_of)) - np.repeat(np.cumsum(lengths - 2) - (lengths - 2), lengths - 2) + 1
            out[row_of, col_of] = np.fromiter(itertools.chain.from_iterable(rows), dtype=np.int64, count=len(row_of))
        return torch.from_numpy(out)

    def decode_batch(self, ids: torch.Tensor) -> list[str]:
        return [self.decode(row) for row in ids.tolist()]
