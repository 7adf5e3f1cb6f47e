"""Resume equivalence: a run SIGKILLed after a checkpoint and resumed ends with the same weights as an
unbroken run of the same seed (compared tensor by tensor, bit for bit).

    python benchmarks/resume_check.py --recipe recipes/ring-wgan-gp.yaml --steps 3000

Writes benchmarks/results/resume.md and its record results/raw/resume.json.
"""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import torch  # noqa: E402
from safetensors.torch import load_file  # noqa: E402

from common import provenance, write_results  # noqa: E402


def train(recipe: str, out: Path, extra: list[str]) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "gensdk", "train", recipe, "--out", str(out), "--quiet", *extra],
                            env={**os.environ, "OMP_NUM_THREADS": "1"}, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--recipe", default="recipes/ring-wgan-gp.yaml")
    parser.add_argument("--steps", type=int, default=3000)
    parser.add_argument("--checkpoint-every", type=int, default=500)
    parser.add_argument("--kill-after", type=float, default=0.5, help="seconds after the first checkpoint")
    parser.add_argument("--results", default="benchmarks/results/resume")
    args = parser.parse_args()
    sets = ["--set", f"train.steps={args.steps}", "--set", f"train.checkpoint_every={args.checkpoint_every}"]
    with tempfile.TemporaryDirectory() as tmp:
        unbroken, killed = Path(tmp) / "unbroken", Path(tmp) / "killed"
        assert train(args.recipe, unbroken, sets).wait() == 0
        proc = train(args.recipe, killed, sets)
        while not (killed / "checkpoint.pt").exists():
            time.sleep(0.01)
        time.sleep(args.kill_after)
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        killed_at = torch.load(killed / "checkpoint.pt", weights_only=True)["step"]
        finished_before_kill = (killed / "model").exists()
        assert train(args.recipe, killed, sets + ["--resume"]).wait() == 0
        a = load_file(str(unbroken / "model" / "model.safetensors"))
        b = load_file(str(killed / "model" / "model.safetensors"))
        identical = a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
        max_diff = max(float((a[k].float() - b[k].float()).abs().max()) for k in a)
    record = {**provenance(), "title": "Resume after SIGKILL", "recipe": args.recipe, "steps": args.steps,
              "checkpoint_every": args.checkpoint_every, "last_checkpoint_step_at_kill": killed_at,
              "killed_before_finishing": not finished_before_kill, "tensors": len(a),
              "bit_identical": identical, "max_abs_difference": max_diff}
    lines = [f"Recipe {args.recipe} for {args.steps} steps, checkpoint every {args.checkpoint_every}; killed with "
             f"SIGKILL {args.kill_after} s after the first checkpoint (last checkpoint at step {killed_at}), then "
             "`gensdk train ... --resume`.", "",
             f"- killed before finishing: {not finished_before_kill}",
             f"- final weights bit-identical to the unbroken run: {identical} ({len(a)} tensors, "
             f"max |difference| {max_diff})"]
    write_results(args.results, record, lines)
    print("\n".join(lines))


if __name__ == "__main__":
    main()
