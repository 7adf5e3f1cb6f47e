"""gensdk fuzzing corpus|train|generate|run|dictionary: real files in, real files out. The commands run
in this process through typer's CliRunner (fast); the user-error contract (one line on stderr, exit
code 2, no traceback) through `python -m gensdk` subprocesses, as a user sees it."""

import json
import random
import re
import shutil
from pathlib import Path

import pytest
import torch

pytest.importorskip("tree_sitter_c")

from typer.testing import CliRunner  # noqa: E402

from gensdk.errors import UserError  # noqa: E402
from helpers import assert_user_error, gensdk  # noqa: E402
from gensdk_plugins.fuzzing.cli import app  # noqa: E402
from gensdk_plugins.fuzzing.dictionary import KEYWORDS, frequent_tokens, read_dictionary  # noqa: E402
from gensdk_plugins.fuzzing.program import generated_part  # noqa: E402

pytestmark = pytest.mark.skipif(not (shutil.which("gcc") and shutil.which("tcc")), reason="needs gcc and tcc")

HELLO = '#include <stdio.h>\nint answer = 42;\nint main(void) { printf("%d\\n", answer); return 0; }\n'
BROKEN = "int main(void) { return undeclared_counter; }\n"


def invoke(*args):
    result = CliRunner().invoke(app, [str(a) for a in args])
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        raise result.exception
    assert result.exit_code == 0, result.output
    return result



def programs(n: int) -> list[str]:
    rng = random.Random(0)
    return ["".join(f"int id{k} = {rng.randint(0, 9)} ;\nint id{k + 3} ( void ) {{\nreturn id{k} ;\n}}\n"
                    for k in range(1, rng.randint(1, 3) + 1)) for _ in range(n)]


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """A corpus built by `corpus` and a tiny model trained on it for a few steps by `train`."""
    folder = tmp_path_factory.mktemp("fuzzing-cli")
    src = folder / "src"
    src.mkdir()
    for i, text in enumerate(programs(12)):
        (src / f"p{i:02d}.c").write_text("/* a program */\n" + re.sub(r"\bid(\d)", r"name_\1", text))
    (src / "broken.c").write_text(BROKEN)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        made = invoke("corpus", src, folder / "corpus", "--workers", 2, "--quiet")
        run = invoke("train", folder / "corpus", folder / "run", "--size", "tiny", "--max-len", 96, "--steps", 4,
                     "--batch-size", 4, "--device", "cpu", "--quiet")
    finally:
        torch.set_num_threads(threads)
    return folder, made.output, run.output


def test_corpus_and_train_write_their_folders(trained):
    folder, made, run = trained
    kept = sorted((folder / "corpus").glob("*.c"))
    report = json.loads((folder / "corpus" / "corpus.json").read_text())
    assert report["read"] == 13 and report["dropped"].get("does-not-compile") == 1
    assert report["kept"] == len(kept) == 13 - 1 - report["dropped"].get("duplicate", 0)
    assert f"{folder / 'corpus'}: {report['kept']} of 13 kept" in " ".join(made.split())
    assert all("name_" not in p.read_text() and "/*" not in p.read_text() for p in kept)  # renamed, no comments
    meta = json.loads((folder / "run" / "model" / "config.json").read_text())
    assert meta["fuzzing"] == {"kind": "c-transformer"} and meta["config"]["d_model"] == 64
    assert meta["config"]["max_len"] == 96 and meta["steps_done"] == 4
    assert (folder / "run" / "checkpoint.pt").is_file()
    # the default --validate-every holds out 5% (rounded) for early stopping
    held_out = round(report["kept"] * 0.05)
    expected = f"trained on {report['kept'] - held_out} programs (held out {held_out}; dropped {{}})"
    assert expected in " ".join(run.split())


def test_generate_writes_seeds_and_a_dictionary(trained, tmp_path):
    folder, *_ = trained
    out = tmp_path / "seeds"
    made = invoke("generate", "--model", folder / "run", "--n", 3, "--out", out, "--batch-size", 2, "--seed", 1,
                  "--no-repair", "--device", "cpu", "--quiet")
    assert json.loads(made.stdout.strip().splitlines()[-1])["samples_by_outcome"] == {"unchecked": 4}
    assert sorted(p.name for p in out.iterdir()) == ["prog-00000-0000.c", "prog-00000-0001.c", "prog-00001-0000.c"]
    assert all("checksum = %08X" in p.read_text() for p in out.iterdir())
    values = set(read_dictionary(tmp_path / "seeds.dict"))
    assert {t.encode() for t in frequent_tokens(generated_part(p.read_text()) for p in out.iterdir())} <= values
    assert {k.encode() for k in KEYWORDS} <= values
    raw = tmp_path / "raw"
    invoke("generate", "-m", folder / "run", "-n", 3, "-o", raw, "--batch-size", 2, "--seed", 1, "--raw",
           "--dictionary", tmp_path / "raw-tokens.dict", "--device", "cpu", "-q")
    for name in ("prog-00000-0000.c", "prog-00001-0000.c"):
        text = (raw / name).read_text()
        assert "checksum" not in text and text in (out / name).read_text()  # same seed: the same samples
    assert (tmp_path / "raw-tokens.dict").is_file() and not (tmp_path / "raw.dict").exists()
    # repaired (the default): every sample is accounted for, and what gcc accepted is written
    fixed = invoke("generate", "-m", folder / "run", "-n", 3, "-o", tmp_path / "fixed", "--batch-size", 2, "--seed", 1,
                   "--workers", 2, "--device", "cpu", "-q")
    outcomes = json.loads(fixed.stdout.strip().splitlines()[-1])["samples_by_outcome"]
    assert sum(outcomes.values()) == 4 and set(outcomes) <= {"as-generated", "repaired", "not-compiling"}


