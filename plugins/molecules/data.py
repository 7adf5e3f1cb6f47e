"""Molecules in and out: SMILES files, the MOSES splits, RDKit canonicalization in parallel processes,
and the two text representations the sequence models learn (SMILES, SELFIES).

Every reader counts what it drops instead of crashing: empty lines, SMILES RDKit cannot parse or
sanitize, and multi-fragment entries (salts, mixtures), of which the largest fragment is kept by
default (``fragments="largest"``, RDKit's ``LargestFragmentChooser``) or the entry dropped
(``"reject"``).
"""

from __future__ import annotations

import csv
import gzip
import io
import os
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Iterable, Sequence

from gensdk.core.executor import Backend
from gensdk.errors import UserError
from gensdk.extras import require

MOSES_SPLITS = ("train", "test", "test_scaffolds")
FRAGMENT_POLICIES = ("largest", "reject", "keep")
REPRESENTATIONS = ("smiles", "selfies")
SELFIES_PATTERN = r"\[[^\]]+\]"  # every SELFIES symbol is one bracketed token
EXAMPLE_LIMIT = 5  # bad entries quoted in a report
CHUNK = 2000  # SMILES per task sent to a worker process


# --- reading files ---------------------------------------------------------------------------------
def molsets_folder() -> Path:
    """The installed molsets package's folder, which holds the MOSES splits and filter lists (read by
    path: ``import moses`` fails on current pandas and RDKit)."""
    import importlib.util

    spec = importlib.util.find_spec("moses")
    if spec is None or not spec.submodule_search_locations:
        raise UserError("the MOSES data sets need the molsets package: pip install --no-deps molsets")
    return Path(next(iter(spec.submodule_search_locations)))


def moses_path(split: str) -> Path:
    """The csv.gz of a MOSES split, shipped by the PyPI package molsets."""
    if split not in MOSES_SPLITS:
        raise UserError(f"unknown MOSES split {split!r} (known: {', '.join(MOSES_SPLITS)})")
    path = molsets_folder() / "dataset" / "data" / f"{split}.csv.gz"
    if not path.is_file():
        raise UserError(f"molsets is installed but {path} is missing; reinstall it: pip install --no-deps molsets")
    return path


def read_smiles(source: str | os.PathLike, column: str | None = None) -> list[str]:
    """The raw SMILES strings of a file, or of ``moses:<split>``, in order, empty entries included
    (as ""), so that a report can count them.

    ``.smi``/``.txt``: the first whitespace-separated field of each line (a header line ``smiles`` is
    skipped). ``.csv``/``.tsv``: the column ``column``, else the one named SMILES (any case), else the
    first. A trailing ``.gz`` is read through gzip."""
    text = str(source)
    if text.startswith("moses:"):
        return read_smiles(moses_path(text.split(":", 1)[1]), column="SMILES")
    path = Path(source)
    if not path.is_file():
        raise UserError(f"{path}: no such file")
    name = path.name.lower().removesuffix(".gz")
    suffix = Path(name).suffix
    try:
        raw = gzip.open(path, "rb").read() if path.name.lower().endswith(".gz") else path.read_bytes()
        content = raw.decode("utf-8-sig")
    except (OSError, EOFError) as err:
        raise UserError(f"{path}: cannot read ({err})") from None
    except UnicodeDecodeError as err:
        raise UserError(f"{path}: not UTF-8 text (byte {err.start})") from None
    if suffix in (".csv", ".tsv"):
        return _read_table_column(content, "\t" if suffix == ".tsv" else ",", column, path)
    if suffix not in (".smi", ".smiles", ".txt", ""):
        raise UserError(f"{path}: unknown SMILES file type {suffix!r} (use .smi, .txt, .csv or .tsv, optionally .gz)")
    lines = content.splitlines()
    out = [(line.split() or [""])[0] for line in lines]
    if out and out[0].lower() == "smiles":
        out = out[1:]
    return out


def _read_table_column(content: str, delimiter: str, column: str | None, path: Path) -> list[str]:
    try:
        # newline="": the csv module's own line endings (a lone \r was "new-line character seen in unquoted field")
        rows = list(csv.reader(io.StringIO(content, newline=""), delimiter=delimiter))
    except csv.Error as err:  # e.g. a field over the csv module's 131,072-character limit
        raise UserError(f"{path}: not a readable table ({err})") from None
    if not rows:
        raise UserError(f"{path}: empty file")
    header = [h.strip() for h in rows[0]]
    if column is not None:
        if column not in header:
            raise UserError(f"{path}: no column {column!r} (columns: {', '.join(header)})")
        index = header.index(column)
    else:
        lower = [h.lower() for h in header]
        index = lower.index("smiles") if "smiles" in lower else 0
    return [row[index].strip() if index < len(row) else "" for row in rows[1:]]


