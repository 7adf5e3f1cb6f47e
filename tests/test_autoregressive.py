"""Autoregressive models: causality, exact normalised likelihoods, learning, sampling, constraints."""

from __future__ import annotations

import itertools
import math

import pytest
import torch

from gensdk.core.autoregressive import MADE, KVCache, PixelCNN, TokenLM
from gensdk.core.data import load_dataset
from gensdk.core.model import build_model, load_model
from gensdk.core.nn.masked import MaskedConv2d, MaskedLinear
from gensdk.core.tokens import SMILES_PATTERN, Vocabulary
from gensdk.core.trainer import TrainConfig, Trainer


@pytest.fixture(autouse=True)
def _seed_and_one_thread():
    # Tiny nets gain nothing from intra-op threads, and when test files run side by side on a small
    # machine OpenMP oversubscription makes them several times slower.
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    torch.manual_seed(0)
    yield
    torch.set_num_threads(threads)


def train(model, data, steps, batch_size=64):
    cfg = TrainConfig(steps=steps, batch_size=batch_size, device="cpu", progress=False, log_every=steps,
                      checkpoint_every=steps)
    return Trainer(model, data, cfg).fit()


def all_binary(shape):
    """Every binary tensor of ``shape``, stacked: [2**prod(shape), *shape]."""
    n = math.prod(shape)
    return torch.tensor(list(itertools.product([0.0, 1.0], repeat=n))).view(-1, *shape)


# --- masked layers ---------------------------------------------------------------------------------
def test_masked_linear_mask_zeroes_weight_and_gradient():
    layer = MaskedLinear(3, 2, mask=torch.tensor([[1.0, 0, 0], [1, 1, 0]]))
    x = torch.randn(4, 3, requires_grad=True)
    layer(x).sum().backward()
    assert torch.all(x.grad[:, 2] == 0)
    assert torch.all(layer.weight.grad[0, 1:] == 0) and torch.all(layer.weight.grad[1, 2] == 0)
    assert "mask" in layer.state_dict()


def test_masked_conv_masks():
    a = MaskedConv2d("A", 1, 1, 3).mask[0, 0]
    b = MaskedConv2d("B", 1, 1, 3).mask[0, 0]
    assert a.tolist() == [[1, 1, 1], [1, 0, 0], [0, 0, 0]]
    assert b.tolist() == [[1, 1, 1], [1, 1, 0], [0, 0, 0]]
    # three data channels (R, G, B) with one feature map each: the centre is strictly / weakly lower triangular
    a3 = MaskedConv2d("A", 3, 3, 3, data_channels=3).mask[:, :, 1, 1]
    b3 = MaskedConv2d("B", 3, 3, 3, data_channels=3).mask[:, :, 1, 1]
    assert torch.equal(a3, torch.tril(torch.ones(3, 3), -1))
    assert torch.equal(b3, torch.tril(torch.ones(3, 3)))
    with pytest.raises(ValueError):
        MaskedConv2d("C", 1, 1, 3)


# --- MADE ------------------------------------------------------------------------------------------
@pytest.mark.parametrize("natural", [True, False])
def test_made_autoregressive_property(natural):
    model = MADE(data_shape=[7], hidden=[20, 20], num_masks=3, natural_ordering=natural, seed=1)
    for k in range(3):
        order = model.orders[k]
        jac = torch.autograd.functional.jacobian(lambda x: model(x, k).sum(0), torch.rand(5, 7))  # [7, 5, 7]
        depends = jac.abs().sum(1) > 0  # depends[i, j]: output i moves with input j
        allowed = order[None, :] < order[:, None]
        assert not torch.any(depends & ~allowed), f"mask {k} leaks the future"
        assert depends.any()
    if natural:
        assert torch.equal(model.orders[0], torch.arange(7))


@pytest.mark.parametrize("num_masks", [1, 4])
def test_made_nll_is_normalised(num_masks):
    model = MADE(data_shape=[3], hidden=[16, 16], num_masks=num_masks, seed=2)
    with torch.no_grad():
        for p in model.parameters():
            p.normal_(0, 1.0)  # a non-trivial distribution
        total = torch.exp(-model.nll(all_binary((3,)))).sum()
    assert abs(total.item() - 1.0) < 1e-5


