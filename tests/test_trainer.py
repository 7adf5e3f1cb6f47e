import json
import signal
import subprocess
import sys
import time

import pytest
import torch

from gensdk.core.autoregressive import MADE
from gensdk.core.data import load_dataset
from gensdk.core.diffusion import Diffusion
from gensdk.core.model import load_model, save_model
from gensdk.core.trainer import BatchSchedule, Trainer, TrainConfig
from gensdk.errors import UserError
from helpers import ENV, gensdk, weights, write_recipe

RING_GP = """
data: {name: ring, n: 4096}
model: {name: gan, z_dim: 4, hidden: [32, 32], loss: wgan-gp, n_critic: 2}
train: {steps: 1500, batch_size: 64, seed: 3, ema_decay: 0.99, checkpoint_every: 100, log_every: 50}
"""


def test_batch_schedule_is_a_permutation_per_epoch_and_splits_ranks():
    one = BatchSchedule(10, 4, seed=0, rank=0, world=1)
    epoch0 = torch.cat([one.indices(0), one.indices(1)])
    assert len(set(epoch0.tolist())) == 8  # no repeats inside an epoch; last partial batch dropped
    r0, r1 = BatchSchedule(10, 2, 0, 0, 2), BatchSchedule(10, 2, 0, 1, 2)
    assert torch.equal(torch.cat([r0.indices(1), r1.indices(1)]), one.indices(1))
    with pytest.raises(UserError, match="fewer than one global batch"):
        BatchSchedule(3, 4, 0, 0, 1)


def test_same_seed_same_weights_in_process():
    data = load_dataset("digits", split="train").x[:256]
    runs = []
    for _ in range(2):
        torch.manual_seed(0)
        model = MADE(data_shape=[1, 8, 8], hidden=[32])
        runs.append(Trainer(model, data, TrainConfig(steps=20, batch_size=32, progress=False)).fit())
    for a, b in zip(runs[0].state_dict().values(), runs[1].state_dict().values()):
        assert torch.equal(a, b)