# --- canonicalization ------------------------------------------------------------------------------
@dataclass
class MoleculeReport:
    """What a reader or sampler kept and what it dropped, with a few examples of each fault."""

    total: int = 0
    kept: int = 0
    empty: int = 0
    invalid: int = 0            # RDKit cannot parse or sanitize it
    fragments: int = 0          # multi-fragment entries (largest kept, or rejected, by policy)
    duplicates: int = 0         # dropped by ``unique=True``
    too_long: int = 0           # longer than a model's max length
    unknown_tokens: int = 0     # tokens a model's vocabulary lacks
    examples: dict[str, list[str]] = field(default_factory=dict)

    def note(self, fault: str, smiles: str) -> None:
        setattr(self, fault, getattr(self, fault) + 1)
        quoted = self.examples.setdefault(fault, [])
        if len(quoted) < EXAMPLE_LIMIT:
            quoted.append(smiles)

    def summary(self) -> str:
        parts = [f"{self.kept} of {self.total} kept"]
        for fault in ("empty", "invalid", "fragments", "duplicates", "too_long", "unknown_tokens"):
            count = getattr(self, fault)
            if count:
                example = self.examples.get(fault, [""])[0]
                parts.append(f"{count} {fault.replace('_', ' ')}" + (f" (e.g. {example!r})" if example else ""))
        return "; ".join(parts)

    def to_dict(self) -> dict:
        return asdict(self)


def _canonical_one(smiles: str, fragments: str) -> tuple[str | None, str | None]:
    """(canonical SMILES or None, the fault: None, 'empty', 'invalid' or 'fragments')."""
    from rdkit import Chem

    if not smiles:
        return None, "empty"
    mol = Chem.MolFromSmiles(smiles)
    if mol is None or mol.GetNumAtoms() == 0:
        return None, "invalid"
    fault = None
    if "." in smiles and len(Chem.GetMolFrags(mol)) > 1:
        fault = "fragments"
        if fragments == "reject":
            return None, fault
        if fragments == "largest":
            from rdkit.Chem.MolStandardize import rdMolStandardize

            mol = rdMolStandardize.LargestFragmentChooser().choose(mol)
    try:
        return Chem.MolToSmiles(mol), fault
    except Exception:  # noqa: BLE001 - RDKit raises assorted errors on exotic input
        return None, "invalid"


def _canonical_chunk(args: tuple[list[str], str]) -> list[tuple[str | None, str | None]]:
    from rdkit import RDLogger

    RDLogger.DisableLog("rdApp.*")  # every bad SMILES would print a line; the report counts them
    smiles, fragments = args
    return [_canonical_one(s, fragments) for s in smiles]


def default_workers() -> int:
    return max(1, min(os.cpu_count() or 1, 32))


def canonical_smiles(smiles: Sequence[str], fragments: str = "largest", workers: int | None = None
                     ) -> list[tuple[str | None, str | None]]:
    """``(canonical or None, fault)`` for each input, computed in ``workers`` processes (1: in this
    process; None: one per CPU) when there are enough inputs to pay for them."""
    if fragments not in FRAGMENT_POLICIES:
        raise UserError(f"fragments must be one of {', '.join(FRAGMENT_POLICIES)}, got {fragments!r}")
    smiles = [s.strip() if isinstance(s, str) else "" for s in smiles]
    workers = default_workers() if workers is None else workers
    chunks = [(list(smiles[i:i + CHUNK]), fragments) for i in range(0, len(smiles), CHUNK)]
    return [r for part in Backend(workers if len(chunks) > 1 else 1).map(_canonical_chunk, chunks) for r in part]


def progress_bar(total: int, enabled: bool, desc: str) -> Any:
    """A tqdm bar of molecules on stderr (a no-op when not enabled)."""
    from tqdm import tqdm

    return tqdm(total=total, disable=not enabled, desc=desc, unit="mol", dynamic_ncols=True)


def _randomized_chunk(args: tuple[list[str], int, int]) -> list[str]:
    import random

    from rdkit import Chem, RDLogger

    RDLogger.DisableLog("rdApp.*")
    smiles, copies, seed = args
    rng = random.Random(seed)
    out = []
    for s in smiles:
        mol = Chem.MolFromSmiles(s)
        if mol is None:
            out.extend([s] * copies)
            continue
        order = list(range(mol.GetNumAtoms()))
        for _ in range(copies):  # a random atom order written without canonical reordering
            rng.shuffle(order)
            out.append(Chem.MolToSmiles(Chem.RenumberAtoms(mol, order), canonical=False))
    return out


