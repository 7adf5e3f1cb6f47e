"""``gensdk augment``: enlarge an image-folder data set with classic and generative augmentation.

The job is a plan: for every readable input image and every k < factor, one new image with a method,
a seed and an output name, all computed from the input listing and ``--seed``. Each output file is
written atomically, so an existing file is complete; resuming skips the outputs that exist and
never duplicates one. The plan runs in chunks of ``CHUNK`` outputs, each a task of a backend (this
process, local processes, or a Ray cluster: ``gensdk.core.executor``); a chunk with generated images runs
where the generator is loaded once (a Ray actor on its GPU). ``manifest.csv`` (one row per output: file,
source, method, seed, model, filter redraws) is written by this process when the plan is done. The input
folder is only read.
"""

from __future__ import annotations

import csv
import functools
import hashlib
import io
import json
import shutil
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Iterator

import numpy as np
import torch
from tqdm import tqdm

from gensdk.core.device import resolve_device
from gensdk.core.executor import Backend
from gensdk.core.images import load_image_folder, read_image, scan_folder, to_gray_square
from gensdk.core.io import atomic_write, write_json, write_png
from gensdk.errors import UserError

from .classic import ClassicAugmenter, light_background
from .classifier import SampleFilter
from .data import style_groups
from .generative import METHODS as GENERATIVE
from .generative import (
    CharacterGenerator,
    data_digest,
    generate_filtered,
    is_trained,
    load_generator,
    shipped_generator,
    to_uint8,
    train_generator,
)

AUGMENT_METHODS = ("classic", *GENERATIVE, "mix")
STATE = ".gensdk-augment.json"
REDRAW_LOG = ".gensdk-augment-redraws.jsonl"  # filter redraws per generated file, kept across resumes
MANIFEST = "manifest.csv"
CHUNK = 256  # images generated per batch


@dataclass
class Task:
    output: str        # path relative to OUTPUT_DIR
    source: str        # input file relative to INPUT_DIR
    label: int
    method: str        # original | classic | one of generative.METHODS
    seed: int
    k: int


@dataclass
class Summary:
    inputs: int = 0
    classes: int = 0
    planned: int = 0
    written: int = 0
    already_done: int = 0
    filter_dropped: int = 0          # generated images redrawn because the filter rejected them
    not_generated: int = 0           # tasks whose every draw the filter rejected
    skipped: list[dict[str, str]] = field(default_factory=list)
    model: str | None = None
    seconds: float = 0.0
    images_per_second: float = 0.0


def task_seed(seed: int, source: str, k: int) -> int:
    """A seed per output that depends on the run's seed, the source file and k only (not on the
    order of processing or on the other files), so that a resumed run draws the same images."""
    digest = hashlib.sha256(f"{seed}/{source}/{k}".encode()).digest()
    return int.from_bytes(digest[:4], "little") & 0x7FFFFFFF


def plan(files: list[Path], labels: np.ndarray, root: Path, factor: int, method: str, seed: int,
         mix_with: str, keep_originals: bool, generated: int | None = None) -> list[Task]:
    """The outputs of every input: ``factor`` new images; in a mix, classic and generated in turn, or,
    with ``generated``, that many generated after ``factor - generated`` classic ones."""
    if method != "mix":
        methods = [method] * factor
    elif generated is None:
        methods = [("classic", mix_with)[k % 2] for k in range(factor)]
    else:
        methods = ["classic"] * (factor - generated) + [mix_with] * generated
    tasks = []
    for path, label in zip(files, labels.tolist()):
        rel = path.relative_to(root).as_posix()
        stem = Path(rel).with_suffix("").as_posix()
        if keep_originals:
            tasks.append(Task(rel, rel, label, "original", 0, -1))
        for k, m in enumerate(methods):
            tasks.append(Task(f"{stem}-{m}{k}.png", rel, label, m, task_seed(seed, rel, k), k))
    return tasks


