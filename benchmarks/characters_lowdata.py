"""The characters issues' accuracy table: a fixed CNN trained on 5 and 20 real images per class, alone,
+ classic, + generative, + both; test accuracy on fonts never seen in training, mean and std over
seeds; FD / precision / recall of the generated images; grids of real vs generated.

Round 2 (issue 24) adds the diffusion and style-crossing generators and tunes how their images are
mixed in (images per real image, redraw filter, guidance) on a validation split of the *training*
fonts: the ``tune`` verb reads the training arrays of the data file only. The row ``style-pre`` is a
style generator trained once on many training fonts (no test font): in tuning, on the fit fonts; in the
table, the generator that ships (``--pretrain-fonts``: its pool, characters_pretrained.py). It is its own
row beside those trained on the subset alone.

Step 1, here: the fonts of round 2 (214 fonts: 157 to train, 57 of 6 families to test), then render them
into one .npz to carry:
    apt-get install -y fonts-dejavu-core fonts-dejavu-extra fonts-liberation fonts-urw-base35 fonts-noto-core \
        fonts-freefont-ttf fonts-texgyre fonts-paratype fonts-linuxlibertine fonts-open-sans fonts-ebgaramond fonts-cmu
    python benchmarks/characters_lowdata.py render --out data/characters.npz
Step 2, on the GPU machine (one process per cell; resumable cell by cell; see gpu_characters.sh):
    python benchmarks/characters_lowdata.py tune --data data/characters.npz --out runs/lowdata2/tuning
    python benchmarks/characters_lowdata.py run --data data/characters.npz --out runs/lowdata2 \
        --tuned runs/lowdata2/tuning/tuned.json
Step 3: python benchmarks/characters_lowdata.py report --results RESULTS.jsonl --tuned TUNED.json --date ... \
        --device ... --commit ... --gpu-minutes ...
How long step 2 takes, estimated from a CPU timing (``plan``):
    python benchmarks/characters_lowdata.py plan
"""

from __future__ import annotations

import argparse
import json
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import torch
import yaml

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from benchmarks.common import provenance, write_results  # noqa: E402

NEW_METHODS = ["diffusion", "style", "style-pre"]
# The generators of round 2 on the GPU: the plugin's defaults (U-Net width 32, one block a level, batch
# 64); 2,000 steps are ~230 passes over a 5-per-class subset (550 images), ~60 over 20 per class.
GPU_STEPS = 2000
PRETRAIN_STEPS = 6000  # the -pre generators: ~10 passes over the ~36,000 training renders (batch 64)


def render(args: argparse.Namespace) -> None:
    from gensdk.core.io import atomic_write
    from gensdk_plugins.characters.data import render_set
    from gensdk_plugins.characters.fonts import chars_of, design_of, find_fonts, split_fonts, usable_fonts

    chars = chars_of(args.charset)
    fonts, _ = usable_fonts(find_fonts(), chars)
    train_fonts, test_fonts = split_fonts(fonts, args.test_fraction, seed=0)
    start = time.perf_counter()
    train = render_set(train_fonts, chars, per_font=args.per_font, size=32, lookalikes="merge", seed=0)
    test = render_set(test_fonts, chars, per_font=args.per_font, size=32, lookalikes="merge", seed=1)
    if train.classes != test.classes:
        raise SystemExit("the train and test fonts cover different classes; use another --charset")
    out = Path(args.out)
    to_u8 = lambda t: (t.squeeze(1).numpy() * 255).round().astype(np.uint8)  # noqa: E731
    families = {f.family for f in fonts}
    font_index = lambda s, names: np.array([names.index(x.removeprefix("font:")) for x in s.sources])  # noqa: E731
    train_names, test_names = [f.name for f in train_fonts], [f.name for f in test_fonts]
    meta = {"classes": train.classes, "train_fonts": train_names, "test_fonts": test_names,
            # the design (family group, as the train/test split uses) of each training font: the
            # validation split holds out whole designs, as the test split does
            "train_font_designs": [design_of(f.family, families) for f in train_fonts],
            "per_font": args.per_font, "charset": args.charset, "render_seconds": time.perf_counter() - start,
            **provenance()}
    atomic_write(out, lambda tmp: np.savez_compressed(
        tmp, train_x=to_u8(train.images), train_y=train.labels.numpy(), train_font=font_index(train, train_names),
        test_x=to_u8(test.images), test_y=test.labels.numpy(), test_font=font_index(test, test_names),
        meta=json.dumps(meta)))
    print(f"{len(train)} train images ({len(train_fonts)} fonts), {len(test)} test images ({len(test_fonts)} fonts), "
          f"{len(train.classes)} classes -> {out}")


