"""benchmarks/weight_shards.py: a Trainer checkpoint carried off the GPU machine as shards and back."""

import sys
from pathlib import Path

import torch

from gensdk.core.trainer import Trainer, TrainConfig
from gensdk_plugins.compression.models import build_codec

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "benchmarks"))
import weight_shards  # noqa: E402


def test_a_checkpoint_travels_as_small_shards_and_resumes(tmp_path, monkeypatch):
    torch.manual_seed(0)
    data = torch.randint(0, 256, (8, 3, 64, 64), dtype=torch.uint8)
    config = TrainConfig(steps=3, batch_size=4, device="cpu", progress=False, checkpoint_every=2, log_every=1)
    run = tmp_path / "run"
    Trainer(build_codec("variable-rate-hyperprior", N=16, M=24), data, config, run).fit(stop_after=0.0)
    monkeypatch.setattr(weight_shards, "LIMIT", 50_000)  # several shards even for a tiny model
    weight_shards.split_checkpoint(run / "checkpoint.pt", tmp_path / "shards")
    shards = sorted((tmp_path / "shards").glob("checkpoint-*.safetensors"))
    assert len(shards) > 2 and max(p.stat().st_size for p in shards) < 2 * 50_000  # data plus a small header
    weight_shards.join_checkpoint(tmp_path / "shards", tmp_path / "back" / "checkpoint.pt")
    a = torch.load(run / "checkpoint.pt", weights_only=True)
    b = torch.load(tmp_path / "back" / "checkpoint.pt", weights_only=True)
    assert a["step"] == b["step"] == 1 and a["model_config"] == b["model_config"]
    assert all(torch.equal(a["model"][k], b["model"][k]) for k in a["model"])  # weights exact
    for name in a["optimizers"]:
        sa, sb = a["optimizers"][name]["state"], b["optimizers"][name]["state"]
        assert sa.keys() == sb.keys()
        for i in sa:
            assert torch.equal(sa[i]["step"], sb[i]["step"])
            for moment in ("exp_avg", "exp_avg_sq"):  # bf16 on the way: within its rounding
                assert torch.allclose(sa[i][moment], sb[i][moment], rtol=2 ** -8, atol=0)
        assert a["optimizers"][name]["param_groups"] == b["optimizers"][name]["param_groups"]
    resumed = Trainer(build_codec("variable-rate-hyperprior", N=16, M=24), data, config, tmp_path / "back")
    resumed.fit(resume=True)
    assert resumed.step == 3 and (tmp_path / "back" / "model" / "config.json").is_file()