def prepare_output(input_dir: Path, output_dir: Path, state: dict[str, Any], resume: bool, overwrite: bool) -> None:
    """Refuse a non-empty OUTPUT_DIR unless resuming the same job or replacing an earlier output."""
    inp, out = input_dir.resolve(), output_dir.resolve()
    if out == inp or inp in out.parents or out in inp.parents:
        raise UserError(f"{output_dir}: OUTPUT_DIR must be outside INPUT_DIR ({input_dir}) and not contain it")
    if output_dir.exists() and not output_dir.is_dir():
        raise UserError(f"{output_dir}: exists and is not a folder")
    if not output_dir.exists() or not any(output_dir.iterdir()):
        output_dir.mkdir(parents=True, exist_ok=True)
        write_json(output_dir / STATE, state)
        return
    previous = output_dir / STATE
    if resume:
        if not previous.is_file():
            raise UserError(f"{output_dir}: not a gensdk augment output (no {STATE}); nothing to resume")
        old = json.loads(previous.read_text())
        state = json.loads(json.dumps(state))  # tuples become lists, as in the saved file
        changed = sorted(k for k in {*state, *old} if old.get(k) != state.get(k))
        if changed:
            raise UserError(f"{output_dir}: was made with other settings ({', '.join(changed)}); "
                            "resume with the same ones, or use --overwrite")
        return
    if overwrite:
        if not previous.is_file():  # never delete a folder that gensdk did not write
            raise UserError(f"{output_dir}: not empty and not a gensdk augment output; refusing to overwrite it")
        shutil.rmtree(output_dir)
        output_dir.mkdir(parents=True)
        write_json(output_dir / STATE, state)
        return
    raise UserError(f"{output_dir}: not empty; pass --resume to continue or --overwrite to replace it")


def copy_file(source: Path, target: Path) -> None:
    atomic_write(target, lambda tmp: shutil.copyfile(source, tmp))


def chunks(items: list[Task], size: int) -> Iterator[list[Task]]:
    for i in range(0, len(items), size):
        yield items[i:i + size]


@dataclass(frozen=True)
class ChunkJob:
    """What every chunk task needs besides its tasks (absolute paths: a task may run in another folder)."""
    input_dir: str
    output_dir: str
    size: int
    classic: ClassicAugmenter | None
    filter: SampleFilter | None
    references: tuple[str, ...] = ()  # every input (relative paths): the style method's references
    class_map: tuple[int, ...] = ()  # the generator's class index of each input class
    classic_on_generated: bool = False  # generated images also go through the classic pipeline


@dataclass
class ChunkResult:
    written: int = 0
    filter_dropped: int = 0
    not_generated: int = 0
    redraws: dict[str, int] = field(default_factory=dict)  # generated output -> filter redraws


def _classic_chunk(job: ChunkJob, chunk: list[Task]) -> ChunkResult:
    return _augment_chunk(job, None, chunk)


def _augment_chunk(job: ChunkJob, generator: CharacterGenerator | None, chunk: list[Task]) -> ChunkResult:
    """Write a chunk's outputs; those already there (a chunk run again after its worker died) are left."""
    input_dir, output_dir = Path(job.input_dir), Path(job.output_dir)
    chunk = [t for t in chunk if not (output_dir / t.output).exists()]
    result = ChunkResult()
    sources = _read_sources(chunk, input_dir, job.size)
    for t in (t for t in chunk if t.method == "original"):
        copy_file(input_dir / t.source, output_dir / t.output)
        result.written += 1
    for t in (t for t in chunk if t.method == "classic"):
        write_png(output_dir / t.output, job.classic.augment(sources[t.source][0], t.seed))
        result.written += 1
    generative = [t for t in chunk if t.method in GENERATIVE]
    if generative:
        _generate(generator, generative, sources, job, result)
    return result