def randomized_smiles(smiles: Sequence[str], copies: int = 1, seed: int = 0, workers: int | None = None
                      ) -> list[str]:
    """``copies`` random (non-canonical) SMILES of each molecule, in input order: molecule i's forms are
    entries ``i*copies .. i*copies+copies-1``. Random atom orderings (SMILES enumeration, Bjerrum 2017)
    keep a language model from memorizing one string per molecule; Arus-Pous et al. (2019) found that
    models trained on them cover the chemical space more uniformly and generalize better. Unparsable
    inputs are repeated as they are (the tokenizer and RDKit downstream count them). Repeatable for a
    given ``seed``, whatever ``workers``."""
    if copies < 1:
        raise UserError(f"copies must be >= 1, got {copies}")
    smiles = list(smiles)
    workers = default_workers() if workers is None else workers
    chunks = [(smiles[i:i + CHUNK], copies, seed * 1_000_003 + i) for i in range(0, len(smiles), CHUNK)]
    return [r for part in Backend(workers if len(chunks) > 1 else 1).map(_randomized_chunk, chunks) for r in part]


def clean_smiles(smiles: Iterable[str], fragments: str = "largest", unique: bool = False,
                 workers: int | None = None) -> tuple[list[str], MoleculeReport]:
    """Canonical SMILES of the inputs that RDKit accepts, in order, and the report of the rest."""
    smiles = list(smiles)
    report = MoleculeReport(total=len(smiles))
    out: list[str] = []
    seen: set[str] = set()
    for raw, (canonical, fault) in zip(smiles, canonical_smiles(smiles, fragments, workers)):
        if fault is not None:
            report.note(fault, raw)
        if canonical is None:
            continue
        if unique:
            if canonical in seen:
                report.note("duplicates", raw)
                continue
            seen.add(canonical)
        out.append(canonical)
    report.kept = len(out)
    return out, report


def load_smiles(source: str | os.PathLike, column: str | None = None, fragments: str = "largest",
                unique: bool = False, canonicalize: bool = True, workers: int | None = None
                ) -> tuple[list[str], MoleculeReport]:
    """Read and canonicalize a SMILES file (or ``moses:<split>``). ``canonicalize=False`` trusts the
    file (only empty lines are dropped): the MOSES splits are canonical RDKit SMILES already."""
    raw = read_smiles(source, column)
    if not canonicalize:
        kept = [s for s in raw if s]
        report = MoleculeReport(total=len(raw), kept=len(kept), empty=len(raw) - len(kept))
        return kept, report
    smiles, report = clean_smiles(raw, fragments, unique, workers)
    if not smiles:
        raise UserError(f"{source}: no valid molecule ({report.summary()})")
    return smiles, report


# --- representations -------------------------------------------------------------------------------
def check_representation(name: str) -> str:
    if name not in REPRESENTATIONS:
        raise UserError(f"unknown representation {name!r} (known: {', '.join(REPRESENTATIONS)})")
    if name == "selfies":
        require("selfies", "molecules")
    return name


def to_text(smiles: Sequence[str], representation: str) -> list[str | None]:
    """The strings a sequence model learns: SMILES as they are, or their SELFIES (None where the
    encoder refuses a molecule)."""
    if check_representation(representation) == "smiles":
        return list(smiles)
    import selfies as sf

    out: list[str | None] = []
    for s in smiles:
        try:
            out.append(sf.encoder(s))
        except sf.EncoderError:
            out.append(None)
    return out


def to_smiles(texts: Sequence[str], representation: str) -> list[str]:
    """Model output back to (not yet validated) SMILES; a SELFIES that cannot decode becomes ""."""
    if check_representation(representation) == "smiles":
        return list(texts)
    import selfies as sf

    out = []
    for t in texts:
        try:
            out.append(sf.decoder(t) or "")
        except sf.DecoderError:
            out.append("")
    return out


def token_pattern(representation: str) -> str:
    from gensdk.core.tokens import SMILES_PATTERN

    return SMILES_PATTERN if check_representation(representation) == "smiles" else SELFIES_PATTERN


def write_smiles(path: str | os.PathLike, smiles: Sequence[str]) -> None:
    """One SMILES a line, gzipped where the name ends in .gz; written atomically."""
    from gensdk.core.io import atomic_write

    path = Path(path)
    text = "\n".join(smiles) + "\n"

    def write(tmp: str) -> None:
        if path.name.endswith(".gz"):
            with gzip.open(tmp, "wt") as f:
                f.write(text)
        else:
            Path(tmp).write_text(text)

    atomic_write(path, write)
