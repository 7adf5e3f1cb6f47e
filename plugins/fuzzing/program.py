"""Make a generated C program runnable and observable, as Csmith's programs are.

``make_runnable(source)``:
- adds the system headers of library functions the program calls without declaring them (a
  modern compiler rejects an implicit declaration);
- renames the program's own ``main`` to ``gensdk_main`` and appends a ``main`` that calls it (or,
  when there is none, every function the program defines without parameters);
- registers with ``atexit`` a report that prints a CRC-32 of every integer or floating global
  (scalars and arrays), so that two compilers' binaries can be compared by their output even when
  the program ends through ``exit``.
Pointers and structs are left out of the checksum: their bytes hold addresses or padding, which
differ between correct compilers.
"""

from __future__ import annotations

from bisect import bisect

from .lexer import declared_names, parse, walk

# Where the C library declares what generated programs call most often.
HEADERS = {
    "stdio.h": "FILE _IO_FILE printf fprintf sprintf snprintf puts putchar fputs fputc putc scanf sscanf getchar fgets fopen "
               "fclose fread fwrite fflush perror stdout stderr stdin",
    "stdlib.h": "malloc calloc realloc free abort exit atexit atoi atol strtol strtoul abs labs llabs qsort "
                "bsearch rand srand getenv",
    "string.h": "memcpy memmove memset memcmp memchr strcpy strncpy strcat strncat strcmp strncmp strlen strchr "
                "strrchr strstr strdup",
    "stdarg.h": "va_list va_start va_end va_arg va_copy",
    "limits.h": "CHAR_BIT CHAR_MAX CHAR_MIN SCHAR_MAX SCHAR_MIN UCHAR_MAX SHRT_MAX SHRT_MIN USHRT_MAX INT_MAX "
                "INT_MIN UINT_MAX LONG_MAX LONG_MIN ULONG_MAX LLONG_MAX LLONG_MIN ULLONG_MAX",
    "stddef.h": "size_t ptrdiff_t offsetof NULL wchar_t",
    "stdint.h": "int8_t int16_t int32_t int64_t uint8_t uint16_t uint32_t uint64_t intptr_t uintptr_t "
                "intmax_t uintmax_t",
    "setjmp.h": "jmp_buf setjmp longjmp",
    "math.h": "sqrt sqrtf sqrtl fabs fabsf fabsl floor ceil round trunc pow powf fmod exp log log10 sin cos tan "
              "atan atan2 copysign nan nanf isnan isinf isfinite signbit HUGE_VAL INFINITY NAN ldexp frexp fminf fmaxf",
    "ctype.h": "isdigit isalpha isalnum isspace isupper islower toupper tolower isprint ispunct isxdigit",
    "assert.h": "assert",
    "stdbool.h": "bool true false",
    "time.h": "time clock time_t clock_t CLOCKS_PER_SEC",
    "errno.h": "errno",
    "signal.h": "signal raise SIGABRT SIGSEGV",
    "float.h": "FLT_MAX FLT_MIN DBL_MAX DBL_MIN LDBL_MAX LDBL_MIN FLT_EPSILON DBL_EPSILON FLT_MANT_DIG DBL_MANT_DIG",
    "complex.h": "complex _Complex_I",
}
HEADER_OF = {name: header for header, names in HEADERS.items() for name in names.split()}
CHECKSUM_TYPES = ("primitive_type", "sized_type_specifier")
ENTRY = "gensdk_main"

PROTOTYPES = {"printf": "int printf(const char *, ...);", "atexit": "int atexit(void (*)(void));"}
MARKER = "/* gensdk: what follows prints a checksum of the globals at exit */"
REPORT = "\n" + MARKER + """
static unsigned int gensdk_crc = 0xFFFFFFFFu;
static void gensdk_hash(const void *p, unsigned long n) {
  const unsigned char *b = (const unsigned char *) p;
  int k;
  while (n--) {
    gensdk_crc ^= *b++;
    for (k = 0; k < 8; k++) gensdk_crc = (gensdk_crc >> 1) ^ (0xEDB88320u & (0u - (gensdk_crc & 1u)));
  }
}
static void gensdk_report(void) {
%s  printf("checksum = %%08X\\n", gensdk_crc ^ 0xFFFFFFFFu);
}
int main(void) {
  atexit(gensdk_report);
%s  return 0;
}
"""