def augment(input_dir: str | Path, output_dir: str | Path, *, factor: int = 4, method: str = "classic",
            pipeline: str = "default", mix_with: str = "dagan", model_dir: str | Path | None = None,
            pretrained: bool = False, generated: int | None = None, classic_on_generated: bool = False,
            seed: int = 0, filter_samples: bool = True, filter_confidence: float = 0.9,
            filter_min_prob: float | None = None, keep_originals: bool = True, steps: int | None = None, size: int = 32, device: str = "auto",
            resume: bool = False, overwrite: bool = False, progress: bool = True,
            backend: Backend | None = None) -> Summary:
    """Write an enlarged copy of INPUT_DIR (one subfolder per class) to OUTPUT_DIR; see the module doc.
    ``pretrained``: draw with the generator shipped with gensdk instead of training one on the input.
    ``generated``: in a mix, how many of the ``factor`` new images per input are generated (default:
    every other one); ``classic_on_generated``: pass those through the classic pipeline too.
    ``backend``: where the chunks run (default: this process)."""
    input_dir, output_dir = Path(input_dir), Path(output_dir)
    if method not in AUGMENT_METHODS:
        raise UserError(f"unknown method {method!r}; known: {', '.join(AUGMENT_METHODS)}")
    if mix_with not in GENERATIVE:
        raise UserError(f"--mix-with must be one of {', '.join(GENERATIVE)}, got {mix_with!r}")
    if factor < 1:
        raise UserError(f"--factor must be a positive integer, got {factor}")
    if generated is not None and (method != "mix" or not 1 <= generated <= factor):
        raise UserError(f"--generated takes a number from 1 to --factor ({factor}) with --method mix, "
                        f"got {generated} with --method {method}")
    if classic_on_generated and method != "mix":
        raise UserError("--classic-on-generated needs --method mix (it passes the generated images through "
                        "the classic pipeline)")
    if pretrained and model_dir is not None:
        raise UserError("--pretrained and --model exclude each other: the shipped generator, or one of yours")
    drawing = method if method != "mix" else mix_with  # the generative method, if the job has one
    if pretrained and drawing not in GENERATIVE:
        raise UserError(f"--pretrained draws generated images: use it with --method mix or a generative method, "
                        f"not {method}")
    if not 0.0 < filter_confidence <= 1.0:
        raise UserError(f"--filter-confidence must be in (0, 1], got {filter_confidence}")
    if filter_min_prob is not None and not 0.0 < filter_min_prob <= 1.0:
        raise UserError(f"--filter-min-prob must be in (0, 1], got {filter_min_prob}")
    folder = scan_folder(input_dir, verify=True)
    # the shipped generator is checked before OUTPUT_DIR is made, so that a wrong pairing leaves nothing
    generator = _shipped(drawing, size, folder.classes, device) if pretrained else None
    classic = ClassicAugmenter(pipeline) if method in ("classic", "mix") else None
    state = {"input": str(input_dir.resolve()), "factor": factor, "method": method, "seed": seed,
             "mix_with": mix_with if method == "mix" else None, "keep_originals": keep_originals,
             "pipeline": classic.to_dict() if classic else None, "classes": folder.classes,
             "filter": filter_confidence if filter_samples else None,
             "filter_min_prob": filter_min_prob if filter_samples else None, "size": size,
             # newer options, recorded when used, so that an output made before them still resumes
             **{k: v for k, v in (("pretrained", pretrained), ("generated", generated),
                                  ("classic_on_generated", classic_on_generated)) if v}}
    prepare_output(input_dir, output_dir, state, resume, overwrite)
    tasks = plan(folder.files, folder.labels, input_dir, factor, method, seed, mix_with, keep_originals, generated)
    summary = Summary(inputs=len(folder.files), classes=len(folder.classes), planned=len(tasks),
                      skipped=[asdict(s) for s in folder.skipped])

    if generator is None and any(t.method in GENERATIVE for t in tasks):
        generator = _generator(drawing, folder, input_dir, model_dir, seed, steps, size, device, progress)
    if generator is not None:
        summary.model = str(generator.info.get("folder", model_dir))
        class_map = tuple(generator.class_indices(folder.classes).tolist())
    else:
        class_map = ()

    todo = [t for t in tasks if not (output_dir / t.output).exists()]
    summary.already_done = len(tasks) - len(todo)
    redraws = _read_redraws(output_dir)
    backend = backend or Backend()
    job = ChunkJob(str(input_dir.absolute()), str(output_dir.absolute()), size, classic,
                   SampleFilter(filter_confidence, filter_min_prob) if filter_samples else None,
                   tuple(f.relative_to(input_dir).as_posix() for f in folder.files), class_map, classic_on_generated)
    if generator is not None:  # each worker loads the saved generator once (on Ray: an actor, on its GPU)
        on, gpus = backend.resolve_device(device)
        setup = functools.partial(load_generator, str(Path(summary.model).absolute()), on)
        results = backend.map(functools.partial(_augment_chunk, job), chunks(todo, CHUNK), ordered=False,
                              setup=setup, gpus=gpus)
    else:
        results = backend.map(functools.partial(_classic_chunk, job), chunks(todo, CHUNK), ordered=False)
    start = time.perf_counter()
    bar = tqdm(total=len(todo), desc="augment", unit="img", disable=not progress)
    for result in results:
        summary.written += result.written
        summary.filter_dropped += result.filter_dropped
        summary.not_generated += result.not_generated
        if result.redraws:
            redraws.update(result.redraws)
            with open(output_dir / REDRAW_LOG, "a") as log:
                log.writelines(json.dumps({"output": k, "redraws": v}) + "\n" for k, v in result.redraws.items())
        bar.update(result.written + result.not_generated)
    bar.close()
    summary.seconds = time.perf_counter() - start
    summary.images_per_second = summary.written / summary.seconds if summary.seconds > 0 else 0.0
    _write_manifest(output_dir, tasks, summary.model, redraws)
    write_json(output_dir / "summary.json", asdict(summary))
    return summary


def _read_sources(chunk: list[Task], input_dir: Path, size: int) -> dict[str, tuple[np.ndarray, torch.Tensor]]:
    """Each source of a chunk read once: the original array and its [1, size, size] model view."""
    sources = {}
    for t in chunk:
        if t.method != "original" and t.source not in sources:
            array = read_image(input_dir / t.source, keep_gray=True)  # changed since the scan: BadImage, a UserError
            sources[t.source] = (array, torch.from_numpy(to_gray_square(array, size))[None])
    return sources