def test_sigkilled_run_resumes_to_bit_identical_weights(tmp_path):
    recipe = write_recipe(tmp_path / "ring.yaml", RING_GP)
    gensdk("train", recipe, "--out", tmp_path / "unbroken", "--quiet", check=True)

    killed = tmp_path / "killed"
    proc = subprocess.Popen([sys.executable, "-m", "gensdk", "train", str(recipe), "--out", str(killed), "--quiet"],
                            env=ENV, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 120
    while not (killed / "checkpoint.pt").exists() and time.time() < deadline:
        time.sleep(0.005)
    time.sleep(0.3)  # let it run past the checkpoint, so the resume must discard work
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert (killed / "checkpoint.pt").exists() and not (killed / "model").exists(), "the kill came too late"
    steps_before = torch.load(killed / "checkpoint.pt", weights_only=True)["step"]
    assert 0 < steps_before < 1500

    gensdk("train", recipe, "--out", killed, "--quiet", "--resume", check=True)
    a, b = weights(tmp_path / "unbroken"), weights(killed)
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
    logs = [[{k: v for k, v in json.loads(line).items() if k != "examples_per_s"}
             for line in (run / "log.jsonl").read_text().splitlines()] for run in (tmp_path / "unbroken", killed)]
    assert logs[0] == logs[1]  # the killed run's lines after its checkpoint were dropped


def test_resume_refuses_a_mismatched_or_corrupt_checkpoint_and_keeps_it(tmp_path):
    recipe = write_recipe(tmp_path / "ring.yaml", RING_GP.replace("steps: 1500", "steps: 100"))
    run = tmp_path / "run"
    gensdk("train", recipe, "--out", run, "--quiet", check=True)
    before = (run / "checkpoint.pt").read_bytes()

    other = gensdk("train", recipe, "--out", run, "--quiet", "--resume", "--set", "model.hidden=[16,16]")
    assert other.returncode == 2 and "different configuration" in other.stderr
    assert "Traceback" not in other.stderr and len(other.stderr.strip().splitlines()) == 1
    seed = gensdk("train", recipe, "--out", run, "--quiet", "--resume", "--set", "train.seed=4")
    assert seed.returncode == 2 and "seed" in seed.stderr
    assert (run / "checkpoint.pt").read_bytes() == before

    (run / "checkpoint.pt").write_bytes(before[: len(before) // 2])
    corrupt = gensdk("train", recipe, "--out", run, "--quiet", "--resume")
    assert corrupt.returncode == 2 and "not a readable gensdk checkpoint" in corrupt.stderr
    assert "Traceback" not in corrupt.stderr

    missing = gensdk("train", recipe, "--out", tmp_path / "empty", "--quiet", "--resume")
    assert missing.returncode == 2 and "no checkpoint" in missing.stderr


def torchrun(*args, nproc=2):
    return subprocess.run([sys.executable, "-m", "torch.distributed.run", "--standalone", f"--nproc-per-node={nproc}",
                           "-m", "gensdk", *map(str, args)], capture_output=True, text=True, env=ENV, timeout=300)


def test_two_process_gloo_equals_one_process_with_the_global_batch(tmp_path):
    """Data parallelism is exact: 2 ranks x 32 examples == 1 process x 64 (MADE draws no noise)."""
    recipe = write_recipe(tmp_path / "made.yaml", """
data: {name: digits, split: train}
model: {name: made, hidden: [64]}
train: {steps: 30, batch_size: 32, seed: 0, log_every: 10}
""")
    ddp = torchrun("train", recipe, "--out", tmp_path / "ddp", "--quiet")
    assert ddp.returncode == 0, ddp.stderr[-2000:]
    gensdk("train", recipe, "--out", tmp_path / "single", "--quiet", "--set", "train.batch_size=64", check=True)
    a, b = weights(tmp_path / "ddp"), weights(tmp_path / "single")
    assert all(torch.allclose(a[k], b[k], atol=1e-5) for k in a)
    # and it differs from a 1-process run with the per-rank batch (so the test can fail)
    gensdk("train", recipe, "--out", tmp_path / "small", "--quiet", check=True)
    c = weights(tmp_path / "small")
    assert not all(torch.allclose(a[k], c[k], atol=1e-5) for k in a)


def test_two_process_gloo_trains_a_wgan_gp(tmp_path):
    recipe = write_recipe(tmp_path / "ring.yaml", RING_GP.replace("steps: 1500", "steps: 60"))
    run = torchrun("train", recipe, "--out", tmp_path / "run", "--quiet")
    assert run.returncode == 0, run.stderr[-2000:]
    log = [json.loads(line) for line in (tmp_path / "run" / "log.jsonl").read_text().splitlines()]
    assert log[-1]["step"] == 60 and len(log) == 2  # only rank 0 writes


def test_ema_follows_the_closed_form():
    from gensdk.core.trainer import EMA

    source = torch.nn.Linear(3, 2)
    start = source.weight.detach().clone()
    ema = EMA(source, decay=0.9)
    with torch.no_grad():
        source.weight.fill_(1.0)
    for _ in range(5):
        ema.update(source)
    assert torch.allclose(ema.module.weight, 1.0 + (start - 1.0) * 0.9**5, atol=1e-6)


def test_learning_rate_schedules():
    cfg = TrainConfig.from_dict({"steps": 100, "lr_schedule": "linear", "warmup_steps": 10})
    assert cfg.lr_factor(0) == pytest.approx(0.1) and cfg.lr_factor(9) == pytest.approx(1.0)
    assert cfg.lr_factor(10) == pytest.approx(1.0) and cfg.lr_factor(55) == pytest.approx(0.5)
    cos = TrainConfig.from_dict({"steps": 100, "lr_schedule": "cosine"})
    assert cos.lr_factor(50) == pytest.approx(0.5) and cos.lr_factor(0) == pytest.approx(1.0)
    with pytest.raises(UserError, match="lr_schedule must be one of"):
        TrainConfig.from_dict({"lr_schedule": "step"})


def test_early_stopping_keeps_the_best_validation_weights(tmp_path):
    train, valid = load_dataset("digits", split="train"), load_dataset("digits", split="valid")
    torch.manual_seed(0)
    model = MADE(data_shape=[1, 8, 8], hidden=[512, 512])  # overfits 64 images quickly
    cfg = TrainConfig(steps=600, batch_size=64, validate_every=50, checkpoint_every=100, progress=False)
    trainer = Trainer(model, train.x[:64], cfg, tmp_path, valid=valid.x)
    trained = trainer.fit()
    records = [r for r in trainer.history if "valid_nll" in r]
    assert [r["step"] for r in records] == list(range(50, 601, 50))
    best = min(records, key=lambda r: r["valid_nll"])
    assert best["step"] < 600  # it overfits, so the best is not the last
    with torch.no_grad():
        assert trained.nll(valid.x).mean().item() == pytest.approx(best["valid_nll"], rel=1e-5)
    with pytest.raises(UserError, match="exclude each other"):
        TrainConfig.from_dict({"validate_every": 10, "ema_decay": 0.9})


def made():
    """The same small MADE each call (seeded), so that two runs start from the same weights."""
    torch.manual_seed(0)
    return MADE(data_shape=[1, 8, 8], hidden=[32])


def test_a_run_trained_in_time_slices_equals_an_unbroken_one(tmp_path):
    data = load_dataset("digits", split="train").x[:256]
    config = TrainConfig(steps=12, batch_size=32, progress=False, checkpoint_every=100, lr_schedule="cosine",
                         warmup_steps=3)

    unbroken = Trainer(made(), data, config, tmp_path / "a").fit()
    slices = 0
    while True:
        trainer = Trainer(made(), data, config, tmp_path / "b")
        model = trainer.fit(resume=slices > 0, stop_after=0.0)  # a slice of one step
        slices += 1
        if trainer.finished:
            break
        assert trainer.step == slices and not (tmp_path / "b" / "model").exists()
    assert slices == 12 and (tmp_path / "b" / "model" / "config.json").is_file()
    for a, b in zip(unbroken.state_dict().values(), model.state_dict().values()):
        assert torch.equal(a, b)


def test_a_minutes_budget_plans_the_steps_and_a_resumed_run_follows_the_plan(tmp_path):
    data = load_dataset("digits", split="train").x[:256]
    config = dict(minutes=0.04, batch_size=32, progress=False, checkpoint_every=20, lr_schedule="cosine",
                  warmup_steps=5)

    start = time.perf_counter()
    first = Trainer(made(), data, TrainConfig(**config), tmp_path / "run")
    first.fit(stop_after=0.8)  # cut off after the plan was made
    planned = first.plan["steps"]
    assert first.plan["steps_per_s"] > 0 and 50 < planned and first.step < planned and not first.finished
    resumed = Trainer(made(), data, TrainConfig(**config), tmp_path / "run")
    resumed.fit(resume=True)
    assert resumed.config.steps == planned and resumed.step == planned and resumed.finished
    assert time.perf_counter() - start < 0.04 * 60 * 2 + 5  # about the budget (plus start-up and the resume)
    with pytest.raises(UserError, match="train.minutes"):
        TrainConfig.from_dict({"minutes": -1})


def test_channels_last_trains_the_same_model_in_nhwc_and_saves_it(tmp_path):
    data = load_dataset("digits", split="train").x[:128]  # (N, 1, 8, 8)
    losses = {}
    for channels_last in (False, True):
        torch.manual_seed(0)
        model = Diffusion(data_shape=[1, 8, 8], arch="unet", width=8, channel_mult=[1, 2], depth=1, timesteps=50)
        trainer = Trainer(model, data, TrainConfig(steps=6, batch_size=16, log_every=1, progress=False,
                                                   channels_last=channels_last))
        if channels_last:
            assert trainer.data[0].is_contiguous(memory_format=torch.channels_last)
            convs = [p for p in model.parameters() if p.dim() == 4]
            assert convs and all(p.is_contiguous(memory_format=torch.channels_last) for p in convs)
        trainer.fit()
        # the same arithmetic in another layout: equal up to float rounding (weights are not compared:
        # Adam turns rounding in near-zero gradients into differences of the order of the learning rate)
        losses[channels_last] = [row["loss"] for row in trainer.history]
    assert losses[True] == pytest.approx(losses[False], rel=1e-4)
    save_model(model, tmp_path / "nhwc")  # safetensors takes the NHWC weights
    loaded = load_model(tmp_path / "nhwc")
    for key, value in model.state_dict().items():
        assert torch.equal(loaded.state_dict()[key], value), key
