"""The differential-testing harness: one verdict per program, crashes deduplicated into report folders,
campaigns that resume to the same summary. Real compilers are gcc and tcc; crashes and
miscompilations come from fake "compilers" (shell scripts)."""

import json
import shutil
import tempfile
from pathlib import Path

import pytest

from gensdk.errors import UserError
from gensdk_plugins.fuzzing.harness import (Compiler, Limits, _crash_message, _normalize, available_compilers, run_campaign,
                                     still_interesting, test_program)
from gensdk_plugins.fuzzing.sandbox import Outcome

pytestmark = pytest.mark.skipif(not (shutil.which("gcc") and shutil.which("tcc")), reason="needs gcc and tcc")

GCC_O0, GCC_O2, TCC = Compiler("gcc-O0", ("gcc", "-O0")), Compiler("gcc-O2", ("gcc", "-O2")), Compiler("tcc", ("tcc",))
REAL = [GCC_O0, GCC_O2, TCC]
RUN = Limits(seconds=1)

HELLO = '#include <stdio.h>\nint main(void) { printf("%d\\n", 6 * 7); return 0; }\n'
# Signed overflow: gcc -O0 wraps (prints 0), gcc -O2 assumes it cannot happen (prints 1); UBSan says so.
OVERFLOW = """#include <stdio.h>
#include <limits.h>
static int bigger(int x) { int y = x + 1; return y > x; }
int main(void) { volatile int v = INT_MAX; printf("%d\\n", bigger(v)); return 0; }
"""


@pytest.fixture(scope="module")
def fakes():
    """Fake compilers, in a folder the sandbox's uid can read: they stand in for compiler bugs."""
    folder = Path(tempfile.mkdtemp(prefix="gensdk-fake-cc-"))
    folder.chmod(0o755)
    scripts = {
        # An internal compiler error whenever the program says "volatile"; the line and the path vary.
        "ice": 'if grep -q volatile program.c; then\n'
               '  echo "program.c: In function \'main\':" >&2\n'
               '  echo "program.c:$(wc -l < program.c):7: internal compiler error: in expand_foo, at '
               '/build/gcc-$$/gcc/expr.cc:$(wc -c < program.c)" >&2\n  exit 4\nfi\nexec gcc "$@"\n',
        "segv": 'kill -SEGV $$\n',
        "wrong": 'exec gcc -O0 -DANSWER=43 "$@"\n',  # a "miscompilation": ANSWER differs from the source
    }
    for name, body in scripts.items():
        (folder / name).write_text("#!/bin/sh\n" + body)
        (folder / name).chmod(0o755)
    yield {name: Compiler(f"fake-{name}", (str(folder / name),)) for name in scripts}
    shutil.rmtree(folder)


def programs(folder: Path, sources: dict) -> list[Path]:
    folder.mkdir(exist_ok=True)
    for name, text in sources.items():
        (folder / name).write_bytes(text if isinstance(text, bytes) else text.encode())
    return [folder / name for name in sources]


def test_agreeing_program_is_ok():
    result = test_program(HELLO, REAL, run_limits=RUN)
    assert result.verdict == "ok", result
    per = result.details["compilers"]
    assert {per[c.name]["run"] for c in REAL} == {"exit 0"} and len({per[c.name]["output"] for c in REAL}) == 1
    compiled = test_program(HELLO, REAL, compile_only=True)
    assert compiled.verdict == "ok" and "run" not in compiled.details["compilers"]["gcc-O0"]


def test_syntax_error_does_not_compile():
    result = test_program("int main(void) { return 0 }\n", REAL, run_limits=RUN)
    assert result.verdict == "does-not-compile" and "error" in result.message and "program.c" in result.message


def test_infinite_loop_times_out():
    result = test_program("int main(void) { for (;;) ; }\n", REAL, run_limits=RUN)
    assert result.verdict == "timeout" and "gcc-O0" in result.message


def test_every_binary_aborting_is_a_crash_of_the_program():
    result = test_program("#include <stdlib.h>\nint main(void) { abort(); }\n", REAL, run_limits=RUN)
    assert result.verdict == "crash" and "SIGABRT" in result.message


def test_signed_overflow_is_undefined_behaviour_not_a_miscompilation():
    unscreened = test_program(OVERFLOW, [GCC_O0, GCC_O2], run_limits=RUN, screen_ub=False)
    assert unscreened.verdict == "miscompilation-candidate"  # the levels really disagree here
    assert unscreened.details["partition"] == [["gcc-O0"], ["gcc-O2"]]
    result = test_program(OVERFLOW, [GCC_O0, GCC_O2], run_limits=RUN)
    assert result.verdict == "undefined-behaviour" and "signed integer overflow" in result.message


