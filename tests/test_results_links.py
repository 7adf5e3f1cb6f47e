"""benchmarks/results keeps one current report per benchmark (NAME.md) and the records behind them under raw/;
every results path that the README, the reports, the recipes and the package sources mention exists."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results"
REPORTS = sorted(RESULTS.glob("*.md"))
FULL = re.compile(r"benchmarks/results/[\w.*<>/-]*[\w*>/]")  # a path from the repository root
TICKED = re.compile(r"`([^`\s]+)`")
REPORT_NAME = re.compile(r"[a-z][a-z0-9_]*\.md")  # `ring.md`: a report beside the others
RECORD_NAME = re.compile(r"[a-z][\w.-]*\.(json|jsonl|png|txt|log|csv)")  # in a report: a record, so under raw/


def exists(path: str, base: Path) -> bool:
    """``path`` under ``base``; ``<run>`` and ``*`` stand for any name (a glob)."""
    pattern = re.sub(r"<[^>]*>", "*", path).rstrip("/")
    return any(base.glob(pattern)) if "*" in pattern else (base / pattern).exists()


def mentioned(text: str, relative: bool, report: bool = False) -> set[str]:
    """Results paths in ``text``: from the root (benchmarks/results/...) everywhere, and relative to
    benchmarks/results (`raw/...`, `name.md`) where ``relative``; in a ``report`` also a record's bare
    name (`x.json`), which must then be beside it (records are not: such a name is a stale one). A
    provenance line's command is a record of what ran, with the paths of that day, and is not read."""
    found = set()
    for line in text.splitlines():
        if line.lstrip("#> ").startswith("- command:"):
            continue
        found |= {m.group(0) for m in FULL.finditer(line)}
        if relative:
            found |= {"benchmarks/results/" + t for t in TICKED.findall(line)
                      if t.startswith("raw/") or (REPORT_NAME.fullmatch(t) and t != "README.md")
                      or (report and RECORD_NAME.fullmatch(t))}
    return found


def test_results_hold_reports_and_raw_records_only():
    assert {p.name for p in RESULTS.iterdir() if not p.name.endswith(".md")} == {"raw"}
    assert len(REPORTS) >= 20 and not any(RESULTS.glob("raw/*.md"))  # a report is never a raw record


def test_every_results_path_that_is_mentioned_exists():
    sources = [(ROOT / "README.md", True, False), *((p, True, True) for p in REPORTS),
               *((p, False, False) for p in sorted(ROOT.glob("recipes/*.yaml"))),
               *((p, False, False) for folder in ("gensdk", "plugins") for p in sorted((ROOT / folder).rglob("*.py")))]
    missing, seen = [], 0
    for path, relative, report in sources:
        for target in mentioned(path.read_text(), relative, report):
            seen += 1
            if not exists(target, ROOT):
                missing.append(f"{path.relative_to(ROOT)}: {target}")
    assert not missing, missing
    assert seen > 40  # the README and the reports do cite their records


def test_the_check_finds_a_dead_path(tmp_path):
    """The rules above catch what a move breaks: a moved record, a merged report."""
    text = ("`fuzzing_gpu_small.json` is gone from results/, `raw/nothing.json` never was, "
            "benchmarks/results/fuzzing_coverage_10k.md was merged; `ring.md` is there.\n"
            "- command: python x.py --out benchmarks/results/old_name\n")
    targets = mentioned(text, relative=True, report=True)
    assert {t for t in targets if not exists(t, ROOT)} == {"benchmarks/results/fuzzing_gpu_small.json",
                                                           "benchmarks/results/raw/nothing.json",
                                                           "benchmarks/results/fuzzing_coverage_10k.md"}
    assert "benchmarks/results/ring.md" in targets and not any("old_name" in t for t in targets)