def load(path: str, splits: tuple[str, ...] = ("train", "test")):
    """The requested splits of a rendered data file as CharacterSets (sources ``font:NAME``, so that
    style groups are fonts), and its metadata. Only the arrays of those splits are read."""
    from gensdk_plugins.characters.data import CharacterSet

    z = np.load(path)
    meta = json.loads(str(z["meta"]))
    sets = []
    for split in splits:
        x = torch.from_numpy(z[f"{split}_x"]).float().div(255).unsqueeze(1)
        fonts = meta[f"{split}_fonts"]
        sources = ([f"font:{fonts[i]}" for i in z[f"{split}_font"].tolist()] if f"{split}_font" in z.files
                   else [split] * len(x))  # a file rendered before fonts were recorded per image
        sets.append(CharacterSet(images=x, labels=torch.from_numpy(z[f"{split}_y"]).long(), classes=meta["classes"],
                                 sources=sources, skipped=[], meta={}))
    return (*sets, meta)


VALIDATION_FRACTION = 0.25  # of the training fonts' images, held out (whole designs) for tuning


def train_families(train, meta) -> list[str]:
    """The design of every training image's font (the validation split's groups)."""
    if "train_font_designs" not in meta:
        raise SystemExit("this data file has no fonts per image: render it again with this script")
    design = dict(zip(meta["train_fonts"], meta["train_font_designs"]))
    return [design[s.removeprefix("font:")] for s in train.sources]


def generator_options(args: argparse.Namespace) -> dict[str, dict]:
    options = {"cgan": {"width": args.width}, "dagan": {"width": args.width}, "cvae": {},
               "diffusion": {}, "style": {}}
    for option in args.option:  # METHOD:key=value
        method, _, assignment = option.partition(":")
        key, _, value = assignment.partition("=")
        options[method][key] = yaml.safe_load(value)
    return options


def _common(args: argparse.Namespace) -> list[str]:
    return ["--data", args.data, "--methods", *args.methods, "--factor", str(args.factor), "--steps", str(args.steps),
            "--pretrain-steps", str(args.pretrain_steps), "--width", str(args.width), "--classifier-steps",
            str(args.classifier_steps), "--device", args.device, "--no-parallel",
            *[x for o in args.option for x in ("--option", o)]]


def pretrain(args: argparse.Namespace, pool, folder: Path) -> None:
    """Train the ``-pre`` rows' generators on ``pool`` into ``folder`` before the cells' processes
    start, which then load them (one copy for every budget and seed)."""
    from gensdk_plugins.characters.classifier import ClassifierRecipe
    from gensdk_plugins.characters.evaluate import PRETRAINED, trained_generator

    for method in (m for m in args.methods if m.endswith(PRETRAINED)):
        print(f"pretraining {method} on {len(pool)} images", flush=True)
        trained_generator(method, pool, folder / method, steps=args.pretrain_steps, seed=0, device=args.device,
                          options=generator_options(args).get(method.removesuffix(PRETRAINED), {}),
                          recipe=ClassifierRecipe(steps=args.classifier_steps), progress=False)


