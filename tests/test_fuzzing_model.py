"""The C Transformer (tiny, on CPU): bracket-balanced sampling, encoding, training that lowers the
held-out NLL, save/load; and generate_programs, which writes a fuzzer's seed folder and dictionary."""

import random
import shutil
import subprocess
from pathlib import Path

import pytest
import torch

pytest.importorskip("tree_sitter_c")

from gensdk.core.model import save_model  # noqa: E402
from gensdk.core.tokens import BOS_ID, EOS_ID, PAD_ID, Vocabulary  # noqa: E402
from gensdk.core.trainer import TrainConfig  # noqa: E402
from gensdk.errors import UserError  # noqa: E402
from gensdk_plugins.fuzzing.dictionary import frequent_tokens, read_dictionary  # noqa: E402
from gensdk_plugins.fuzzing.generate import MAX_BARREN, generate_programs  # noqa: E402
from gensdk_plugins.fuzzing.lexer import tokenize  # noqa: E402
from gensdk_plugins.fuzzing.model import BracketBalance, CodeModel  # noqa: E402
from gensdk_plugins.fuzzing.program import generated_part  # noqa: E402

needs_gcc = pytest.mark.skipif(not shutil.which("gcc"), reason="needs gcc")
CLOSER = {"(": ")", "[": "]", "{": "}"}


def nested(tokens) -> bool:
    """Every bracket closes the last one opened, and all are closed at the end."""
    stack = []
    for tok in tokens:
        if tok in CLOSER:
            stack.append(CLOSER[tok])
        elif tok in CLOSER.values() and (not stack or stack.pop() != tok):
            return False
    return not stack


def simple_programs(n: int, seed: int) -> list[str]:
    """Globals and functions without parameters, in the corpus's normalized layout."""
    rng = random.Random(seed)
    out = []
    for _ in range(n):
        parts = []
        for k in range(1, rng.randint(2, 3) + 1):
            if rng.random() < 0.5:
                parts.append(f"int id{k} = {rng.randint(0, 9)} ;\n")
            else:
                parts.append(f"int id{k} ( void ) {{\nreturn {rng.randint(0, 9)} ;\n}}\n")
        out.append("".join(parts))
    return out


# every kind of bracket, nested: what an untrained model's samples must still balance
BRACKETS = [f"int id1 [ {n} ] ;\nint id2 ( int id3 ) {{\nif ( id3 ) {{\nreturn id1 [ ( id3 + {n} ) ] ;\n}}\n"
            f"return 0 ;\n}}\n" for n in range(1, 9)]


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """A tiny model trained 60 steps on simple programs (most of its samples compile), saved; with
    the held-out NLL before and after training."""
    threads = torch.get_num_threads()  # conftest's one-thread fixture is per test: it runs after this one
    torch.set_num_threads(1)
    try:
        return _train(tmp_path_factory)
    finally:
        torch.set_num_threads(threads)


def _train(tmp_path_factory):
    programs = simple_programs(48, seed=0)
    held_out = [p for p in simple_programs(12, seed=1) if p not in programs]
    model = CodeModel.create(programs, size="tiny", max_len=48, min_count=1, lr=5e-3)
    before = model.nll_per_token(held_out)
    counts = model.fit(programs, TrainConfig(steps=60, batch_size=16, device="cpu", progress=False, log_every=1000,
                                             checkpoint_every=1000))
    after = model.nll_per_token(held_out)
    folder = tmp_path_factory.mktemp("fuzzing-model") / "model"
    model.save(folder)
    return model, folder, before, after, counts


# ---- BracketBalance ------------------------------------------------------------------------------------------------

VOCAB = Vocabulary(["(", ")", "[", "]", "{", "}", ";", "x", "1", "##2", "#include <a.h>", "#", "##i"])
ID = VOCAB.token_to_id


def allowed_after(tokens, max_len=32, depth=64):
    """The tokens BracketBalance allows after ``tokens``, fed one step at a time as TokenLM does."""
    rule = BracketBalance(VOCAB, 1, max_len, torch.device("cpu"), depth=depth)
    seq = [BOS_ID]
    allowed = rule(torch.tensor([seq]))
    for tok in tokens:
        seq.append(ID[tok])
        allowed = rule(torch.tensor([seq]))
    assert allowed.shape == (1, len(VOCAB)) and allowed.dtype == torch.bool
    return {VOCAB.id_to_token[i] for i in allowed[0].nonzero().flatten().tolist()}


