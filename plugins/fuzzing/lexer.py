"""C source <-> tokens, through tree-sitter-c (a real, error-tolerant C parser).

A token is a leaf of the parse tree, except that literals (numbers, strings, characters, header
names) and preprocessor lines stay whole: a string is one token, not its quote marks and pieces.
``render`` prints tokens back as compilable C: a space between tokens, a newline after ``;``,
``{`` and ``}``, and preprocessor lines alone on their line.

``rename_identifiers`` maps a program's own names to ``id1, id2, ...`` in order of first use (the
same name always to the same new name), keeping the names of the C library and of compiler
builtins, so that a model learns the shape of programs rather than their authors' spelling.

Rare tokens are spelled out for a model (``spell``): ``12345`` becomes ``1 ##2 ##3 ##4 ##5``, so a
fixed vocabulary still writes any literal. ``##`` can start no real token once the preprocessor
has run (it is the token-pasting operator, which exists only inside macros).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from functools import lru_cache

from gensdk.extras import require

CONTINUE = "##"
# leaves kept whole: their inner structure (quotes, escapes) is not worth a model's attention
ATOMIC = {"string_literal", "char_literal", "number_literal", "system_lib_string", "raw_string_literal"}
IDENTIFIERS = {"identifier", "field_identifier", "type_identifier", "statement_identifier"}
NEWLINE_AFTER = {";", "{", "}"}

# Names a program shares with its environment: kept by rename_identifiers. The C standard library
# (C11 headers most programs use), the names that glibc's headers and the torture suite use, and
# everything the compiler reserves (leading underscore + capital or double underscore).
LIBRARY_NAMES = frozenset("""
main printf fprintf sprintf snprintf vprintf vfprintf vsprintf vsnprintf puts putchar fputs fputc putc
scanf sscanf fscanf getchar fgets fgetc getc fopen fclose fread fwrite fflush fseek ftell rewind remove
rename tmpfile perror stdin stdout stderr FILE EOF BUFSIZ fileno setvbuf setbuf ungetc
malloc calloc realloc free abort exit _Exit atexit atoi atol atoll atof strtol strtoul strtoll strtoull
strtod strtof strtold abs labs llabs div ldiv lldiv qsort bsearch rand srand getenv system RAND_MAX
EXIT_SUCCESS EXIT_FAILURE alloca memcpy memmove memset memcmp memchr strcpy strncpy strcat strncat strcmp
strncmp strlen strchr strrchr strstr strspn strcspn strpbrk strtok strdup strndup strerror bzero bcopy
index rindex ffs
size_t ssize_t ptrdiff_t wchar_t wint_t intptr_t uintptr_t intmax_t uintmax_t NULL offsetof
int8_t int16_t int32_t int64_t uint8_t uint16_t uint32_t uint64_t
INT8_MAX INT16_MAX INT32_MAX INT64_MAX UINT8_MAX UINT16_MAX UINT32_MAX UINT64_MAX INT8_MIN INT16_MIN
INT32_MIN INT64_MIN SIZE_MAX PTRDIFF_MAX PTRDIFF_MIN INTPTR_MAX UINTPTR_MAX
CHAR_BIT CHAR_MAX CHAR_MIN SCHAR_MAX SCHAR_MIN UCHAR_MAX SHRT_MAX SHRT_MIN USHRT_MAX INT_MAX INT_MIN
UINT_MAX LONG_MAX LONG_MIN ULONG_MAX LLONG_MAX LLONG_MIN ULLONG_MAX
FLT_MAX FLT_MIN DBL_MAX DBL_MIN LDBL_MAX LDBL_MIN FLT_EPSILON DBL_EPSILON FLT_MANT_DIG DBL_MANT_DIG
va_list va_start va_end va_arg va_copy jmp_buf setjmp longjmp signal raise SIGABRT SIGSEGV
bool true false complex _Complex_I I
sqrt sqrtf sqrtl pow powf fabs fabsf fabsl floor ceil round trunc fmod exp log log10 sin cos tan atan
atan2 copysign nan nanf inf isnan isinf isfinite signbit HUGE_VAL INFINITY NAN
errno isdigit isalpha isalnum isspace isupper islower toupper tolower isprint ispunct isxdigit
time clock time_t clock_t assert
""".split())


@lru_cache(maxsize=1)
def _parser():
    tree_sitter, tree_sitter_c = require("tree_sitter", "fuzzing"), require("tree_sitter_c", "fuzzing")
    return tree_sitter.Parser(tree_sitter.Language(tree_sitter_c.language()))


def parse(source: str | bytes):
    """The tree-sitter tree of ``source`` (never fails: syntax errors become ERROR nodes)."""
    return _parser().parse(source.encode("utf-8", "surrogateescape") if isinstance(source, str) else source)


def walk(node, stop=lambda node: False) -> Iterable:
    """Every node under ``node`` in source order, not descending below nodes where ``stop`` holds;
    iterative, since generated and torture programs nest deeper than Python's recursion limit."""
    stack = [node]
    while stack:
        node = stack.pop()
        yield node
        if not stop(node):
            stack.extend(reversed(node.children))


def _leaves(node) -> Iterable:
    whole = lambda n: n.type in ATOMIC or n.type.startswith("preproc_")  # noqa: E731
    return (n for n in walk(node, whole) if n.child_count == 0 or whole(n))