def pretrain_pool(train, fonts_record: str):
    """The training images of the fonts that ``fonts_record`` (characters_pretrained.py's pool) lists: the
    ``-pre`` rows' generator is then the one that ships (no font that the README's data tests on);
    ``""``: every training image."""
    if not fonts_record:
        return train
    keep = {f"font:{f}" for f in json.loads(Path(fonts_record).read_text())["fonts"]}
    pool = train.select([i for i, s in enumerate(train.sources) if s in keep])
    if len(pool) == 0:
        raise SystemExit(f"{fonts_record}: none of its fonts is in this data file")
    return pool


def _parallel(args: argparse.Namespace, out: Path, jobs: list[tuple[str, list[str]]]) -> None:
    """Each job (log name, extra arguments) as its own process sharing the GPU; exit with the worst code."""
    procs = [subprocess.Popen([sys.executable, __file__, args.verb, *_common(args), "--out", str(out), *extra],
                              stdout=open(out / f"{name}.log", "a"), stderr=subprocess.STDOUT) for name, extra in jobs]

    def stop(signum: int, frame: object) -> None:  # a timeout stops the processes too, not only this one
        for p in procs:  # no wait() here: the interrupted wait() below holds the lock it would take
            p.terminate()
        sys.exit(128 + signum)

    signal.signal(signal.SIGTERM, stop)
    codes = [p.wait() for p in procs]
    print("exit codes", codes)
    if max(codes):
        sys.exit(max(codes))


def tune(args: argparse.Namespace) -> None:
    """Choose each method's mix per budget on the validation split of the training fonts. Reads the
    training arrays only: the test set cannot steer a choice (tests/test_characters_tuning.py)."""
    from gensdk.core.io import write_json
    from gensdk_plugins.characters.classifier import ClassifierRecipe
    from gensdk_plugins.characters.evaluate import PRETRAINED
    from gensdk_plugins.characters.tuning import TUNED, Grid, tune_mixing, validation_split

    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    train, meta = load(args.data, splits=("train",))
    families = train_families(train, meta)
    jobs = [(m, b) for m in args.methods for b in args.per_class]  # one per method and budget
    finished = lambda m, b: (out / f"{m}-{b}" / TUNED).is_file()  # noqa: E731
    if all(finished(m, b) for m, b in jobs):
        print("tuning: every job done before")
    elif args.seeds_parallel and len(jobs) > 1:
        if not all(finished(m, b) for m, b in jobs if m.endswith(PRETRAINED)):  # one -pre generator for all
            pretrain(args, validation_split(train, families, VALIDATION_FRACTION, args.seed_tune)[0],
                     out / "pretrained")
        _parallel(args, out, [(f"{m}-{b}", ["--methods", m, "--per-class", str(b), *_grid_args(args)])
                              for m, b in jobs])
    else:
        grid = Grid(ratios=args.ratios, filters=args.filters, guidance=args.guidance)
        for m, b in jobs:
            tune_mixing(train, families, out / f"{m}-{b}", methods=[m], per_class=[b], grid=grid, factor=args.factor,
                        seed=args.seed_tune, validation_fraction=VALIDATION_FRACTION, generator_steps=args.steps,
                        pretrain_steps=args.pretrain_steps, pretrained_dir=out / "pretrained",
                        generator_options=generator_options(args),
                        classifier_recipe=ClassifierRecipe(steps=args.classifier_steps), device=args.device,
                        progress=False)
    merged: dict[str, dict] = {}  # one tuned.json for every method and budget tuned so far (earlier calls too)
    for part in sorted(out.glob(f"*/{TUNED}")):
        for m, per in json.loads(part.read_text())["tuned"].items():
            merged.setdefault(m, {}).update(per)
    write_json(out / TUNED, {"tuned": merged, "data": args.data, **provenance()})
    print(json.dumps(merged, indent=1))


def _grid_args(args: argparse.Namespace) -> list[str]:
    return ["--ratios", *map(str, args.ratios), "--filters", *args.filters, "--guidance", *map(str, args.guidance),
            "--seed-tune", str(args.seed_tune)]


