"""Tuning the mix of generated images on a validation split of the training fonts: the split holds
out whole families, and the test set cannot reach a choice (the benchmark's tune verb reads the
training arrays only). Tiny data: 16x16 bars drawn in a few 'fonts'."""

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from gensdk_plugins.characters.classifier import SampleFilter
from gensdk_plugins.characters.data import CharacterSet
from gensdk_plugins.characters.evaluate import Mix
from gensdk_plugins.characters.generative import load_generator
from gensdk_plugins.characters.tuning import read_tuned, validation_split
from gensdk.errors import UserError

ROOT = Path(__file__).resolve().parents[1]
SCRIPT = ROOT / "benchmarks" / "characters_lowdata.py"
CLASSES = ["top", "bottom", "vertical"]


def glyph(kind: int, thickness: int, shift: int) -> np.ndarray:
    image = np.zeros((16, 16), np.uint8)
    if kind == 2:
        image[3:13, 5 + shift:5 + shift + thickness] = 255
    else:
        row = (3 if kind == 0 else 10) + shift
        image[row:row + thickness, 3:13] = 255
    return image


def font_arrays(fonts: list[tuple[int, int]], seed: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Two images of every class in every font (thickness, shift); returns images, labels, font index."""
    rng = np.random.default_rng(seed)
    x, y, f = [], [], []
    for i, (thickness, shift) in enumerate(fonts):
        for c in range(3):
            for _ in range(2):
                x.append(np.roll(glyph(c, thickness, shift), int(rng.integers(-1, 2)), axis=1))
                y.append(c)
                f.append(i)
    return np.stack(x), np.array(y), np.array(f)


def tiny_data(path: Path, test_seed: int = 1, with_test: bool = True) -> Path:
    train_fonts = [(1, 0), (2, 0), (3, 1), (1, 2), (4, 0), (2, 2)]
    train_x, train_y, train_f = font_arrays(train_fonts, seed=0)
    meta = {"classes": CLASSES, "train_fonts": [f"font{i}" for i in range(6)],
            "train_font_designs": ["thin", "mid", "bold", "thin", "bold", "mid"], "test_fonts": ["t0", "t1"]}
    arrays = dict(train_x=train_x, train_y=train_y, train_font=train_f, meta=json.dumps(meta))
    if with_test:
        test_x, test_y, test_f = font_arrays([(2, 1), (3, 0)], seed=test_seed)
        arrays.update(test_x=test_x, test_y=test_y, test_font=test_f)
    np.savez_compressed(path, **arrays)
    return path


TINY = ["--per-class", "2", "--methods", "diffusion", "diffusion-pre", "--steps", "2", "--pretrain-steps", "2", "--classifier-steps", "3", "--factor", "1",
        "--device", "cpu", "--no-parallel", "--option", "diffusion:width=8", "--option", "diffusion:channel_mult=[1,2]",
        "--option", "diffusion:attention=false", "--option", "diffusion:sample_steps=2"]
GRID = ["--ratios", "1", "2", "--filters", "off", "wrong:0.9", "--guidance", "1.0"]


def script(*args: str) -> subprocess.CompletedProcess:
    result = subprocess.run([sys.executable, str(SCRIPT), *map(str, args)], capture_output=True, text=True,
                            cwd=ROOT, env={**__import__("os").environ, "OMP_NUM_THREADS": "1"})
    assert result.returncode == 0, result.stderr[-2000:]
    return result


def test_validation_split_holds_out_whole_families_of_the_training_set():
    x = torch.rand(40, 1, 4, 4)
    families = [f"fam{i % 8}" for i in range(40)]
    train = CharacterSet(x, torch.arange(40) % 4, list("abcd"), [f"font:{f}" for f in families])
    fit, val = validation_split(train, families, fraction=0.25, seed=0)
    fit_fams = {s.removeprefix("font:") for s in fit.sources}
    val_fams = {s.removeprefix("font:") for s in val.sources}
    assert fit_fams.isdisjoint(val_fams) and fit_fams | val_fams == set(families)
    assert len(fit) + len(val) == 40 and 5 <= len(val) <= 15 and set(val.meta["families"]) == val_fams
    again = validation_split(train, families, fraction=0.25, seed=0)[1]
    assert torch.equal(again.images, val.images)  # the same split for the same seed
    with pytest.raises(UserError, match="at least 2 families"):
        validation_split(train, ["one"] * 40)


def test_tuning_never_reads_the_test_set_and_its_choice_feeds_the_table(tmp_path):
    """The tune verb works on a data file that has no test arrays at all, and two files that differ
    only in their test arrays give the same choices. The run verb then uses the chosen mix."""
    outs = []
    for name, kwargs in (("no-test", {"with_test": False}), ("test-a", {"test_seed": 1}), ("test-b", {"test_seed": 7})):
        data = tiny_data(tmp_path / f"{name}.npz", **kwargs)
        script("tune", "--data", data, "--out", tmp_path / name, *TINY, *GRID, "--seed-tune", "3")
        outs.append(json.loads((tmp_path / name / "tuned.json").read_text())["tuned"])
    assert outs[0] == outs[1] == outs[2] and set(outs[0]) == {"diffusion", "diffusion-pre"}
    chosen = outs[0]["diffusion"]["2"]
    cells = [json.loads(line) for line in (tmp_path / "no-test" / "diffusion-2" / "results.jsonl").read_text().splitlines()]
    grid_cells = [c for c in cells if c["condition"].startswith("classic+diffusion")]
    assert len(grid_cells) == 4 and chosen["val_accuracy"] == max(c["val_accuracy"] for c in grid_cells)
    assert chosen["classic_val_accuracy"] == next(c["val_accuracy"] for c in cells if c["condition"] == "classic")

    tuned = tmp_path / "test-a" / "tuned.json"
    script("run", "--data", tmp_path / "test-a.npz", "--out", tmp_path / "run", "--tuned", tuned, "--seed", "0", *TINY)
    records = [json.loads(line) for line in (tmp_path / "run" / "seed0-pc2" / "results.jsonl").read_text().splitlines()]
    assert {r["condition"] for r in records} == {"real", "classic", "diffusion", "classic+diffusion", "diffusion-pre",
                                                 "classic+diffusion-pre"}
    # the -pre row's generator learnt from every training image, the subset's from 2 per class
    assert load_generator(tmp_path / "run" / "pretrained" / "diffusion-pre").info["train_images"] == 36
    assert load_generator(tmp_path / "run" / "seed0-pc2" / "generators" / "diffusion-2-0").info["train_images"] == 6
    mixed = next(r for r in records if r["condition"] == "classic+diffusion")
    assert mixed["mix"] == chosen["mix"] and {"fd", "precision", "recall"} <= set(mixed)
    report = script("report", "--results", tmp_path / "run" / "seed0-pc2" / "results.jsonl", "--tuned", tuned,
                    "--out", tmp_path / "table")
    assert "classic+diffusion" in report.stdout and "diffusion at 2/class" in (tmp_path / "table.md").read_text()


def test_mixes_round_trip_and_a_bad_tuned_file_is_one_clear_error(tmp_path):
    mix = Mix(ratio=3, filter=SampleFilter(None, 0.4), guidance=2.5, classic=False)
    assert Mix.from_dict(mix.to_dict()) == mix
    assert Mix.from_dict(Mix(filter=None).to_dict()) == Mix(filter=None)
    bad = tmp_path / "tuned.json"
    bad.write_text('{"tuned": {"diffusion": {"5": {"mix": {"ratio": 2}}}}}')
    with pytest.raises(UserError, match="not a tuned.json"):
        read_tuned(bad)