def _text(node) -> str:
    return node.text.decode("utf-8", "surrogateescape")


def _declared_name(declarator):
    """The identifier a declarator declares, and whether it is a plain variable or an array of
    them (not a pointer or a function)."""
    node, plain = declarator, True
    while node is not None and node.type != "identifier":
        if node.type in ("pointer_declarator", "function_declarator", "parenthesized_declarator"):
            plain = False
        node = node.child_by_field_name("declarator")
    return (_text(node) if node is not None else None), plain


def implicit_int_functions(root) -> list[tuple[str, int, set[int]]]:
    """Old-style definitions without a return type (``main () { ... }``, ``f (a, b) int a; { ... }``),
    which tree-sitter reads as a call missing its ``;`` (or an ERROR node holding the call), then
    the K&R parameter declarations, then a block: ``(name, number of parameters, ids of the
    parameter declarations)`` of each, so that those declarations are not taken for globals."""
    found, kids = [], root.children
    for i, node in enumerate(kids):
        call = node.named_children[0] if node.type in ("expression_statement", "ERROR") and node.named_children else None
        if call is None or call.type != "call_expression":
            continue
        if node.type == "expression_statement" and node.children[-1].end_byte != node.children[-1].start_byte:
            continue  # a real call statement: it ends with a ';'
        name = call.child_by_field_name("function")
        j = i + 1
        while j < len(kids) and kids[j].type == "declaration":  # K&R parameter declarations
            j += 1
        if name is not None and name.type == "identifier" and j < len(kids) and kids[j].type == "compound_statement":
            args = call.child_by_field_name("arguments")
            found.append((_text(name), len(args.named_children) if args is not None else 0,
                          {k.id for k in kids[i + 1:j]}))
    return found


class Outline:
    """What ``make_runnable`` needs to know of a program: its functions, globals and names."""

    def __init__(self, source: str):
        self.root = root = parse(source).root_node
        self.has_errors = root.has_error
        self.own = declared_names(root)       # every name the program declares, at any depth
        self.functions: dict[str, int] = {}   # defined function -> number of parameters
        self.checksummed: list[str] = []      # integer/floating globals (scalars, arrays)
        self.declared: set[str] = set()       # every name a top-level declaration or definition introduces
        self.includes = {_text(n).split(None, 1)[-1].strip("<>\" ") for n in root.children
                         if n.type == "preproc_include" for n in [n.child_by_field_name("path")] if n is not None}
        implicit = implicit_int_functions(root)
        parameters = set().union(*(ids for _, _, ids in implicit))
        for name, arity, _ in implicit:
            self.functions[name] = arity
            self.declared.add(name)
        # after a parse error tree-sitter may put a function's body at the top level: only what
        # stands at brace depth 0 is global
        opens = [n.start_byte for n in walk(root) if n.type == "{"]
        closes = [n.start_byte for n in walk(root) if n.type == "}"]
        for node in root.children:
            if node.id in parameters or bisect(opens, node.start_byte) > bisect(closes, node.start_byte):
                continue
            if node.type == "function_definition":
                declarator = node.child_by_field_name("declarator")
                name, _ = _declared_name(declarator)
                params = next((n for n in walk(declarator) if n.type == "parameter_list"), None)
                if name:
                    self.functions[name] = self._arity(params)
                    self.declared.add(name)
            elif node.type == "declaration":
                self._declaration(node)
            elif node.type == "type_definition":
                for d in node.children_by_field_name("declarator"):
                    self.declared.add(_declared_name(d)[0] or "")
        self.used = {_text(n) for n in walk(root) if n.type in ("identifier", "type_identifier", "primitive_type")}

    @staticmethod
    def _arity(params) -> int:
        if params is None:
            return 0
        named = [p for p in params.named_children if p.type != "comment"]
        if len(named) == 1 and _text(named[0]) == "void":
            return 0
        return len(named)

    def _declaration(self, node) -> None:
        storage = {_text(c) for c in node.children if c.type == "storage_class_specifier"}
        type_node = node.child_by_field_name("type")
        numeric = type_node is not None and type_node.type in CHECKSUM_TYPES and _text(type_node) != "void"
        for d in node.children_by_field_name("declarator"):
            name, plain = _declared_name(d)
            if not name:
                continue
            self.declared.add(name)
            defined = "extern" not in storage or d.type == "init_declarator"
            # `int a[];` is complete only at the end of the file: sizeof would not compile
            incomplete = d.type == "array_declarator" and d.child_by_field_name("size") is None
            if numeric and plain and defined and not incomplete:
                self.checksummed.append(name)