def run(args: argparse.Namespace) -> None:
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    cells = [(s, b) for s in args.seed for b in args.per_class]
    tuned = ["--tuned", args.tuned] if args.tuned else []
    if args.seeds_parallel and len(cells) > 1:  # one process per seed and budget: the GPU has room for all
        from gensdk_plugins.characters.evaluate import read_records

        done = {(r["per_class"], r["seed"], r["condition"]) for s, b in cells
                for r in read_records(out / f"seed{s}-pc{b}" / "results.jsonl")}
        if any((b, s, f"classic+{m}") not in done for s, b in cells for m in args.methods if m.endswith("-pre")):
            pretrain(args, pretrain_pool(load(args.data, splits=("train",))[0], args.pretrain_fonts),
                     out / "pretrained")
        _parallel(args, out, [(f"seed{s}-pc{b}", ["--seed", str(s), "--per-class", str(b), *tuned,
                                                   "--pretrain-fonts", args.pretrain_fonts])
                              for s, b in cells])
        return
    from gensdk_plugins.characters.classifier import ClassifierRecipe
    from gensdk_plugins.characters.evaluate import low_data_benchmark
    from gensdk_plugins.characters.tuning import read_tuned

    train, test, meta = load(args.data)
    mixes = read_tuned(args.tuned) if args.tuned else None
    missing = [(m, b) for m in args.methods for b in args.per_class if mixes is not None and b not in mixes.get(m, {})]
    if missing:
        raise SystemExit(f"{args.tuned}: no tuned mix for {missing}; run the tune verb first")
    start = time.perf_counter()
    for s, b in cells:
        low_data_benchmark(train, test, out / f"seed{s}-pc{b}", per_class=[b], seeds=[s], methods=args.methods,
                           factor=args.factor, generator_steps=args.steps, generator_options=generator_options(args),
                           classifier_recipe=ClassifierRecipe(steps=args.classifier_steps), mixes=mixes,
                           pretrained_dir=out / "pretrained", pretrain_steps=args.pretrain_steps,
                           pool=pretrain_pool(train, args.pretrain_fonts), device=args.device, progress=False)
    from gensdk.core.io import write_json

    record = {"seconds": time.perf_counter() - start, "args": vars(args), **provenance()}
    write_json(out / f"seed{'-'.join(f'{s}.{b}' for s, b in cells)}.run.json", record)


def report(args: argparse.Namespace) -> None:
    """Summarize a run's results.jsonl (the cells of every seed and budget) into ``--out``.{md,json}.
    The run's date, device, command and commit are given here: its *.run.json files stay on the device."""
    from gensdk_plugins.characters.evaluate import markdown, mix_text, summarize

    records = [json.loads(line) for line in Path(args.results).read_text().splitlines() if line.strip()]
    table = summarize(records)
    tuned = json.loads(Path(args.tuned).read_text())["tuned"] if args.tuned else {}
    lines = [args.note, ""] if args.note else []
    if tuned:
        lines += ["Mixes chosen on the validation split of the training fonts (per real, filter, guidance, classic "
                  "on generated; accuracy there, and classic alone's):", ""]
        lines += [f"- {m} at {b}/class: {mix_text(v['mix'])} ({100 * v['val_accuracy']:.2f}%; classic "
                  f"{100 * v['classic_val_accuracy']:.2f}%)" for m, per in tuned.items() for b, v in per.items()]
        lines.append("")
    record = {"title": "Characters: low-data accuracy with classic and generative augmentation",
              "date": args.date, "device": args.device, "command": args.command, "commit": args.commit,
              "gpu_minutes": args.gpu_minutes, "tuned": tuned, "table": table, "cells": records}
    write_results(args.out, record, lines + [markdown(table)])
    print(markdown(table))