def _generate(generator: CharacterGenerator, tasks: list[Task], sources: dict[str, Any], job: ChunkJob,
              result: ChunkResult) -> None:
    output_dir = Path(job.output_dir)
    labels = torch.tensor([job.class_map[t.label] for t in tasks])
    if generator.method == "style":  # the look of another input image (of any class), chosen by the task's seed
        references = [Path(job.input_dir) / job.references[t.seed % len(job.references)] for t in tasks]
        images = torch.stack([torch.from_numpy(to_gray_square(read_image(r, keep_gray=True), job.size))[None]
                              for r in references])
    else:
        images = torch.stack([sources[t.source][1] for t in tasks])
    out, accepted, dropped = generate_filtered(generator, labels, images, [t.seed for t in tasks], job.filter)
    for i, t in enumerate(tasks):
        result.filter_dropped += dropped[i]
        result.redraws[t.output] = dropped[i]
        if not accepted[i]:
            result.not_generated += 1
            continue
        image = to_uint8(out[i], light_background(sources[t.source][0]))
        if job.classic_on_generated:
            image = job.classic.augment(image, t.seed)
        write_png(output_dir / t.output, image)
        result.written += 1


def _shipped(method: str, size: int, classes: list[str], device: str) -> CharacterGenerator:
    """The generator shipped with gensdk, if it can draw this job: its method, size and classes."""
    generator = shipped_generator(str(resolve_device(device)))
    if generator.method != method:
        raise UserError(f"the shipped generator is a {generator.method} generator: use --mix-with "
                        f"{generator.method} (or --method {generator.method}) with --pretrained, not {method}")
    if generator.image_size != size:
        raise UserError(f"the shipped generator draws {generator.image_size}x{generator.image_size} images; "
                        f"--size {size} needs a generator of your own")
    generator.class_indices(classes)  # every input class must be one of its own
    return generator


def _generator(method: str, folder: Any, input_dir: Path, model_dir: str | Path | None, seed: int,
               steps: int | None, size: int, device: str, progress: bool) -> CharacterGenerator:
    """The generator in ``model_dir`` if one is there, else one trained on the input and saved (by
    default in runs/characters/<method>-<hash of the input>, so that a second run reuses it). Its
    classes must include the input's (by name)."""
    dev = str(resolve_device(device))
    chars = None
    if model_dir is None:
        chars = load_image_folder(input_dir, size)
        model_dir = Path("runs") / "characters" / f"{method}-{data_digest(chars.images, chars.labels, chars.classes)}"
    elif Path(model_dir).is_dir() and any(Path(model_dir).iterdir()) and not is_trained(model_dir) \
            and not (Path(model_dir) / "checkpoint.pt").is_file():
        raise UserError(f"{model_dir}: not a trained character generator, and not empty")
    if is_trained(model_dir):
        generator = load_generator(model_dir, dev)
        if generator.method != method:
            raise UserError(f"{model_dir}: holds a {generator.method} generator, not {method}")
    else:
        chars = chars or load_image_folder(input_dir, size)
        if progress:
            print(f"training a {method} generator on {len(chars)} images of {input_dir} into {model_dir}")
        generator = train_generator(method, chars.images, chars.labels, chars.classes, model_dir, steps=steps,
                                    seed=seed, device=dev, resume=(Path(model_dir) / "checkpoint.pt").is_file(),
                                    progress=progress, groups=style_groups(chars))
    generator.info["folder"] = str(model_dir)
    return generator


def _read_redraws(output_dir: Path) -> dict[str, int]:
    redraws = {}
    path = output_dir / REDRAW_LOG
    for line in path.read_text().splitlines() if path.is_file() else []:
        try:
            record = json.loads(line)
            redraws[record["output"]] = int(record["redraws"])
        except (json.JSONDecodeError, KeyError, TypeError, ValueError):
            continue  # a line torn by a kill
    return redraws


def _write_manifest(output_dir: Path, tasks: list[Task], model: str | None, redraws: dict[str, int]) -> None:
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(["output", "source", "method", "seed", "model", "filter_redraws"])
    for t in tasks:
        if not (output_dir / t.output).exists():
            continue
        generative = t.method in GENERATIVE
        writer.writerow([t.output, t.source, t.method, t.seed if t.method != "original" else "",
                         model if generative else "", redraws.get(t.output, 0) if generative else ""])
    atomic_write(output_dir / MANIFEST, lambda tmp: Path(tmp).write_text(buffer.getvalue()))
