"""Tables of the molecules benchmarks from the records under benchmarks/results/raw/molecules/:
``molecules_moses.md`` (training, sampling throughput, the MOSES metrics next to MOSES's published
baselines) and ``molecules_search.md`` (best and top-10 mean after 1k / 5k / 20k scored molecules).

    python benchmarks/molecules_summary.py
"""

from __future__ import annotations

import json
import math
from pathlib import Path

RESULTS = Path(__file__).resolve().parent / "results"
RECORDS = RESULTS / "raw" / "molecules"
# run folders under molecules/: round 1 (2026-11-22, H100), round 2 (2026-12-02, H200), round 3 (2026-12-03, H200)
RUNS = {"char-rnn": "char-rnn", "transformer": "transformer", "vae": "vae (collapsed)", "graph": "graph",
        "transformer-r4": "transformer, randomized SMILES x4", "vae-wd": "vae, word dropout + free bits",
        "vae-wd-search": "vae, word dropout + free bits (search run)",
        "transformer-r4-long": "transformer, randomized SMILES x4, 2.2 passes", "graph-r3": "graph, 2.2 min"}
KINDS = tuple(RUNS)
TEMPERATURES = ("", "-t1.1", "-t1.2")  # file suffixes of samples at temperature 1, 1.1, 1.2
# MOSES (Polykovskiy et al. 2020), Table 2: the published baselines
MOSES = {
    "CharRNN": {"valid": 0.975, "unique@10000": 0.999, "FCD/Test": 0.073, "FCD/TestSF": 0.520, "SNN/Test": 0.601,
                "SNN/TestSF": 0.565, "Frag/Test": 1.000, "Frag/TestSF": 0.998, "Scaf/Test": 0.924,
                "Scaf/TestSF": 0.110, "IntDiv": 0.856, "IntDiv2": 0.850, "Filters": 0.994, "novelty": 0.842},
    "VAE": {"valid": 0.977, "unique@10000": 0.998, "FCD/Test": 0.099, "FCD/TestSF": 0.567, "SNN/Test": 0.626,
            "SNN/TestSF": 0.578, "Frag/Test": 0.999, "Frag/TestSF": 0.998, "Scaf/Test": 0.939, "Scaf/TestSF": 0.059,
            "IntDiv": 0.856, "IntDiv2": 0.850, "Filters": 0.997, "novelty": 0.695},
    "JTN-VAE": {"valid": 1.000, "unique@10000": 0.9996, "FCD/Test": 0.395, "FCD/TestSF": 0.938, "SNN/Test": 0.548,
                "SNN/TestSF": 0.519, "Frag/Test": 0.996, "Frag/TestSF": 0.995, "Scaf/Test": 0.896,
                "Scaf/TestSF": 0.100, "IntDiv": 0.855, "IntDiv2": 0.849, "Filters": 0.976, "novelty": 0.914},
}
COLUMNS = ("valid", "unique@1000", "unique@10000", "novelty", "FCD/Test", "FCD/TestSF", "SNN/Test", "SNN/TestSF",
           "Frag/Test", "Frag/TestSF", "Scaf/Test", "Scaf/TestSF", "IntDiv", "IntDiv2", "Filters")


HEADER = [
    "Round 1 (2026-11-22, H100): the script `benchmarks/gpu_molecules.sh` as of commit bbd9831 "
    "(`train|resume|finish`), the transformer by `python benchmarks/molecules_moses.py train --kind transformer "
    "--minutes 16` then `--resume`.",
    "Round 2 (2026-12-02, H200): `bash benchmarks/gpu_molecules.sh train 555` then `finish 575` (commit 9d95587), "
    "three models sharing one GPU; the search VAE by `bash benchmarks/gpu_molecules.sh latent 330 2.3` (commit 5cb555b), "
    "whose training the phase's timeout cut at step 3,800 of 4,667 and `python benchmarks/molecules_moses.py train "
    "--kind vae --name vae-wd --resume` finished in the next command (same schedule), before the latent searches. "
    "Round 3 (2026-12-03, H200, commit 82dc4d2): `bash benchmarks/gpu_molecules.sh long1 565 12.5` (the randomized "
    "transformer alone on the GPU, a 27,608-step plan; the references and the graph training tensor built on the CPU "
    "beside it), then `long2 580 3`, whose resume the phase's timeout cut at step 26,600, so the searches and the "
    "graph training it was to start never ran; a third command finished the transformer with `python "
    "benchmarks/molecules_moses.py train --kind transformer --name transformer-r4-long --resume`, sampled and scored "
    "it; a fourth trained the graph model for the device time that was left (`train --kind graph --minutes 2.4 "
    "--options '{\"hidden\":128,\"layers\":4}'`), sampled and scored it. Device time: 28 of the session's 30 "
    "minutes for all four commands.",
    "Records in `raw/molecules/<run>/`; each file names its command, device, date and commit.",
]


