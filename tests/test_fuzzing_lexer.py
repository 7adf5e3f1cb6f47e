"""C source <-> tokens (tree-sitter-c), identifier renaming, spelled rare tokens, and the AFL++ /
libFuzzer token dictionaries built from them. What matters: printed tokens are still the same C
program (gcc compiles it and the binary prints the same), and nothing recurses on deep nesting."""

import re
import shutil
import subprocess

import pytest

pytest.importorskip("tree_sitter_c")

from gensdk_plugins.fuzzing.dictionary import (KEYWORDS, MAX_TOKEN, PUNCTUATORS, dictionary_entries, escape,  # noqa: E402
                                        frequent_tokens, read_dictionary, write_dictionary)
from gensdk_plugins.fuzzing.lexer import (CONTINUE, join_pieces, lex, rename_identifiers, render, spell,  # noqa: E402
                                   tokenize)

needs_gcc = pytest.mark.skipif(not shutil.which("gcc"), reason="needs gcc")

SMALL = r'''#include <stdio.h>
/* a block comment */
int x = 0x1F; // a line comment
static const char *s = "a \"quoted\" \\ word\n";
int main(void) { printf("%d %s", x + 'c', s); return 0; }
'''

# Programs that exercise what a lexer can get wrong: each prints something, so a round trip can be
# checked by running it, not only by compiling it.
PROGRAMS = {
    "k_and_r": r'''#include <stdio.h>
int add(a, b)
  int a;
  char b;
{
  return a + b;
}
int main(void) { printf("%d\n", add(40, 2)); return 0; }
''',
    "struct_pragma_goto": r'''#include <stdio.h>
#include <string.h>
#pragma pack(1)
struct point { int x; char tag; } origin = { 0, 'o' };
typedef struct point point_t;
static int walk(point_t *p) {
  int steps = 0;
  again:
  if (p->x < 3) { p->x++; steps++; goto again; }
  return steps;
}
int main(void) {
  point_t p = { 0, '\'' };
  #pragma GCC diagnostic ignored "-Wunused-variable"
  int unused;
  printf("%d %c %zu\n", walk(&p), p.tag, sizeof(struct point));
  return memcmp(&p, &origin, 1) == 0;
}
''',
    "strings_and_escapes": r'''#include <stdio.h>
static const char *msg = "tab\there \"quoted\" back\\slash \x41\101 // not a comment /* nor this */";
static const char joined[] = "con" "cat"
                             "enated";
int main(void) {
  char c = '\\', q = '"', nl = '\n';
  unsigned long big = 0xFFFFFFFFul + 1.5e1 + 017 + 'A';
  printf("%s|%s|%c%c%d|%lu\n", msg, joined, c, q, nl, big);
  return 0;
}
''',
    "operators_that_must_stay_apart": r'''#include <stdio.h>
int main(void) {
  int a = 5, b = -3, *p = &b, r;
  r = a - -b;
  r += a / *p;
  r -= a++ + ++b;
  r = r > 0 ? r : -r;
  printf("%d %d %d\n", r, a, b);
  return 0;
}
''',
}


def build_and_run(source: str, folder, name: str) -> str:
    """stdout of ``source`` compiled with gcc and run (the programs here are ours, not generated)."""
    (folder / f"{name}.c").write_text(source)
    compiled = subprocess.run(["gcc", "-w", "-O0", f"{name}.c", "-o", name], cwd=folder, capture_output=True,
                              text=True)
    assert compiled.returncode == 0, f"{source}\n{compiled.stderr}"
    return subprocess.run([f"./{name}"], cwd=folder, capture_output=True, text=True, timeout=10).stdout


def balanced(tokens) -> bool:
    stack = []
    for tok in tokens:
        if tok in ("(", "[", "{"):
            stack.append(")]}"["([{".index(tok)])
        elif tok in (")", "]", "}"):
            if not stack or stack.pop() != tok:
                return False
    return not stack


# ---- tokenize / render -------------------------------------------------------------------------------------------


def test_tokenize_keeps_literals_and_directives_whole_and_drops_comments():
    assert tokenize(SMALL) == [
        "#include <stdio.h>",
        "int", "x", "=", "0x1F", ";",
        "static", "const", "char", "*", "s", "=", r'"a \"quoted\" \\ word\n"', ";",
        "int", "main", "(", "void", ")", "{",
        "printf", "(", '"%d %s"', ",", "x", "+", "'c'", ",", "s", ")", ";",
        "return", "0", ";",
        "}",
    ]
    kinds = dict((text, kind) for kind, text in lex(SMALL))
    assert kinds["#include <stdio.h>"] == "directive" and kinds["0x1F"] == "number_literal"
    assert kinds["x"] == "identifier" and kinds["'c'"] == "char_literal"


def test_render_puts_directives_alone_and_breaks_lines_after_statements():
    text = render(tokenize(SMALL))
    assert text.splitlines() == [
        "#include <stdio.h>",
        "int x = 0x1F ;",
        r'static const char * s = "a \"quoted\" \\ word\n" ;',
        "int main ( void ) {",
        'printf ( "%d %s" , x + \'c\' , s ) ;',
        "return 0 ;",
        "}",
    ]
    assert render([]) == "" and render(["x"]) == "x\n"


