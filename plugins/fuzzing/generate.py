"""Generated programs for fuzzers: ``generate_programs`` writes a flat folder of .c files (AFL++'s
``-i`` and libFuzzer's corpus directory take it as it is) and a token dictionary beside it.

A sample is made runnable (``program.make_runnable``) and, where gcc rejects it, repaired by
deleting what it rejects (``repair``), in a pool of worker processes; ``--filter compiles`` then
drops what still does not compile.

Programs are made in numbered batches, batch ``b`` sampled with seed ``(seed, b)`` and written as
``prog-BBBBB-IIII.c``; ``resume`` makes the last (maybe partial) batch again and goes on, so a cut
run ends with the same files as an unbroken one (on the same device).
"""

from __future__ import annotations

import os
import re
import time
from functools import partial
from pathlib import Path
from typing import Any

import torch

from gensdk.core.io import atomic_write
from gensdk.errors import UserError

from .corpus import compiles, load_corpus
from .dictionary import frequent_tokens, write_dictionary
from .model import CodeModel
from .program import generated_part, make_runnable
from .repair import repair as repair_program
from .sandbox import Sandbox, parallel


MAX_BARREN = 10  # batches in a row with no program kept before --filter compiles gives up
PROGRAM_NAME = re.compile(r"^prog-(\d{5})-(\d{4})\.c$")


def _start(out: Path, resume: bool) -> tuple[int, int]:
    """(first batch to write, programs already written before it)."""
    if out.exists() and not out.is_dir():
        raise UserError(f"{out}: exists and is not a folder")
    names = [p.name for p in out.iterdir()] if out.is_dir() else []
    if names and not resume:
        raise UserError(f"{out}: not empty; use --resume to continue, or choose an empty folder")
    batches = [int(m[1]) for name in names if (m := PROGRAM_NAME.match(name))]
    if not batches:
        return 0, 0
    last = max(batches)
    return last, sum(b < last for b in batches)


def finish(text: str, runnable: bool, repair: bool, compiles_only: bool) -> tuple[str | None, str]:
    """A sample as it is written: ``(program, how)``, how being "as-generated", "repaired",
    "not-compiling", or "unchecked" where gcc is not asked; the program is None where
    ``compiles_only`` drops it."""
    if not (compiles_only or (runnable and repair)):
        # no gcc run: no sandbox to set up (about 14 ms a program)
        return (make_runnable(text) if runnable else text), "unchecked"
    with Sandbox() as box:
        if runnable and repair:
            fixed = repair_program(text, box)
            if fixed.program is not None:
                return fixed.program, "as-generated" if fixed.rounds == 0 else "repaired"
            return (None if compiles_only else make_runnable(text)), "not-compiling"
        program = make_runnable(text) if runnable else text
        return (program, "as-generated") if compiles(program, box) else (None, "not-compiling")


def generate_programs(model_dir: Path, n: int, out: Path, compiles_only: bool = False, runnable: bool = True,
                      repair: bool = True, temperature: float = 1.0, top_k: int | None = None, batch_size: int = 256,
                      seed: int = 0, device: str = "auto", resume: bool = False, progress: bool = True,
                      dictionary: Path | None = None, workers: int | None = None) -> dict[str, Any]:
    """Write ``n`` programs into ``out``; returns counts and rates (see the module)."""
    from tqdm.auto import tqdm

    if n < 1 or batch_size < 1:
        raise UserError("--n and --batch-size must be >= 1")
    out = Path(os.path.abspath(out))  # "." has no name to put the dictionary beside
    batch, done = _start(out, resume)
    checks = compiles_only or (runnable and repair)  # gcc runs: worth a pool of processes
    finishing = partial(finish, runnable=runnable, repair=repair, compiles_only=compiles_only)
    sampled, barren = 0, 0
    how: dict[str, int] = {}
    start = time.perf_counter()
    model = CodeModel.load(model_dir, device=device)  # a bad model fails here, before any worker exists
    out.mkdir(parents=True, exist_ok=True)
    # the workers run only the parser and gcc: forked from a process with the model on a GPU, they
    # never touch the device
    with parallel(workers if checks else 1, ordered=True) as imap, \
            tqdm(total=n, initial=done, disable=not progress, desc="generating", unit="program") as bar:
        while done < n:
            torch.manual_seed(seed * 1_000_003 + batch)
            texts = model.sample(batch_size, batch_size=batch_size, temperature=temperature, top_k=top_k)
            sampled += len(texts)
            kept = 0
            for program, what in imap(finishing, texts):
                how[what] = how.get(what, 0) + 1
                if program is None or done + kept >= n:
                    continue
                path = out / f"prog-{batch:05d}-{kept:04d}.c"
                if not path.exists():
                    atomic_write(path, lambda tmp, t=program: Path(tmp).write_text(t))
                kept += 1
            done += kept
            bar.update(kept)
            batch += 1
            barren = 0 if kept else barren + 1
            if barren == MAX_BARREN:  # a model that never writes a program gcc accepts would loop forever
                raise UserError(f"{model_dir}: none of the last {MAX_BARREN * batch_size} samples compiled; "
                                "train the model longer or lower --temperature")
    seconds = time.perf_counter() - start
    files = sorted(out.glob("prog-*.c"))
    dict_path = dictionary or out.with_name(out.name + ".dict")
    entries = write_dictionary(dict_path, frequent_tokens(generated_part(p.read_text()) for p in files))
    return {"programs": len(files), "sampled_this_run": sampled, "samples_by_outcome": dict(sorted(how.items())),
            "seconds": round(seconds, 2), "dictionary": str(dict_path), "dictionary_entries": entries}


def dictionary_tokens(source: Path, limit: int) -> list[str]:
    """Tokens for a dictionary: a model's vocabulary words, or the most frequent tokens of a folder
    of programs."""
    if (source / "config.json").is_file() or (source / "model" / "config.json").is_file():
        words = [t for t in CodeModel.load(source, device="cpu").words if not t.startswith("<")]
        return sorted(words, key=lambda t: (len(t) == 1, t))[:limit]
    return frequent_tokens(load_corpus(source), limit)