def test_made_learns_digits_and_samples(tmp_path):
    data = load_dataset("digits", split="train").x
    test = load_dataset("digits", split="test").x
    model = MADE(data_shape=[1, 8, 8], hidden=[128, 128], lr=3e-3)
    with torch.no_grad():
        before = model.nll(test).mean().item()
    train(model, data, steps=200)
    with torch.no_grad():
        after = model.nll(test).mean().item()
    assert abs(before - 64 * math.log(2)) < 5  # an untrained model is near the uniform 64 ln 2 = 44.4 nats
    assert after < 0.6 * 64 * math.log(2), after  # about 22 nats here
    samples = model.sample(5)
    assert samples.shape == (5, 1, 8, 8) and set(samples.unique().tolist()) <= {0.0, 1.0}
    model.save(tmp_path / "made")
    loaded = load_model(tmp_path / "made")
    assert torch.allclose(loaded.nll(test[:10]), model.nll(test[:10]).detach(), atol=1e-5)


def test_made_order_agnostic_training_runs():
    data = load_dataset("digits", split="train").x
    model = build_model("made", data_shape=[1, 8, 8], hidden=[64], num_masks=3)
    train(model, data, steps=6)
    assert model.sample(4).shape == (4, 1, 8, 8)
    assert torch.isfinite(model.nll(data[:8])).all()


# --- PixelCNN --------------------------------------------------------------------------------------
@pytest.mark.parametrize("channels,levels", [(1, 2), (3, 4)])
def test_pixelcnn_causality(channels, levels):
    model = PixelCNN(channels=channels, levels=levels, filters=12, layers=3)
    h = w = 5
    x = torch.randint(levels, (1, channels, h, w)).float() / (levels - 1)
    base = model(x)
    for i, j, c in [(0, 0, 0), (2, 3, 0), (2, 2, channels - 1), (4, 4, 0)]:
        y = x.clone()
        y[0, c, i, j] = 1.0 - y[0, c, i, j]
        changed = (model(y) - base).abs().amax(2)[0] > 1e-6  # [channels, H, W]
        for cc, ii, jj in itertools.product(range(channels), range(h), range(w)):
            earlier = (ii, jj) < (i, j) or ((ii, jj) == (i, j) and cc <= c)
            if earlier:
                assert not changed[cc, ii, jj], f"sub-pixel {(cc, ii, jj)} sees the later {(c, i, j)}"
        if (i, j, c) != (h - 1, w - 1, channels - 1):
            assert changed.any(), "a sub-pixel influences nothing after it"


@pytest.mark.parametrize("channels,size", [(1, (2, 2)), (2, (1, 2))])
def test_pixelcnn_nll_is_normalised(channels, size):
    model = PixelCNN(channels=channels, levels=2, filters=8, layers=2)
    with torch.no_grad():
        for p in model.parameters():
            p.normal_(0, 0.5)
        total = torch.exp(-model.nll(all_binary((channels, *size)))).sum()
    assert abs(total.item() - 1.0) < 1e-5


def test_pixelcnn_learns_digits_and_samples():
    data = load_dataset("digits", split="train").x
    test = load_dataset("digits", split="test").x
    model = build_model("pixelcnn", filters=16, layers=3, lr=3e-3)
    train(model, data, steps=150)
    with torch.no_grad():
        after = model.nll(test).mean().item()
    assert after < 0.6 * 64 * math.log(2), after  # about 21 nats here
    samples = model.sample(3, size=(4, 5))
    assert samples.shape == (3, 1, 4, 5) and set(samples.unique().tolist()) <= {0.0, 1.0}
    assert model.sample(2).shape == (2, 1, 8, 8)


def test_pixelcnn_256_levels_quantises():
    model = PixelCNN(levels=256, filters=8, layers=1)
    x = torch.rand(2, 1, 3, 3)
    assert torch.allclose(model.nll(x), model.nll((x * 255).round().to(torch.uint8)))
    assert model.sample(1, size=(2, 2)).shape == (1, 1, 2, 2)


# --- TokenLM ---------------------------------------------------------------------------------------
ABC = Vocabulary(list("abc"))


@pytest.mark.parametrize("arch", ["gru", "lstm", "transformer"])
def test_token_lm_learns_deterministic_language(arch):
    data = ABC.encode_batch(["abcabcab"] * 64, max_len=12)
    model = TokenLM(vocab=ABC.to_dict(), arch=arch, d_model=32, layers=1, heads=2, max_len=12, lr=1e-2)
    train(model, data, steps=120, batch_size=32)
    with torch.no_grad():
        per_seq = model.nll(data[:4])
    assert per_seq.max().item() < 0.1, per_seq
    out = model.sample(4, temperature=0)
    assert [ABC.decode(row) for row in out] == ["abcabcab"] * 4
    assert out.shape == (4, 10) and torch.all(out[:, 0] == ABC.bos_id) and torch.all(out[:, -1] == ABC.eos_id)
    # a prefix is continued
    cont = model.sample(2, temperature=0, prefix=ABC.encode("abca"))
    assert ABC.decode(cont[0]) == "abcabcab"