def lex(source: str, tree=None) -> list[tuple[str, str]]:
    """``(kind, text)`` of each token of ``source``: kind is the tree-sitter node type ("identifier",
    "number_literal", "{", ...), "directive" for a preprocessor line, "stray" for text the parser
    skipped. Comments are dropped. ``tree``: ``parse(source)`` when the caller has it already."""
    data = source.encode("utf-8", errors="surrogateescape")
    out: list[tuple[str, str]] = []

    def stray(a: int, b: int) -> None:  # bytes no leaf covers: keep what is not blank
        out.extend(("stray", t) for t in data[a:b].decode("utf-8", "surrogateescape").split())

    pos = 0
    for leaf in _leaves((tree or parse(data)).root_node):
        if leaf.start_byte > pos:
            stray(pos, leaf.start_byte)
        pos = max(pos, leaf.end_byte)
        if leaf.type == "comment" or leaf.start_byte == leaf.end_byte:  # comments, and nodes the parser invented
            continue
        text = leaf.text.decode("utf-8", "surrogateescape")
        if leaf.type.startswith("preproc_"):
            out.extend(("directive", line) for line in _directive_lines(text))
        else:
            out.append((leaf.type, text))
    stray(pos, len(data))
    return out


def tokenize(source: str) -> list[str]:
    """The tokens of ``source``: preprocessor directives whole, one token per line; comments
    dropped; so ``render(tokenize(s))`` loses nothing but comments and layout."""
    return [text for _, text in lex(source)]


def _directive_lines(text: str) -> list[str]:
    """A preprocessor node as one token per logical line, whitespace collapsed (an #if block
    contains code lines too; only directive lines matter here, since corpus programs are
    preprocessed before they are tokenized)."""
    text = text.replace("\\\n", " ")
    return [" ".join(line.split()) for line in text.splitlines() if line.strip()]


def is_directive(token: str) -> bool:
    return token.startswith("#")


def join_pieces(tokens: Sequence[str]) -> list[str]:
    """Tokens with every ``##`` piece glued to the token before it (a spelled literal made whole)."""
    out: list[str] = []
    for tok in tokens:
        if tok.startswith(CONTINUE) and out:
            out[-1] += tok[len(CONTINUE):]
        else:
            out.append(tok)
    return out


def render(tokens: Sequence[str]) -> str:
    """Tokens as C text: ``##`` pieces joined, directives alone on their line."""
    out: list[str] = []
    line_start = True
    for tok in join_pieces(tokens):
        if is_directive(tok):
            out.append(("" if line_start else "\n") + tok + "\n")
            line_start = True
            continue
        out.append(tok if line_start else " " + tok)
        line_start = tok in NEWLINE_AFTER
        if line_start:
            out.append("\n")
    text = "".join(out)
    return text if text.endswith("\n") or not text else text + "\n"


# keywords and type names are never renamed, even where the parser (in an unusual program, such as
# one with implicit int) takes them for identifiers
KEYWORDS = frozenset("""
auto break case char const continue default do double else enum extern float for goto if inline int long
register restrict return short signed sizeof static struct switch typedef union unsigned void volatile while
_Alignas _Alignof _Atomic _Bool _Complex _Generic _Imaginary _Noreturn _Static_assert _Thread_local
asm typeof
""".split())
_RESERVED = re.compile(r"^(__|_[A-Z])")


def is_library_name(name: str) -> bool:
    return name in LIBRARY_NAMES or name in KEYWORDS or bool(_RESERVED.match(name)) or name.startswith("__builtin")


DECLARATIONS = ("declaration", "parameter_declaration", "field_declaration", "type_definition", "function_definition")
TAGGED = ("struct_specifier", "union_specifier", "enum_specifier", "enumerator")


def _declared_identifier(declarator):
    while declarator is not None and declarator.type not in IDENTIFIERS:
        declarator = declarator.child_by_field_name("declarator")
    return declarator


def declared_names(root) -> set[str]:
    """The names a program (the ``root`` of its tree) declares itself: variables, functions, parameters (K&R ones too), fields,
    typedefs, tags, enumerators and labels. Everything else it uses comes from its headers."""
    names = set()
    for node in walk(root):
        found = []
        if node.type in DECLARATIONS:
            found = [_declared_identifier(d) for d in node.children_by_field_name("declarator")]
        elif node.type in TAGGED:
            found = [node.child_by_field_name("name")]
        elif node.type == "labeled_statement":
            found = [node.child_by_field_name("label")]
        elif node.type == "parameter_list":
            found = [c for c in node.named_children if c.type == "identifier"]
        names.update(n.text.decode("utf-8", "surrogateescape") for n in found if n is not None)
    return names


def rename_identifiers(source: str) -> str:
    """``source`` with the identifiers it declares itself renamed ``id1, id2, ...`` in order of first
    use (never library names or keywords, even where the program redeclares one); comments and
    layout are normalized as by ``render``."""
    tree = parse(source)
    own = {name for name in declared_names(tree.root_node) if not is_library_name(name)}
    names: dict[str, str] = {}
    tokens = [names.setdefault(text, f"id{len(names) + 1}") if kind in IDENTIFIERS and text in own else text
              for kind, text in lex(source, tree)]
    return render(tokens)


def spell(tokens: Sequence[str], known: set[str] | frozenset[str]) -> list[str]:
    """``tokens`` with every token outside ``known`` spelled as its first character followed by
    ``##``-pieces of the rest (characters outside ``known`` too stay as they are: the caller's
    vocabulary decides whether they are learnable)."""
    out: list[str] = []
    for tok in tokens:
        if tok in known or len(tok) == 1:
            out.append(tok)
        else:
            out.append(tok[0])
            out.extend(CONTINUE + ch for ch in tok[1:])
    return out