def test_crash_key_ignores_paths_lines_and_addresses():
    a = "program.c:3:7: internal compiler error: in expand_foo, at /build/gcc-1/gcc/expr.cc:10012"
    b = "program.c:90:1: internal compiler error: in expand_foo, at /usr/src/gcc-12/gcc/expr.cc:10013"
    assert _normalize(a) == _normalize(b) != _normalize(a.replace("expand_foo", "expand_bar"))
    dump = ("PLEASE submit a bug report to https://github.com/llvm/llvm-project/issues/\nStack dump:\n"
            "0.\tProgram arguments: /usr/lib/llvm-14/bin/clang -cc1 program.c\n"
            "1.\t<eof> parser at end of file\n2.\tRunning pass 'X86 DAG->DAG' on function '@func_1'\n"
            " #0 0x00007f3a llvm::sys::PrintStackTrace(llvm::raw_ostream&, int) (/lib/libLLVM-14.so.1+0xe)\n"
            " #1 0x00007f3b llvm::sys::RunSignalHandlers() (/lib/libLLVM-14.so.1+0xf)\n"
            " #2 0x00007f3c llvm::SelectionDAG::Combine(int) (/lib/libLLVM-14.so.1+0x1a)\n"
            " #3 0x00007f3d llvm::SelectionDAGISel::Run() (/lib/libLLVM-14.so.1+0x2b)\n")
    crashed = Outcome(None, 11, False, b"", dump.encode(), 0.1)
    assert _crash_message(dump, crashed) == "llvm::SelectionDAG::Combine(int) | llvm::SelectionDAGISel::Run()"
    assert _crash_message("", crashed) == "killed by SIGSEGV"
    gcc_segv = ("program.c:9:1: internal compiler error: Segmentation fault\n0xe3f1ef crash_signal\n"
                "\t../../src/gcc/toplev.cc:314\n0x7f1c ???\n0x9a2b tree_nop_conversion_p(tree_node const*)\n")
    assert _crash_message(gcc_segv, crashed) == ("internal compiler error: Segmentation fault | "
                                                 "tree_nop_conversion_p(tree_node const*)")


def test_compiler_crashes_are_found_and_deduplicated(tmp_path, fakes):
    ice = test_program(OVERFLOW, [GCC_O0, fakes["ice"]], run_limits=RUN)
    assert ice.verdict == "compiler-crash" and ice.message.startswith("internal compiler error: in expand_foo")
    assert ice.details["crashed"] == "fake-ice" and ice.key.startswith("fake-")
    segv = test_program(HELLO, [GCC_O0, fakes["segv"]], run_limits=RUN)
    assert segv.verdict == "compiler-crash" and segv.message == "killed by SIGSEGV"

    sources = programs(tmp_path / "in", {"a.c": OVERFLOW, "b.c": "/* another */\n" + OVERFLOW.replace("v)", "v) + 0"),
                                         "c.c": HELLO})
    summary = run_campaign(sources, tmp_path / "out", [GCC_O0, fakes["ice"]], workers=2, progress=False)
    assert summary["verdicts"]["compiler-crash"] == 2 and summary["verdicts"]["ok"] == 1
    assert summary["compiler_crashes"] == 1
    (folder,) = (tmp_path / "out" / "crashes").iterdir()
    assert (folder / "program.c").read_text() in (OVERFLOW, sources[1].read_text())
    assert b"internal compiler error" in (folder / "stderr.txt").read_bytes()
    assert (folder / "command.txt").read_text().split()[0] == fakes["ice"].argv[0]
    lines = [json.loads(line) for line in (tmp_path / "out" / "results.jsonl").read_text().splitlines()]
    assert {r["key"] for r in lines if r["verdict"] == "compiler-crash"} == {folder.name}


def test_different_output_is_a_miscompilation_candidate(tmp_path, fakes):
    source = ('#include <stdio.h>\n#ifndef ANSWER\n#define ANSWER 42\n#endif\n'
              'int main(void) { printf("%d\\n", ANSWER); }\n')
    compilers = [GCC_O0, TCC, fakes["wrong"]]
    summary = run_campaign(programs(tmp_path / "in", {"p.c": source}), tmp_path / "out", compilers, workers=1,
                           progress=False, run_limits=RUN)
    assert summary["verdicts"]["miscompilation-candidate"] == 1 and summary["miscompilation_candidates"] == 1
    (folder,) = (tmp_path / "out" / "miscompilations").iterdir()
    assert (folder / "program.c").read_text() == source
    assert (folder / "stdout-gcc-O0.txt").read_text() == (folder / "stdout-tcc.txt").read_text() == "42\n"
    assert (folder / "stdout-fake-wrong.txt").read_text() == "43\n"
    details = json.loads((folder / "report.json").read_text())["details"]
    assert details["ub_screen"] == "clean" and details["partition"] == [["gcc-O0", "tcc"], ["fake-wrong"]]
    commands = (folder / "command.txt").read_text().splitlines()
    assert len(commands) == 3 and commands[2].startswith(fakes["wrong"].argv[0])
    assert commands[2].endswith("&& ./fake-wrong")
    assert still_interesting(folder / "report.json", source.encode())
    assert not still_interesting(folder / "report.json", source.replace("ANSWER)", "42)").encode())