NOTES = [
    "## Against the issue's target (FCD/Test below CharRNN's 0.073 at valid >= 0.975 and novelty >= 0.84, "
    "trained in under an hour)", "",
    "- Round 1's transformer on canonical SMILES met FCD (0.055) and validity but memorized: novelty 0.705 after "
    "11.5 epochs.",
    "- Round 2 trains the same 25M-parameter transformer on 4 random SMILES of each molecule (`--randomize 4`, "
    "6.34M strings; 0.93 passes over them, i.e. 3.7 per molecule) for 8.6 minutes of steps on an H200 it shared "
    "with the VAE and graph runs: novelty rises to 0.910 and validity stays at 0.985, but FCD/Test is 0.074, "
    "0.001 above CharRNN's 0.073 (MOSES reports that figure as 0.073 +- 0.025 over its runs). So the target is "
    "met on validity, novelty and time, and missed on FCD by 0.001.",
    "- Sampling hotter trades FCD for novelty: T=1.1 gives novelty 0.932 at FCD 0.151, T=1.2 novelty 0.950 at "
    "FCD 0.417 (and validity below 0.975).",
    "- **Round 3 meets the target.** The same transformer and data, alone on an H200, for 27,608 steps of 512 "
    "(2.2 passes over the 6.34M random forms, 8.9 per molecule): valid 0.992, novelty 0.859, FCD/Test 0.060 "
    "(CharRNN 0.073; one run with one seed, and within the +-0.025 MOSES reports for CharRNN's FCD: the target's "
    "number is met, a better model is not shown), SNN/Test 0.600, Scaf/Test 0.933, IntDiv 0.856, Filters 0.995. "
    "Its training steps took "
    "14.7 minutes (the plan expected 12.5: the CPU work beside it slowed the steps); with tokenizing the random "
    "forms (about a minute) and the three command restarts, 21 minutes from the first command's start to the "
    "trained model, inside the hour the issue allows. Samples: `raw/molecules/transformer-r4-long/samples.smi.gz`.",
    "- The VAE with word dropout 0.25 and free bits 0.1 no longer collapses (KL 12.3 nats against round 1's "
    "0.0005) but, after 1.7 epochs, samples from its prior are 83.6% valid with FCD/Test 0.400.",
    "- The graph model trained 1.2 epochs (3,790 steps, 5.2 minutes) in round 2; its 30,000 samples did not finish "
    "inside the 150 s given to them on the shared GPU. Round 3 removed the sampler's device waits in the "
    "ring-closure loop (one `nonzero()` per older atom per step) and trained it anew for the 2.2 minutes of device "
    "time that were left (3,515 steps, 1.1 epochs): 30,000 samples in 22.6 s (1,328 molecules/s), validity 1.000 "
    "by construction (valence masks), novelty 0.977, but FCD/Test 1.475 and Filters 0.947: far from the language "
    "models, as expected of so short a training; a fair graph row needs a longer run.",
    "- Scoring on the H200 (16 CPU cores for RDKit, ChemNet and fingerprint similarity on the GPU): 18.4 s for "
    "30,000 molecules, references read from the cache in 2.3 s (building the test and test-scaffolds "
    "references once took 252 s).",
]


def _load(path: Path) -> dict | None:
    return json.loads(path.read_text()) if path.exists() else None


def _fmt(value: float | None, digits: int = 3) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "-"
    return f"{value:.{digits}f}"