@pytest.mark.parametrize("arch", ["gru", "lstm", "transformer"])
def test_token_lm_sampling_shapes_and_constraint(arch):
    model = TokenLM(vocab_size=8, arch=arch, d_model=16, layers=2, heads=2, max_len=10)
    for kw in [{}, {"temperature": 0.5}, {"top_k": 1}, {"top_k": 3, "temperature": 2.0}, {"max_len": 5}]:
        out = model.sample(6, **kw)
        assert out.dtype == torch.long and out.shape[0] == 6 and 2 <= out.shape[1] <= kw.get("max_len", 10)
        assert torch.all(out[:, 0] == 1)
        # after an eos only pads
        for row in out.tolist():
            if 2 in row:
                assert all(t == 0 for t in row[row.index(2) + 1:])
        assert not torch.any(out[:, 1:] == 1)  # bos is never generated

    a, eos = 5, 2
    seen_widths = []

    def only_a_or_eos(prefix):
        seen_widths.append(prefix.shape[1])
        allowed = torch.zeros(len(prefix), 8, dtype=torch.bool)
        allowed[:, [a, eos]] = True
        return allowed

    out = model.sample(16, constraint=only_a_or_eos, top_k=2, temperature=1.5)
    assert set(out[:, 1:].unique().tolist()) <= {a, eos, 0}
    assert seen_widths[:2] == [1, 2]

    def nothing(prefix):
        return torch.zeros(len(prefix), 8, dtype=torch.bool)

    with pytest.raises(ValueError, match=r"no next token for row\(s\) \[0, 1\] at position 1"):
        model.sample(2, constraint=nothing)

    def late(prefix):  # row 1 runs out of choices at position 3 (the check happens steps later)
        allowed = torch.ones(len(prefix), 8, dtype=torch.bool)
        allowed[:, 2] = False
        if prefix.shape[1] >= 3:
            allowed[1] = False
        return allowed

    with pytest.raises(ValueError, match=r"row\(s\) \[1\] at position 3"):
        model.sample(2, constraint=late)
    with pytest.raises(ValueError):
        model.sample(2, constraint=lambda p: torch.ones(len(p), 3, dtype=torch.bool))


def test_token_lm_draws_follow_the_softmax():
    """The Gumbel-max draw: 40,000 draws of three tokens at two temperatures, and a forbidden (-inf) one."""
    torch.manual_seed(0)
    logits = torch.tensor([[0.0, 1.0, 2.0, float("-inf")]]).expand(40000, -1)
    for temperature in (1.0, 0.5):
        drawn = TokenLM._pick(logits, temperature, None)
        freq = torch.bincount(drawn, minlength=4).double() / len(drawn)
        expected = torch.softmax(logits[0] / temperature, 0).double()
        assert freq[3] == 0 and torch.allclose(freq, expected, atol=0.01), (freq, expected)
    assert TokenLM._pick(logits[:5], 0, None).tolist() == [2] * 5


def test_token_lm_constraint_ignores_finished_rows():
    model = TokenLM(vocab_size=6, d_model=8, layers=1, max_len=8)

    def even_rows_end_first(prefix):  # once a row has ended, allow nothing: that must not raise
        allowed = torch.zeros(len(prefix), 6, dtype=torch.bool)
        ended = (prefix == 2).any(1)
        if prefix.shape[1] == 1:
            allowed[0::2, 2] = True  # even rows: eos now
            allowed[1::2, 4] = True  # odd rows: one token, then eos
        else:
            allowed[~ended, 2] = True
        return allowed

    out = model.sample(8, constraint=even_rows_end_first)
    assert out[0::2].tolist() == [[1, 2, 0]] * 4
    assert out[1::2].tolist() == [[1, 4, 2]] * 4