def test_a_binary_that_disagrees_with_itself_is_nondeterministic_not_a_candidate(fakes):
    """The clock differs between two runs of one binary, as an address under ASLR or stack garbage would:
    the disagreement is the program's, whatever the other compiler printed."""
    source = ('#include <stdio.h>\n#include <time.h>\n#ifndef ANSWER\n#define ANSWER 42\n#endif\n'
              'int main(void) { struct timespec t; clock_gettime(CLOCK_MONOTONIC, &t);\n'
              '  printf("%d %ld\\n", ANSWER, (long) t.tv_nsec); return 0; }\n')
    result = test_program(source, [GCC_O0, fakes["wrong"]], run_limits=RUN)
    assert result.verdict == "nondeterministic" and result.message == "gcc-O0: two runs of one binary differ"


@pytest.mark.skipif(not shutil.which("clang"), reason="MemorySanitizer needs clang")
def test_a_read_of_uninitialized_memory_is_undefined_behaviour(fakes):
    """UBSan and ASan see nothing here; clang's MemorySanitizer sees the uninitialized read."""
    source = ('#include <stdio.h>\n#ifndef ANSWER\n#define ANSWER 42\n#endif\n'
              'int pick(int *p) { return *p == 12345; }\n'
              'int main(void) { int u; if (pick(&u)) puts("lucky"); printf("%d\\n", ANSWER); return 0; }\n')
    result = test_program(source, [GCC_O0, fakes["wrong"]], run_limits=RUN)
    assert result.verdict == "undefined-behaviour" and "MemorySanitizer: use-of-uninitialized-value" in result.message


def test_campaign_resumes_to_the_same_summary(tmp_path):
    sources = programs(tmp_path / "in", {"ok.c": HELLO, "bad.c": "int main(void) {", "abort.c":
                                         "#include <stdlib.h>\nint main(void) { abort(); }\n",
                                         "latin1.c": b"/* caf\xe9 */\nint main(void) { return 0; }\n"})
    sources.append(tmp_path / "in" / "missing.c")  # unreadable: counted, not a harness crash
    options = dict(compilers=[GCC_O0, TCC], progress=False, run_limits=RUN, workers=2)
    whole = run_campaign(sources, tmp_path / "whole", **options)
    assert whole["verdicts"]["ok"] == 2 and whole["verdicts"]["does-not-compile"] == 1
    assert whole["verdicts"]["crash"] == 1 and whole["verdicts"]["unreadable"] == 1 and whole["programs"] == 5

    part = tmp_path / "part"
    run_campaign(sources, part, **options)
    log = part / "results.jsonl"
    lines = log.read_text().splitlines(keepends=True)
    log.write_text("".join(lines[:2]) + lines[2][:20])  # killed while writing the third line
    with pytest.raises(UserError, match="--resume"):
        run_campaign(sources, part, **options)
    resumed = run_campaign(sources, part, resume=True, **options)
    assert resumed["tested_now"] == 3
    for key in ("programs", "verdicts", "compiler_crashes", "miscompilation_candidates"):
        assert resumed[key] == whole[key]
    assert json.loads((part / "summary.json").read_text())["verdicts"] == whole["verdicts"]
    assert len(log.read_text().splitlines()) == 5
    with pytest.raises(UserError, match="other compilers"):
        run_campaign(sources, part, **{**options, "compilers": [GCC_O0]}, resume=True)


def test_bad_output_folder_and_compiler_names(tmp_path):
    (tmp_path / "file").write_text("x")
    with pytest.raises(UserError, match="not a folder"):
        run_campaign([], tmp_path / "file", [GCC_O0], progress=False)
    with pytest.raises(UserError, match="clang-O3.*gcc-O0"):
        available_compilers(["gcc-O0", "clang-O3"])
    assert [c.name for c in available_compilers(["gcc-O0", "tcc"])] == ["gcc-O0", "tcc"]


@pytest.mark.skipif(not shutil.which("cvise"), reason="cvise not installed")
def test_reduction_keeps_the_same_crash(tmp_path, fakes):
    padding = "".join(f"int unused_{i}(int x) {{ return x * {i}; }}\n" for i in range(8))
    source = padding + OVERFLOW
    run_campaign(programs(tmp_path / "in", {"p.c": source}), tmp_path / "out", [GCC_O0, fakes["ice"]], workers=1,
                 progress=False, reduce=True, reduce_seconds=40)  # cvise runs to the limit; 10 s was too short on a busy machine
    (folder,) = (tmp_path / "out" / "crashes").iterdir()
    reduced = (folder / "reduced.c").read_bytes()
    assert len(reduced) < len(source) and b"volatile" in reduced
    assert still_interesting(folder / "report.json", reduced)