def test_multiline_directives_are_one_token_per_logical_line():
    source = "#define SUM(a, b) \\\n   ((a) +   \\\n (b))\nint y = 1;\n"
    assert tokenize(source) == ["#define SUM(a, b) ((a) + (b))", "int", "y", "=", "1", ";"]


@needs_gcc
@pytest.mark.parametrize("name", sorted(PROGRAMS))
def test_render_of_tokens_is_the_same_program(name, tmp_path):
    source = PROGRAMS[name]
    expected = build_and_run(source, tmp_path, "original")
    assert expected.strip()  # the program prints something to compare
    printed = render(tokenize(source))
    assert build_and_run(printed, tmp_path, "printed") == expected
    assert tokenize(printed) == tokenize(source)  # a fixed point: printing again changes nothing
    assert render(tokenize(printed)) == printed


def test_comments_inside_concatenated_strings_are_dropped():
    """BUG (lexer.py, ATOMIC contains "concatenated_string"): a concatenated string is kept as one
    token *with everything between its pieces*, so a comment (and the layout) between two string
    pieces ends up inside a token, although comments are documented as dropped."""
    tokens = tokenize('char *s = "a" /* note */ "b"\n      "c";\n')
    assert not any("/*" in tok or "note" in tok for tok in tokens), tokens
    assert not any("\n" in tok for tok in tokens), tokens  # layout is not part of a token either


def test_deep_nesting_does_not_recurse():
    depth = 3000
    source = ("int x = " + "(" * depth + "1" + ")" * depth + ";\n"
              "int f(void) {" + "{" * depth + "}" * depth + "return x; }\n")
    tokens = tokenize(source)
    assert tokens.count("(") == depth + 1 and tokens.count("{") == depth + 1 and balanced(tokens)
    assert tokenize(render(tokens)) == tokens
    renamed = tokenize(rename_identifiers(source))
    assert renamed.count("(") == depth + 1 and "id1" in renamed and "x" not in renamed


def test_lexer_never_loses_text_it_cannot_parse():
    # junk the parser skips is kept as "stray" tokens, so a broken sample still round-trips its text
    source = "int a = 1 @ 2 ; $$ }"
    assert [t for t in tokenize(source) if t not in ("int", "a", "=", "1", "2", ";", "}")] == ["@", "$$"]


# ---- rename_identifiers ------------------------------------------------------------------------------------------


def test_rename_maps_own_names_in_order_of_first_use_and_keeps_library_names():
    source = r'''#include <stdio.h>
#include <stdlib.h>
#include <string.h>
struct box { int width; };
static int area(struct box *b, int height) { return b->width * height; }
int main(void) {
  struct box b = { 6 };
  char buf[8];
  int width = 7;
  memset(buf, 0, sizeof buf);
  if (__builtin_expect(area(&b, width) != 42, 0)) abort();
  printf("%d\n", area(&b, width));
  exit(0);
}
'''
    renamed = rename_identifiers(source)
    tokens = tokenize(renamed)
    for kept in ("printf", "abort", "exit", "memset", "__builtin_expect", "main", "struct", "sizeof", "char",
                 "static", "return", "if", "int", "void"):
        assert kept in tokens, kept
    for gone in ("box", "width", "area", "height", "buf"):
        assert gone not in tokens, gone
    # the same name always gets the same new name, in order of first use (struct tag, field, function, ...)
    assert renamed.splitlines()[3:6] == ["struct id1 {", "int id2 ;", "}"]
    assert "static int id3 ( struct id1 * id4 , int id5 ) {" in renamed
    assert "return id4 -> id2 * id5 ;" in renamed
    assert "int id2 = 7 ;" in renamed  # the local `width` and the field `width` share a name, consistently
    assert rename_identifiers(renamed) == renamed  # idN names are renamed to themselves


@needs_gcc
@pytest.mark.parametrize("name", sorted(PROGRAMS))
def test_renamed_program_still_runs_the_same(name, tmp_path):
    source = PROGRAMS[name]
    renamed = rename_identifiers(source)
    assert re.search(r"\bid1\b", renamed)
    assert build_and_run(renamed, tmp_path, "renamed") == build_and_run(source, tmp_path, "original")


@needs_gcc
def test_rename_keeps_c_library_names_outside_its_list(tmp_path):
    """BUG (lexer.py, LIBRARY_NAMES / rename_identifiers): only names on a fixed list are kept, so a
    program calling any other C library function (ldexp, strtok_r, fminf, ...) or using another header
    macro (CLOCKS_PER_SEC) gets it renamed to idN: the normalized program no longer compiles (or, with
    an implicit declaration, no longer links). Renaming only the names the program itself declares would
    keep every library name."""
    source = r'''#include <math.h>
#include <time.h>
double scale(double x) { return ldexp(x, 3) + fminf(1.0f, 2.0f); }
long ticks(void) { return (long) CLOCKS_PER_SEC; }
'''
    renamed = rename_identifiers(source)
    (tmp_path / "renamed.c").write_text(renamed)
    compiled = subprocess.run(["gcc", "-c", "-Werror=implicit-function-declaration", "renamed.c"], cwd=tmp_path,
                              capture_output=True, text=True)
    assert compiled.returncode == 0, renamed + compiled.stderr
    assert {"ldexp", "fminf", "CLOCKS_PER_SEC"} <= set(tokenize(renamed))