def plan(args: argparse.Namespace) -> None:
    """GPU minutes of the round-2 run, estimated: this CPU's time per step of the U-Net, per sampled
    image and per classifier step, scaled by the ratio of a DCGAN step's time here to its time on the
    H200 (benchmarks/results/dcgan_speed.md: 32,819 images/s at batch 256, eager, bf16). An estimate:
    the ratio of two different networks' speeds is not the same on both machines."""
    from gensdk.core.model import StepContext, build_model
    from gensdk_plugins.characters.classifier import CharCNN
    from gensdk_plugins.characters.generative import DEFAULTS

    torch.set_num_threads(args.threads)

    def timed(fn, repeats: int = 3) -> float:
        fn()  # warm-up
        best = float("inf")
        for _ in range(repeats):  # the best of a few: the least disturbed by other work on the machine
            start = time.perf_counter()
            fn()
            best = min(best, time.perf_counter() - start)
        return best

    gan = build_model("gan", data_shape=[1, 32, 32], arch="dcgan", z_dim=100, width=64, loss="nonsaturating")
    gan_ctx, gan_x = StepContext(gan.make_optimizers(), 0, 10), torch.randn(256, 1, 32, 32)
    cpu_gan = timed(lambda: gan.train_step((gan_x,), gan_ctx))
    gpu_gan = 256 / 32_819  # seconds per step on the H200
    scale = gpu_gan / cpu_gan
    options = {k: v for k, v in DEFAULTS["diffusion"]["model"].items() if k != "name"}
    batch = DEFAULTS["diffusion"]["train"]["batch_size"]
    unet = build_model("diffusion", data_shape=[1, 32, 32], num_classes=110, **options)
    ctx = StepContext(unet.make_optimizers(), 0, 10)
    x, y = torch.randn(batch, 1, 32, 32), torch.randint(110, (batch,))
    cpu_step = timed(lambda: unet.train_step((x, y), ctx))
    unet.eval()
    steps = options["sample_steps"]
    with torch.no_grad():  # one sampler step with guidance: two net passes
        xs, ys = torch.randn(128, 1, 32, 32), torch.randint(110, (128,))
        cpu_image = timed(lambda: unet.guided(xs, 0.5, ys, 2.0)) / 128 * steps
    net = CharCNN(110)
    opt = torch.optim.AdamW(net.parameters())
    xc, yc = torch.randn(128, 1, 32, 32), torch.randint(110, (128,))

    def classifier_step() -> None:
        loss = torch.nn.functional.cross_entropy(net(xc), yc)
        opt.zero_grad()
        loss.backward()
        opt.step()

    cpu_clf = timed(classifier_step)
    classes, budgets, seeds = 110, args.per_class, 3
    methods = len(args.methods)
    pre = sum(m.endswith("-pre") for m in args.methods)
    grid = len(args.ratios) * len(args.filters) * len(args.guidance)
    # generators: a subset method trains one per budget for tuning and one per budget and seed for the
    # table; a -pre method one on the fit fonts (tuning) and one on all training fonts (the table)
    generator_steps = (methods - pre) * len(budgets) * (1 + seeds) * args.steps + pre * 2 * args.pretrain_steps
    # images drawn: tuning draws max(ratio) per real image once per (guidance, filter); the table the
    # tuned ratio (counted as max(ratio)) per seed; +30% for the filter's redraws
    reals = sum(b * classes for b in budgets)
    draws = 1.3 * methods * reals * max(args.ratios) * (len(args.filters) * len(args.guidance) + seeds)
    # classifier cells (2,000 steps): tuning's classic and grid, the table's real, classic, X, classic+X;
    # plus a reference CNN per table process and the generators' filter CNNs (600 steps, narrower: ~1/4)
    classifiers = (len(budgets) * (1 + methods * grid) + len(budgets) * seeds * (2 + 2 * methods)
                   + len(budgets) * seeds + 0.1 * (methods * len(budgets) * (1 + seeds)))
    seconds = {"generators": generator_steps * cpu_step * scale, "sampling": draws * cpu_image * scale,
               "classifiers": classifiers * args.classifier_steps * cpu_clf * scale}
    print(f"CPU ({args.threads} thread): DCGAN step {cpu_gan * 1e3:.0f} ms (H200: {gpu_gan * 1e3:.1f} ms, "
          f"scale {scale:.4f}); U-Net step (batch {batch}) {cpu_step * 1e3:.0f} ms; one image ({steps} guided "
          f"steps) {cpu_image * 1e3:.0f} ms; classifier step {cpu_clf * 1e3:.0f} ms")
    print(f"{generator_steps:,} generator steps, {draws:,.0f} images drawn, {classifiers:.0f} classifiers x "
          f"{args.classifier_steps} steps")
    for key, value in seconds.items():
        print(f"  {key}: about {value / 60:.1f} GPU-minutes")
    print(f"  total: about {sum(seconds.values()) / 60:.1f} GPU-minutes if the processes kept one GPU as busy as "
          "one DCGAN run does (an estimate, not a measurement)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="verb", required=True)
    r = sub.add_parser("render")
    r.add_argument("--out", default="data/characters.npz")
    r.add_argument("--charset", default="all")
    r.add_argument("--per-font", type=int, default=2)
    r.add_argument("--test-fraction", type=float, default=0.25)
    verbs = {}
    for name in ("run", "tune", "plan"):
        b = sub.add_parser(name)
        verbs[name] = b
        b.add_argument("--data", default="data/characters.npz")
        b.add_argument("--out", default="runs/lowdata2" + ("/tuning" if name == "tune" else ""))
        b.add_argument("--per-class", type=int, nargs="+", default=[5, 20])
        b.add_argument("--methods", nargs="+", default=NEW_METHODS)
        b.add_argument("--factor", type=int, default=10, help="Classic copies per real image (and the default "
                                                              "generated ones when no mix is tuned).")
        b.add_argument("--steps", type=int, default=GPU_STEPS)
        b.add_argument("--pretrain-steps", type=int, default=PRETRAIN_STEPS)
        b.add_argument("--width", type=int, default=64, help="Width of the GANs (cgan, dagan).")
        b.add_argument("--classifier-steps", type=int, default=2000)
        b.add_argument("--device", default="auto")
        b.add_argument("--no-parallel", dest="seeds_parallel", action="store_false")
        b.add_argument("--option", action="append", default=[], help="A generator option, METHOD:key=value.")
    verbs["run"].add_argument("--seed", type=int, action="extend", nargs="+", default=[])
    verbs["run"].add_argument("--tuned", default="", help="tuned.json of the tune verb (default: untuned mixes)")
    verbs["run"].add_argument("--pretrain-fonts", default="",
                              help="The fonts of the -pre rows' generator: a pool record of characters_pretrained.py "
                                   "(then it is the generator that ships); default: every training font.")
    for name in ("tune", "plan"):
        verbs[name].add_argument("--ratios", type=int, nargs="+", default=[1, 3])
        verbs[name].add_argument("--filters", nargs="+", default=["wrong:0.9", "unsure:0.5"])
        verbs[name].add_argument("--guidance", type=float, nargs="+", default=[1.5, 3.0])
    verbs["tune"].add_argument("--seed-tune", type=int, default=100,
                               help="Seed of the tuning subset (not a test seed).")
    verbs["plan"].add_argument("--threads", type=int, default=1)
    p = sub.add_parser("report")
    p.add_argument("--results", required=True, help="The run's merged results.jsonl")
    p.add_argument("--tuned", default="", help="The tune verb's tuned.json")
    p.add_argument("--out", default="benchmarks/results/characters_lowdata")
    for key in ("date", "device", "command", "commit", "gpu-minutes", "note"):
        p.add_argument(f"--{key}", default="")
    args = parser.parse_args()
    if args.verb == "run" and not args.seed:
        args.seed = [0, 1, 2]
    {"render": render, "run": run, "tune": tune, "report": report, "plan": plan}[args.verb](args)


if __name__ == "__main__":
    main()