def generated_part(program: str) -> str:
    """A runnable program without the report ``make_runnable`` appended (the program as generated,
    with its headers)."""
    return program.split(MARKER, 1)[0]


def make_runnable(source: str) -> str:
    """``source`` with headers, a checksum report at exit and a ``main``; see the module."""
    return "".join(runnable_parts(source))


def runnable_parts(source: str) -> tuple[str, str, str]:
    """``make_runnable(source)`` in three parts: the headers it adds, ``source`` (``main`` renamed:
    the same lines), and what follows it (prototypes, the report, ``main``)."""
    outline = Outline(source)
    body = source
    if "main" in outline.functions:
        body = _rename(source, outline.root, "main", ENTRY)
        arguments = {0: "", 1: "1", 2: "1, gensdk_argv"}.get(outline.functions["main"], "1, gensdk_argv, gensdk_argv + 1")
        # its status is not passed on: renamed, a main that falls off its end returns an indeterminate
        # value (only main itself returns 0 there), and compilers rightly differ on it
        calls = [f"{ENTRY}({arguments})"]
    else:
        calls = [f"{name}()" for name, arity in outline.functions.items() if arity == 0]
    # headers for library names used without a declaration, but none that declares a name the
    # program defines itself (its own malloc or struct _IO_FILE would conflict)
    clashing = {HEADER_OF[n] for n in outline.own if n in HEADER_OF}
    needed = sorted({HEADER_OF[n] for n in outline.used if n in HEADER_OF and n not in outline.declared}
                    - outline.includes - clashing)
    # the report declares what it calls, unless the program has its own declaration
    prototypes = "".join(f"\n{PROTOTYPES[n]}" for n in PROTOTYPES if n not in outline.declared)
    argv = '\nstatic char *gensdk_argv[] = {"program", 0};' if any("gensdk_argv" in c for c in calls) else ""
    hashes = "".join(f"  gensdk_hash(&{name}, sizeof {name});\n" for name in outline.checksummed)
    lines = "".join(f"  {call};\n" for call in calls)
    head = "".join(f"#include <{h}>\n" for h in needed)
    return head, body.rstrip() + "\n", argv + prototypes + REPORT % (hashes, lines)


def _rename(source: str, root, old: str, new: str) -> str:
    """``source`` (whose tree is ``root``) with every identifier ``old`` (not inside strings or
    comments) spelled ``new``."""
    data = source.encode("utf-8", "surrogateescape")
    spans = [(n.start_byte, n.end_byte) for n in walk(root)
             if n.type == "identifier" and n.text == old.encode()]
    out, pos = [], 0
    for start, end in spans:
        out += [data[pos:start], new.encode()]
        pos = end
    out.append(data[pos:])
    return b"".join(out).decode("utf-8", "surrogateescape")