def test_closers_need_a_matching_opener():
    assert not allowed_after([]) & {")", "]", "}", "<eos>"}  # nothing to close, and no empty program
    assert {"(", "[", "{", "x", ";"} <= allowed_after([])
    assert allowed_after(["("]) & {")", "]", "}"} == {")"}
    assert allowed_after(["(", "["]) & {")", "]", "}"} == {"]"}
    assert allowed_after(["(", "[", "{", "x"]) & {")", "]", "}"} == {"}"}
    assert allowed_after(["(", "[", "]"]) & {")", "]", "}"} == {")"}
    assert not allowed_after(["(", ")"]) & {")", "]", "}"}


def test_eos_only_at_depth_zero_after_a_declaration_end():
    assert "<eos>" in allowed_after(["x", ";"])
    assert "<eos>" in allowed_after(["x", "(", ")", "{", "x", ";", "}"])
    assert "<eos>" in allowed_after(["#include <a.h>"])
    assert "<eos>" in allowed_after(["#", "##i"])  # a directive spelled in pieces
    assert "<eos>" not in allowed_after(["x"])
    assert "<eos>" not in allowed_after(["x", "(", ")"])
    assert "<eos>" not in allowed_after(["{", "x", ";"])  # inside a block
    assert "<eos>" not in allowed_after(["(", "{", "}"])


def test_eos_not_after_a_spelled_literal():
    """BUG (model.py, BracketBalance.ends): every token starting with "#" may end a program, which
    takes in the "##" pieces of spelled literals and names: ``x = 1 ##2`` (x = 12, no ";") may end
    there, at depth 0, though a program should end only after ";", "}" or a directive. Fix: ends =
    ";", "}" or a token starting with "#" but not "##"; and track per row whether the current
    token is a directive so that its pieces (and only those) may end a program."""
    assert "<eos>" not in allowed_after(["x", "1", "##2"])


def test_near_max_len_only_closers_then_eos():
    # max_len 8: <bos> { ( x x leaves 3 positions: ) } <eos>
    assert allowed_after(["{", "(", "x", "x"], max_len=8) == {")"}
    assert allowed_after(["{", "(", "x", "x", ")"], max_len=8) == {"}"}
    assert allowed_after(["{", "(", "x", "x", ")", "}"], max_len=8) == {"<eos>"}
    # at depth 0 the last position is <eos>, even where the program could not otherwise end
    assert allowed_after(["x", "x", "x", "x", "x", "x"], max_len=8) == {"<eos>"}


def test_no_opener_that_leaves_no_room_for_eos():
    """BUG (minor, model.py, BracketBalance.__call__): an opener is allowed while max_len - seen - 1
    > level, but after it the row needs level + 1 closers *and* <eos>: one position more. Here
    <bos> { ( x ( leaves 3 positions for 3 closers, so the row ends without <eos> (cut at max_len),
    against the docstring. Fix: forbid openers where max_len - seen - 2 <= level."""
    assert "(" not in allowed_after(["{", "(", "x"], max_len=8)


def test_rows_are_independent_and_depth_is_capped():
    rule = BracketBalance(VOCAB, 2, 32, torch.device("cpu"), depth=2)
    rows = [[BOS_ID, ID["("], ID["("]], [BOS_ID, ID["x"], ID[";"]]]
    allowed = rule(torch.tensor(rows))
    first = {VOCAB.id_to_token[i] for i in allowed[0].nonzero().flatten().tolist()}
    second = {VOCAB.id_to_token[i] for i in allowed[1].nonzero().flatten().tolist()}
    assert not first & {"(", "[", "{", "<eos>", "]", "}"} and ")" in first  # full stack: only close
    assert {"(", "<eos>"} <= second and not second & {")", "]", "}"}


# ---- CodeModel -----------------------------------------------------------------------------------------------------


def test_create_builds_words_and_spells_rare_tokens():
    programs = ["int x = 12345 ;\n", "int x = 1 ;\n", "int y = 1 ;\n"]
    model = CodeModel.create(programs, size="tiny", max_len=32, min_count=2)
    vocab = set(model.vocabulary.id_to_token)
    assert {"int", "x", "=", "1", ";"} <= vocab and "12345" not in vocab
    assert {"##2", "##3", "##4", "##5", "y"} <= vocab  # the pieces of the rare literal; "y" is one character
    assert model.tokens("int y = 12345 ;") == ["int", "y", "=", "1", "##2", "##3", "##4", "##5", ";"]
    assert model.words == frozenset(t for t in vocab if not t.startswith("##"))
    for bad, match in [(dict(size="huge"), "unknown model size"), (dict(max_len=8), "max_len")]:
        with pytest.raises(UserError, match=match):
            CodeModel.create(programs, **{"size": "tiny", **bad})
    with pytest.raises(UserError, match="no program"):
        CodeModel.create([], size="tiny")