def training_minutes(folder: Path, batch: int) -> float:
    seconds, last = 0.0, 0
    for line in (folder / "log.jsonl").read_text().splitlines():
        record = json.loads(line)
        seconds += (record["step"] - last) * batch / record["examples_per_s"]
        last = record["step"]
    return seconds / 60


def moses_table() -> list[str]:
    lines = ["## Training (MOSES train, 1,584,663 molecules)", "",
             "| model | parameters | steps x batch | epochs (of the training strings) | minutes of training steps | final loss "
             "| device, date, commit |",
             "|---|---|---|---|---|---|---|"]
    for kind in KINDS:
        plan = _load(RECORDS / kind / "plan.json")
        if plan is None:
            continue
        log = (RECORDS / kind / "log.jsonl").read_text().splitlines()
        last = json.loads(log[-1])
        lines.append(f"| {RUNS[kind]} | {plan['parameters']:,} | {plan['steps']:,} x {plan['batch_size']} | {plan['epochs']:.1f} "
                     f"| {training_minutes(RECORDS / kind, plan['batch_size']):.1f} | {last['loss']:.3f} "
                     f"| {plan['device']}, {plan['date']}, {plan['commit']} |")
    lines += ["", "## Sampling throughput (30,000 molecules, batches of 4,096)", "",
              "| model | device | molecules/s generated | valid | valid and unique | valid unique/s incl. RDKit validation |",
              "|---|---|---|---|---|---|"]
    for kind in KINDS:
        for name in [f"sampling{t}.json" for t in TEMPERATURES] + ["sampling_cpu.json"]:
            record = _load(RECORDS / kind / name)
            if record is None:
                continue
            valid = record.get("valid", record.get("valid_nonempty"))
            label = RUNS[kind] + (f", T={record['temperature']:g}" if record.get("temperature", 1.0) != 1.0 else "")
            lines.append(f"| {label} | {record['device']} | {record['molecules_per_s']:,.0f} | {valid / record['n']:.4f} "
                         f"| {record.get('unique_valid', 0):,} | "
                         f"{record['valid_unique_per_s']:,.0f} |" if "valid_unique_per_s" in record else
                         f"| {label} | {record['device']} | {record['molecules_per_s']:,.0f} | "
                         f"{valid / record['n']:.4f} | - | - |")
    lines += ["", "## MOSES metrics (first 30,000 samples; temperature 1 unless the row says)", "",
              "| model | " + " | ".join(COLUMNS) + " |", "|---" * (len(COLUMNS) + 1) + "|"]
    for name, values in MOSES.items():
        lines.append(f"| MOSES {name} (published) | " + " | ".join(_fmt(values.get(c)) for c in COLUMNS) + " |")
    scored = []
    for kind in KINDS:
        if kind == "vae-wd-search":
            continue
        for tag in TEMPERATURES:
            record = _load(RECORDS / kind / f"moses_metrics{tag}.json")
            if record is None:
                if not tag:
                    lines.append(f"| gensdk {RUNS[kind]} | not measured" + " |" * len(COLUMNS))
                continue
            label = RUNS[kind] + (f", T={record['temperature']:g}" if tag else "")
            metrics = record["metrics"]
            lines.append(f"| gensdk {label} | " + " | ".join(_fmt(metrics.get(c)) for c in COLUMNS) + " |")
            scored.append((label, record))
    lines += ["", "Samples were generated on the device of the sampling table; their scoring ran where each record says:"]
    for label, record in scored:
        lines.append(f"- {label}: {record['device']}, {record['date']}, commit {record['commit']}, "
                     f"{record['evaluate_seconds']:.1f} s for 30,000 molecules (`{record['command']}`)")
    lines += ["", "A random 30,000-molecule sample of MOSES train itself scores FCD/Test 0.048 and Scaf/Test 0.948 "
              "with this suite, where MOSES publishes 0.008 and 0.991 for its Train row (`molecules_metrics_check.md`; "
              "the reference statistics match molsets' own). What makes the gap is not measured (sample size is one "
              "guess, not shown), so FCD/Test and Scaf/Test here are not calibrated against MOSES's published rows, "
              "CharRNN's included.", "", *NOTES]
    return lines