def test_transformer_is_causal():
    model = TokenLM(vocab_size=10, arch="transformer", d_model=16, layers=2, heads=4, max_len=12).eval()
    x = torch.randint(3, 10, (2, 9))
    y = x.clone()
    y[:, 5:] = torch.randint(3, 10, (2, 4))
    y[:, 5] = (x[:, 5] + 1 - 3) % 7 + 3  # surely different at position 5
    lx, ly = model(x), model(y)
    assert torch.allclose(lx[:, :5], ly[:, :5], atol=1e-6)
    assert not torch.allclose(lx[:, 5:], ly[:, 5:], atol=1e-4)


@pytest.mark.parametrize("arch", ["lstm", "transformer"])
def test_incremental_state_gives_the_full_forward_logits(arch):
    """Sampling feeds one token at a time with the RNN state / transformer KV cache: the logits must
    equal those of one forward pass over the whole sequence."""
    torch.manual_seed(0)
    model = TokenLM(vocab_size=10, arch=arch, d_model=16, layers=2, heads=4, max_len=12).eval()
    x = torch.randint(3, 10, (3, 9))
    with torch.no_grad():
        full = model(x)
        logits, state = model._run(x[:, :4], KVCache(12) if arch == "transformer" else None)
        steps = [logits]
        for t in range(4, 9):
            logits, state = model._run(x[:, t:t + 1], state)
            steps.append(logits)
    assert torch.allclose(torch.cat(steps, 1), full, atol=1e-5)


def test_token_lm_nll_ignores_padding_and_saves_vocab(tmp_path):
    model = TokenLM(vocab=ABC.to_dict(), arch="transformer", d_model=16, layers=1, heads=2, max_len=16)
    short = ABC.encode_batch(["ab"])
    padded = ABC.encode_batch(["ab"], max_len=9)
    with torch.no_grad():
        assert torch.allclose(model.nll(short), model.nll(padded), atol=1e-5)
    model.save(tmp_path / "lm")
    loaded = load_model(tmp_path / "lm")
    assert loaded.vocabulary == ABC and loaded.vocab_size == len(ABC)
    with torch.no_grad():
        assert torch.allclose(loaded.nll(padded), model.nll(padded), atol=1e-5)
    with pytest.raises(ValueError):
        TokenLM(vocab_size=5, vocab=ABC.to_dict())


# --- Vocabulary ------------------------------------------------------------------------------------
def test_vocabulary_round_trip():
    texts = ["hello", "world!"]
    vocab = Vocabulary.build(texts)
    assert vocab.id_to_token[:4] == ["<pad>", "<bos>", "<eos>", "<unk>"]
    assert len(vocab) == 4 + len(set("helloworld!"))
    for t in texts:
        assert vocab.decode(vocab.encode(t)) == t
    assert vocab.encode("hz")[1] == vocab.unk_id
    batch = vocab.encode_batch(texts, max_len=10)
    assert batch.shape == (2, 10) and batch.dtype == torch.long
    assert batch[0].tolist()[:7] == [1, *vocab.encode("hello"), 2] and batch[0, 7:].tolist() == [0, 0, 0]
    assert vocab.decode_batch(batch) == texts
    assert vocab.decode([1, *vocab.encode("he"), 2, *vocab.encode("llo")]) == "he"  # stops at eos
    with pytest.raises(ValueError):
        vocab.encode_batch(["hello world"], max_len=5)
    again = Vocabulary.from_dict(vocab.to_dict())
    assert again == vocab and again.encode("world") == vocab.encode("world")
    import json
    assert Vocabulary.from_dict(json.loads(json.dumps(vocab.to_dict()))) == vocab


def test_vocabulary_regex_and_token_lists():
    vocab = Vocabulary.build(["CCBr", "c1ccccc1Cl", "[NH4+]"], pattern=SMILES_PATTERN)
    assert vocab.tokenize("c1ccccc1Cl") == ["c", "1", "c", "c", "c", "c", "c", "1", "Cl"]
    assert "[NH4+]" in vocab and "Br" in vocab and "B" not in vocab
    assert vocab.decode(vocab.encode("CC[NH4+]Br")) == "CC[NH4+]Br"
    assert Vocabulary.from_dict(vocab.to_dict()).tokenize("[NH4+]Cl") == ["[NH4+]", "Cl"]
    words = Vocabulary(["conv3x3", "relu", "pool"], sep=" ")
    assert words.decode(words.encode(["conv3x3", "relu"])) == "conv3x3 relu"
    with pytest.raises(ValueError):
        Vocabulary(["<pad>"])
    with pytest.raises(ValueError):
        Vocabulary(pattern="(")