def test_encode_drops_and_counts_programs_that_do_not_fit():
    model = CodeModel.create(BRACKETS, size="tiny", max_len=16, min_count=1)
    short = ["int id1 ;", "int id2 [ 3 ] ;"]
    ids, dropped = model.encode([*short, BRACKETS[0], "/* only a comment */", BRACKETS[1]])
    assert dropped == {"too-long": 2, "empty": 1}
    assert ids.shape == (2, 8)  # the longest kept program: 6 tokens, <bos> and <eos>
    assert ids[:, 0].tolist() == [BOS_ID, BOS_ID] and ids[0, 4].item() == EOS_ID and ids[0, 5:].tolist() == [PAD_ID] * 3
    assert model.vocabulary.decode_tokens(ids[1]) == tokenize(short[1])
    ok, none = model.encode(["int id1 ;"] * 3)
    assert ok.shape[0] == 3 and none == {}
    with pytest.raises(UserError, match="no program fits"):
        model.encode(BRACKETS[:2])


def test_untrained_samples_are_balanced_and_fit_max_len():
    torch.manual_seed(0)
    model = CodeModel.create(BRACKETS, size="tiny", max_len=40, min_count=1)
    token_lists = model.sample_tokens(64)
    assert all(1 <= len(tokens) <= model.max_len - 1 for tokens in token_lists)  # <bos> takes a position
    assert all(nested(tokens) for tokens in token_lists)
    assert sum(any(t in CLOSER for t in tokens) for tokens in token_lists) > 32  # brackets were exercised
    texts = model.sample(24, batch_size=10, seed=1)
    assert len(texts) == 24
    for text in texts:
        tokens = tokenize(text)
        assert nested(tokens), text
        assert len(tokens) <= model.max_len - 1


def test_sampling_is_repeatable_with_a_seed_and_survives_save_and_load(tmp_path):
    model = CodeModel.create(BRACKETS, size="tiny", max_len=40, min_count=1)
    first = model.sample(6, seed=3)
    assert model.sample(6, seed=3) == first and model.sample(6, seed=4) != first
    model.save(tmp_path / "m")
    again = CodeModel.load(tmp_path / "m", device="cpu")
    assert again.vocabulary == model.vocabulary and again.max_len == 40
    assert again.sample(6, seed=3) == first
    for name, value in model.model.state_dict().items():
        assert torch.equal(value, again.model.state_dict()[name]), name


def test_load_refuses_a_model_of_another_kind(tmp_path):
    model = CodeModel.create(BRACKETS, size="tiny", max_len=32, min_count=1)
    save_model(model.model, tmp_path / "plain")  # a token-lm, but not saved as a C model
    with pytest.raises(UserError, match="not a C program model"):
        CodeModel.load(tmp_path / "plain", device="cpu")


def test_sample_rejects_bad_arguments():
    model = CodeModel.create(BRACKETS, size="tiny", max_len=32, min_count=1)
    assert model.sample(0) == []
    for kwargs in (dict(n=-1), dict(n=2, batch_size=0), dict(n=2, temperature=0)):
        with pytest.raises(UserError):
            model.sample(**kwargs)


def test_training_lowers_held_out_nll(trained):
    model, folder, before, after, counts = trained
    assert counts == {"train": 48, "valid": 0, "dropped": {}}
    assert after < 0.5 * before, (before, after)  # about 3.3 -> 0.6 nats per token
    assert CodeModel.load(folder, device="cpu").nll_per_token(simple_programs(4, seed=2)) == pytest.approx(
        model.nll_per_token(simple_programs(4, seed=2)), rel=1e-5)


# ---- generate_programs ---------------------------------------------------------------------------------------------