def search_table() -> list[str]:
    lines = ["| task | method | best @1k | top-10 @1k | best @5k | top-10 @5k | best @20k | top-10 @20k | "
             "unique valid | seconds |", "|---" * 10 + "|"]
    head = []
    for task in ("qed", "plogp", "mpo"):
        record = _load(RECORDS / "search" / f"{task}.json")
        if record is None:
            continue
        head = [f"- {key}: {record[key]}" for key in ("date", "device", "command", "commit")]
        for result in record["results"]:
            trace = {row["scored"]: row for row in result["trace"]}
            cells = []
            for at in (1000, 5000, 20000):
                row = trace.get(at, {})
                cells += [_fmt(row.get("best")), _fmt(row.get("top10"))]
            lines.append(f"| {task} | {result['method']} | " + " | ".join(cells)
                         + f" | {result['unique_valid']:,} | {result['seconds']:.0f} |")
    return head + [""] + lines


def search_table_seeds() -> list[str]:
    """Round 2: each (task, seed) ran as its own process; cells are the mean over seeds (then each seed)."""
    lines = ["| task | method | seeds | best @1k | top-10 @1k | best @5k | top-10 @5k | best @20k | top-10 @20k | "
             "unique valid | seconds |", "|---" * 11 + "|"]
    head = []
    for task in ("qed", "plogp", "mpo"):
        by_method: dict[str, list[dict]] = {}
        for path in sorted((RECORDS / "search-r2").glob(f"{task}-s*.json")):
            record = json.loads(path.read_text())
            head.append(f"- {path.name}: {record['device']}, {record['date']}, commit {record['commit']}, "
                        f"`{record['command']}`")
            for result in record["results"]:
                by_method.setdefault(result["method"], []).append(result)
        for method, results in by_method.items():
            cells = []
            for at in (1000, 5000, 20000):
                for key in ("best", "top10"):
                    values = [next((r[key] for r in res["trace"] if r["scored"] == at), math.nan) for res in results]
                    mean = sum(values) / len(values)
                    cells.append(_fmt(mean) + " (" + " / ".join(_fmt(v) for v in values) + ")")
            unique = sum(r["unique_valid"] for r in results) / len(results)
            seconds = sum(r["seconds"] for r in results) / len(results)
            lines.append(f"| {task} | {method} | {', '.join(str(r['seed']) for r in results)} | " + " | ".join(cells)
                         + f" | {unique:,.0f} | {seconds:.0f} |")
    return lines + ["", "Records:"] + head


def main() -> None:
    (RESULTS / "molecules_moses.md").write_text("\n".join(["# MOSES benchmark of gensdk's molecule generators", "",
                                                          *HEADER, "", *moses_table()]) + "\n")
    (RESULTS / "molecules_search.md").write_text("\n".join([
        "# Molecule search: REINVENT, VAE latent ES, random", "",
        "## Round 1 (2026-11-22, H100): char-rnn prior, the collapsed VAE, one seed", "",
        "Prior: the char-rnn of `molecules_moses.md`; VAE: round 1's SMILES VAE, whose posterior had collapsed "
        "(KL 0.0005 nats), so its latent search decodes the same ~11 molecules. Records in `raw/molecules/search/`.", "",
        *search_table(), "",
        "## Round 2 (2026-12-02, H200): randomized-SMILES transformer prior, the VAE with word dropout and free bits",
        "", "Random: samples of the `transformer-r4` prior. Latent: the evolution strategy in the latent space of "
        "a VAE trained with word dropout 0.25 and free bits 0.1 (KL 12.3 nats; the `vae-wd-search` run of "
        "`molecules_moses.md`). Mean over seeds, each seed in brackets. REINVENT on the transformer prior was "
        "started too but did not finish inside the device command (its processes shared the GPU with six others); "
        "its REINVENT figures are round 1's. Records in `raw/molecules/search-r2/`.", "", *search_table_seeds()]) + "\n")
    print((RESULTS / "molecules_moses.md").read_text())
    print((RESULTS / "molecules_search.md").read_text())


if __name__ == "__main__":
    main()
