"""Where the time of C-program sampling goes: one decoding step of the fuzzing Transformer split
into the network (with its key/value cache), the bracket constraint and the draw, at several batch
sizes and cache lengths; random weights of the saved model's shape (the time of a step does not
depend on the weights).

    python benchmarks/fuzzing_sampling_speed.py MODEL_DIR/config.json --batch 250,500,1000
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

import torch  # noqa: E402

from common import provenance  # noqa: E402
from gensdk.core.autoregressive import KVCache  # noqa: E402
from gensdk.core.model import build_model  # noqa: E402
from gensdk_plugins.fuzzing.model import BracketBalance  # noqa: E402


def sync() -> None:
    if torch.cuda.is_available():
        torch.cuda.synchronize()


def timed(fn, repeats: int) -> float:
    fn()  # warm-up: the first call of a shape pays for kernel selection and lazy initialisation
    sync()
    start = time.perf_counter()
    for _ in range(repeats):
        fn()
    sync()
    return (time.perf_counter() - start) / repeats * 1000


def profile_sampling(code, n: int, device: torch.device) -> None:
    """Where the time of a whole sampling call goes (128 steps of ``n`` programs), kernel by kernel and
    host op by host op: the whole call measured several times the sum of its parts."""
    from torch.profiler import ProfilerActivity, profile

    code.sample_tokens(n, temperature=1.0, max_len=32)  # warm-up
    activities = [ProfilerActivity.CPU] + ([ProfilerActivity.CUDA] if device.type == "cuda" else [])
    with profile(activities=activities) as prof:
        code.sample_tokens(n, temperature=1.0, max_len=128)
        sync()
    for key in (["cuda_time_total"] if device.type == "cuda" else []) + ["cpu_time_total"]:
        print(prof.key_averages().table(sort_by=key, row_limit=20), flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("config", type=Path)
    parser.add_argument("--batch", default="250,500,1000")
    parser.add_argument("--lengths", default="128,512,1000")
    parser.add_argument("--device", default="cuda")
    parser.add_argument("--whole", type=int, default=500, help="programs of one whole sample_tokens call, timed")
    parser.add_argument("--out", type=Path, default=None)
    parser.add_argument("--profile", action="store_true",
                        help="also print torch.profiler's top kernels and host ops of a 128-step sampling call")
    args = parser.parse_args()
    meta = json.loads(args.config.read_text())
    device = torch.device(args.device)
    model = build_model(meta["model"], **meta["config"]).to(device).eval()
    vocab = model.vocabulary
    rows = []
    for n in map(int, args.batch.split(",")):
        for length in map(int, args.lengths.split(",")):
            with torch.no_grad(), torch.autocast("cuda", dtype=torch.bfloat16, enabled=device.type == "cuda"):
                cache = KVCache(model.max_len)
                ids = torch.randint(3, len(vocab), (n, length), device=device)
                model._run(ids, cache)
                nxt = ids[:, -1:]

                def step():
                    cache.length = length
                    model._run(nxt, cache)

                net_ms = timed(step, 20)
                rule = BracketBalance(vocab, n, model.max_len, device)
                rule(ids)
                grow = torch.cat([ids, nxt], 1)

                def constrain():
                    rule.seen = length
                    rule(grow)

                rule_ms = timed(constrain, 20)
                logits = torch.randn(n, len(vocab), device=device)
                pick_ms = timed(lambda: model._pick(logits, 0.5, None), 20)
                cat_ms = timed(lambda: torch.cat([ids, nxt], 1), 20)
                sync_ms = timed(lambda: bool((nxt == 2).all()), 20)
            row = {"batch": n, "cache_length": length, "network_ms": round(net_ms, 2), "constraint_ms": round(rule_ms, 2),
                   "pick_ms": round(pick_ms, 2), "append_ms": round(cat_ms, 3), "sync_ms": round(sync_ms, 3)}
            print(json.dumps(row), flush=True)
            rows.append(row)
    # one whole sample() call as the CLI makes it, 1,024 steps at most
    from gensdk_plugins.fuzzing.model import CodeModel

    code = CodeModel(model)
    if args.profile:
        profile_sampling(code, args.whole, device)
    sync()
    start = time.perf_counter()
    tokens = code.sample_tokens(args.whole, temperature=1.0)
    sync()
    whole = {"batch": args.whole, "sample_tokens_seconds": round(time.perf_counter() - start, 2),
             "longest": max(map(len, tokens))}
    print(json.dumps(whole), flush=True)
    if args.out:
        args.out.write_text(json.dumps({**provenance(), "steps": rows, "whole": whole}, indent=2) + "\n")


if __name__ == "__main__":
    main()