def test_generate_writes_n_programs_flat_and_a_dictionary(trained, tmp_path):
    _, folder, *_ = trained
    out = tmp_path / "seeds"
    stats = generate_programs(folder, 5, out, repair=False, batch_size=2, seed=7, device="cpu", progress=False)
    names = sorted(p.name for p in out.iterdir())
    assert names == ["prog-00000-0000.c", "prog-00000-0001.c", "prog-00001-0000.c", "prog-00001-0001.c",
                     "prog-00002-0000.c"]
    assert stats["programs"] == 5 and stats["sampled_this_run"] == 6 and stats["samples_by_outcome"] == {"unchecked": 6}
    for path in out.iterdir():
        text = path.read_text()
        assert "int main(void)" in text and "gensdk_report" in text and nested(tokenize(text))
    dict_path = tmp_path / "seeds.dict"
    assert stats["dictionary"] == str(dict_path) and dict_path.is_file()
    values = read_dictionary(dict_path)
    assert len(values) == stats["dictionary_entries"] and {b"int", b"return", b";", b"->"} <= set(values)
    written = frequent_tokens(generated_part(p.read_text()) for p in out.iterdir())
    assert {t.encode() for t in written if len(t) <= 128} <= set(values)  # every generated token of the seeds
    assert b"gensdk_report" not in values  # the appended checksum code is no seed material

    raw = generate_programs(folder, 2, tmp_path / "raw", runnable=False, batch_size=2, seed=7, device="cpu",
                            progress=False, dictionary=tmp_path / "mine.dict")
    assert raw["dictionary"] == str(tmp_path / "mine.dict") and not (tmp_path / "raw.dict").exists()
    first = (tmp_path / "raw" / "prog-00000-0000.c").read_text()
    assert "main" not in first and first in (out / "prog-00000-0000.c").read_text()  # same seed, same sample


def test_generate_refuses_a_used_folder_and_resumes_to_the_same_files(trained, tmp_path):
    _, folder, *_ = trained
    out = tmp_path / "seeds"
    generate_programs(folder, 5, out, batch_size=2, seed=3, device="cpu", progress=False)
    written = {p.name: p.read_bytes() for p in out.iterdir()}
    with pytest.raises(UserError, match="not empty"):
        generate_programs(folder, 5, out, batch_size=2, seed=3, device="cpu", progress=False)
    (out / "prog-00002-0000.c").unlink()
    (out / "prog-00001-0001.c").unlink()
    stats = generate_programs(folder, 5, out, batch_size=2, seed=3, device="cpu", progress=False, resume=True)
    assert {p.name: p.read_bytes() for p in out.iterdir()} == written
    assert stats["programs"] == 5 and stats["sampled_this_run"] == 4  # batches 1 and 2 again
    with pytest.raises(UserError, match="must be >= 1"):
        generate_programs(folder, 0, tmp_path / "none", device="cpu", progress=False)
    (tmp_path / "file").write_text("x")
    with pytest.raises(UserError, match="not a folder"):
        generate_programs(folder, 1, tmp_path / "file", device="cpu", progress=False)


@needs_gcc
@pytest.mark.parametrize("repair", [False, True])
def test_generate_with_the_compile_filter_keeps_only_what_gcc_compiles(trained, tmp_path, repair):
    _, folder, *_ = trained
    out = tmp_path / "seeds"
    stats = generate_programs(folder, 6, out, compiles_only=True, repair=repair, batch_size=4, seed=0, device="cpu",
                              progress=False, workers=2)
    files = sorted(out.glob("*.c"))
    assert len(files) == stats["programs"] == 6
    outcomes = stats["samples_by_outcome"]
    assert sum(outcomes.values()) == stats["sampled_this_run"]
    assert set(outcomes) <= ({"as-generated", "repaired", "not-compiling"} if repair else {"as-generated", "not-compiling"})
    for path in files:
        built = subprocess.run(["gcc", "-c", "-w", path.name, "-o", "/dev/null"], cwd=out, capture_output=True)
        assert built.returncode == 0, path.read_text()


@needs_gcc
def test_generate_with_the_compile_filter_gives_up_on_a_hopeless_model(tmp_path):
    # no sequence of these tokens is C: nothing ever compiles, so the filter must stop, not loop
    model = CodeModel.create(["{ x }\n", "x { x }\n", "{ { x } }\n"], size="tiny", max_len=16, min_count=1)
    model.save(tmp_path / "model")
    with pytest.raises(UserError, match=f"none of the last {MAX_BARREN} samples compiled"):
        generate_programs(tmp_path / "model", 1, tmp_path / "seeds", compiles_only=True, batch_size=1,
                          device="cpu", progress=False)
    assert not list((tmp_path / "seeds").glob("*.c"))


def test_generate_into_the_current_folder(trained, tmp_path, monkeypatch):
    """BUG (generate.py, generate_programs): the default dictionary path is
    ``out.with_name(out.name + ".dict")``, which raises ValueError ("has an empty name") for
    ``--out .`` (an empty current folder), with a traceback, after the programs are written. Fix:
    ``out = Path(os.path.abspath(out))`` first (the dictionary then goes beside the folder)."""
    _, folder, *_ = trained
    (tmp_path / "here").mkdir()
    monkeypatch.chdir(tmp_path / "here")
    stats = generate_programs(folder, 2, Path("."), batch_size=2, device="cpu", progress=False)
    assert stats["programs"] == 2 and (tmp_path / "here.dict").is_file()
