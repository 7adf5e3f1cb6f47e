"""Repair by deletion: what gcc rejects is cut, statement by statement, until the runnable program
compiles; what it accepts is kept byte for byte."""

import shutil
import subprocess

import pytest

pytest.importorskip("tree_sitter_c")

from gensdk_plugins.fuzzing.program import generated_part, make_runnable  # noqa: E402
from gensdk_plugins.fuzzing.repair import repair  # noqa: E402
from gensdk_plugins.fuzzing.sandbox import Sandbox  # noqa: E402

pytestmark = pytest.mark.skipif(not shutil.which("gcc"), reason="needs gcc")


def fix(source: str, **kwargs):
    with Sandbox() as box:
        return repair(source, box, **kwargs)


def gcc_accepts(program: str, folder) -> bool:
    (folder / "p.c").write_text(program)
    return subprocess.run(["gcc", "-c", "-w", "p.c", "-o", "p.o"], cwd=folder, capture_output=True).returncode == 0


def test_a_program_gcc_accepts_is_left_as_it_is():
    source = "int g = 3 ;\nint main ( ) {\ng = g * 2 ;\nreturn 0 ;\n}\n"
    fixed = fix(source)
    assert fixed.program == make_runnable(source) and fixed.rounds == 0 and fixed.kept == 1.0


def test_a_broken_statement_goes_and_the_rest_stays(tmp_path):
    source = ("int g = 3 ;\nint main ( ) {\ng = g * 2 ;\ng = ( 4 + ;\nif ( g > 1 ) {\ng ++ ;\n}\n"
              "printf ( \"%d\\n\" , g ) ;\nreturn 0 ;\n}\n")
    fixed = fix(source)
    assert fixed.rounds == 1 and 0.8 < fixed.kept < 1
    kept = generated_part(fixed.program)
    assert "g = ( 4 + ;" not in kept
    for line in ("g = g * 2 ;", "if ( g > 1 ) {", "g ++ ;", "printf ( \"%d\\n\" , g ) ;", "int g = 3 ;"):
        assert line in kept  # the statement after the broken one too
    assert "#include <stdio.h>" in fixed.program  # headers are the runnable program's
    assert gcc_accepts(fixed.program, tmp_path)


def test_uses_of_a_deleted_declaration_go_in_the_next_round(tmp_path):
    source = "int f ( int a ) {\nint b = a + ;\nint c = 2 ;\nreturn b * c ;\n}\nint main ( ) {\nreturn f ( 1 ) ;\n}\n"
    fixed = fix(source)
    kept = generated_part(fixed.program)
    assert fixed.rounds == 2 and "int b" not in kept and "return b * c ;" not in kept
    assert "int c = 2 ;" in kept and "return f ( 1 ) ;" in kept
    assert gcc_accepts(fixed.program, tmp_path)


def test_an_ending_that_swallows_the_report_is_cut(tmp_path):
    """A struct left without its ';' makes gcc fail inside the appended report, not in the sample."""
    source = "int x = 1 ;\nint main ( ) {\nx = 2 ;\nreturn 0 ;\n}\nstruct s {\nint a ;\n}\n"
    fixed = fix(source)
    assert fixed.program is not None and "struct s" not in generated_part(fixed.program)
    assert "x = 2 ;" in fixed.program and gcc_accepts(fixed.program, tmp_path)


def test_what_cannot_be_repaired_is_reported_as_such():
    for source in ("int x = ( ( ;\n", "} } ) ;\n"):  # nothing would be left; nothing to cut
        fixed = fix(source)
        assert fixed.program is None and fixed.kept == 0.0
    # v0 is undeclared: v1 goes, then v2 fails, ... one declaration a round
    chain = "int main ( ) {\n" + "".join(f"int v{i + 1} = v{i} ;\n" for i in range(8)) + "return 0 ;\n}\n"
    fixed = fix(chain)
    assert fixed.rounds == 8 and generated_part(fixed.program).startswith("int gensdk_main ( ) {\nreturn 0 ;\n}\n")
    assert fix(chain, rounds=5).program is None  # the rounds run out first