# ---- spell / join_pieces -----------------------------------------------------------------------------------------


def test_spell_writes_rare_tokens_as_pieces_that_join_back():
    tokens = tokenize(PROGRAMS["strings_and_escapes"])
    known = {"int", "char", "(", ")", "{", "}", ";", "=", ",", "+", "return", "main", "printf"}
    spelled = spell(tokens, known)
    assert all(t in known or len(t) == 1 or t.startswith(CONTINUE) for t in spelled)
    assert all(len(t) == len(CONTINUE) + 1 for t in spelled if t.startswith(CONTINUE))
    assert spell(["12345", "int", "x"], known) == ["1", "##2", "##3", "##4", "##5", "int", "x"]
    assert join_pieces(spelled) == tokens
    assert render(spelled) == render(tokens)


def test_spell_round_trips_directives_and_non_ascii():
    tokens = ["#include <stdio.h>", "int", "x", "=", "'\\n'", ";", '"caf\u00e9 \u2603"', "##", "#"]
    spelled = spell(tokens, {"int", "="})
    assert spelled[:3] == ["#", "##i", "##n"]  # a spelled directive starts with "#", its pieces with "##"
    assert spelled[-3:] == ["#", "###", "#"] and join_pieces(spelled) == tokens
    assert render(spell(tokens[:-2], {"int"})) == render(tokens[:-2])


# ---- dictionaries ------------------------------------------------------------------------------------------------

AFL_LINE = re.compile(r'^[A-Za-z0-9_]+="(?:[\x20-\x21\x23-\x5b\x5d-\x7e]|\\\\|\\"|\\x[0-9a-f]{2})*"$')


def test_dictionary_round_trips_quotes_backslashes_and_non_ascii(tmp_path):
    values = ['"', "\\", 'printf("%d\\n"', "caf\u00e9", "\u2603", "tab\there", "nul\x00byte", "'\\x41'", "a=b"]
    path = tmp_path / "c.dict"
    count = write_dictionary(path, values)
    lines = [line for line in path.read_text().splitlines() if line and not line.startswith("#")]
    assert count == len(lines) == len(set(lines))
    for line in lines:
        assert AFL_LINE.match(line), line
    assert path.read_bytes().isascii()
    read = read_dictionary(path)
    for value in values:
        assert value.encode() in read, value
    for keyword in ("int", "while", "return", "struct", "_Bool"):
        assert keyword.encode() in read
    for op in ("->", "<<=", "...", "{", ";"):
        assert op.encode() in read
    names = [line.split("=", 1)[0] for line in lines]
    assert names[read.index(b"while")].startswith("kw_") and names[read.index(b"->")].startswith("op_")
    assert names[read.index("caf\u00e9".encode())].startswith("tok_")


def test_dictionary_has_every_c_punctuator(tmp_path):
    """BUG (minor, dictionary.py, dictionary_entries): tokens starting with "##" are skipped as spelled
    pieces, which also drops the real token-pasting punctuator "##" that PUNCTUATORS lists (useful to
    fuzz a preprocessor, e.g. tccpp.c). Fix: skip ``tok.startswith(CONTINUE) and tok not in
    PUNCTUATORS``."""
    write_dictionary(tmp_path / "c.dict", [])
    values = read_dictionary(tmp_path / "c.dict")
    assert [p for p in PUNCTUATORS if p.encode() not in values] == []


def test_dictionary_entries_skip_duplicates_pieces_and_overlong_tokens():
    long = "x" * (MAX_TOKEN + 1)
    lines = dictionary_entries(["int", "int", "##ab", "", long, "x" * MAX_TOKEN, "foo"])
    assert lines == ['kw_0000="int"', f'tok_0001="{"x" * MAX_TOKEN}"', 'tok_0002="foo"']
    assert escape('a"b\\c\n\u00e9') == 'a\\"b\\\\c\\x0a\\xc3\\xa9'


def test_read_dictionary_accepts_afl_files_and_rejects_junk(tmp_path):
    path = tmp_path / "afl.dict"
    path.write_text('# a comment\n\nkw1="if"\n  hex="\\x00\\xff\\\\"\nempty=""\n')
    assert read_dictionary(path) == [b"if", b"\x00\xff\\", b""]
    path.write_text('kw1="if"\njust some text\n')
    with pytest.raises(ValueError, match="not a dictionary line"):
        read_dictionary(path)


def test_frequent_tokens_are_ordered_by_count_then_token():
    programs = ["int a ; int b ;", "int c ;"]
    assert frequent_tokens(programs) == [";", "int", "a", "b", "c"]  # ";" and "int" tie: by the token
    assert frequent_tokens(programs, limit=2) == [";", "int"]
    assert set(KEYWORDS) >= {"int", "return"} and "->" in PUNCTUATORS