def test_dictionary_from_programs_and_from_a_model(trained, tmp_path):
    folder, *_ = trained
    src = tmp_path / "programs"
    src.mkdir()
    (src / "a.c").write_text("int counter ; int counter_max = 0x7fff ;\n")
    (src / "b.c").write_text('int counter ; char *s = "tab\\t" ;\n')
    result = invoke("dictionary", tmp_path / "p.dict", "--from", src, "--limit", 4)
    values = read_dictionary(tmp_path / "p.dict")
    assert f"{len(values)} entries -> {tmp_path / 'p.dict'}" in " ".join(result.output.split())
    assert {k.encode() for k in KEYWORDS} <= set(values) and b"->" in values
    assert b"counter" in values  # among the 4 most frequent tokens
    assert b'"tab\\t"' not in values and b"0x7fff" not in values  # not among them
    invoke("dictionary", tmp_path / "m.dict", "--from", folder / "run", "--limit", 1000)
    from_model = set(read_dictionary(tmp_path / "m.dict"))
    assert {b"id1", b"id4", b"return"} <= from_model
    assert not any(v.startswith(b"<") and v.endswith(b">") for v in from_model)  # no <pad>, <eos>


def test_run_tests_programs_with_two_compilers(tmp_path):
    src = tmp_path / "programs"
    src.mkdir()
    (src / "hello.c").write_text(HELLO)
    (src / "broken.c").write_text(BROKEN)
    out = tmp_path / "campaign"
    invoke("run", src, out, "--compilers", "gcc-O0,tcc", "--workers", 1, "--quiet")
    summary = json.loads((out / "summary.json").read_text())
    assert summary["programs"] == 2 and summary["compilers"] == ["gcc-O0", "tcc"]
    verdicts = {k: v for k, v in summary["verdicts"].items() if v}
    assert verdicts == {"ok": 1, "does-not-compile": 1}
    results = {Path(r["program"]).name: r["verdict"]
               for r in map(json.loads, (out / "results.jsonl").read_text().splitlines())}
    assert results == {"hello.c": "ok", "broken.c": "does-not-compile"}
    # one file works too; a used folder, an unknown compiler and an empty folder are user errors
    invoke("run", src / "hello.c", tmp_path / "one", "--compilers", "tcc", "--workers", 1, "-q")
    assert json.loads((tmp_path / "one" / "summary.json").read_text())["verdicts"]["ok"] == 1
    for args, message in [((src, out, "--compilers", "gcc-O0,tcc"), "not empty"),
                          ((src, tmp_path / "x", "--compilers", "gcc-O9"), "unknown compiler 'gcc-O9'")]:
        result = CliRunner().invoke(app, ["run", *map(str, args), "--workers", "1", "-q"])
        assert isinstance(result.exception, UserError) and message in str(result.exception)
    (tmp_path / "nothing").mkdir()
    result = CliRunner().invoke(app, ["run", str(tmp_path / "nothing"), str(tmp_path / "y"), "-q"])
    assert isinstance(result.exception, UserError) and "no .c files" in str(result.exception)


def test_user_errors_are_one_line_and_exit_code_2(tmp_path):
    # one subprocess for gensdk's own error handling (python -m gensdk costs seconds), the rest in process
    assert_user_error(gensdk("fuzzing", "corpus", tmp_path / "missing", tmp_path / "out"),
                      f"{tmp_path / 'missing'}: no such folder")
    assert not (tmp_path / "out").exists()
    for args, message in [
        (("generate", "--model", tmp_path / "model", "--out", tmp_path / "seeds", "--filter", "bogus"),
         "--filter must be one of none, compiles, got 'bogus'"),
        (("generate", "--model", tmp_path / "model", "--out", tmp_path / "seeds"), "config.json"),
        (("train", tmp_path / "missing", tmp_path / "run"), "no such folder"),
        (("dictionary", tmp_path / "d.dict", "--from", tmp_path / "missing"), "no such folder"),
    ]:
        result = CliRunner().invoke(app, [str(a) for a in args])
        assert isinstance(result.exception, UserError), (args, result.output, result.exception)
        assert message in str(result.exception) and "\n" not in str(result.exception)
    assert not (tmp_path / "seeds").exists() and not (tmp_path / "d.dict").exists()
