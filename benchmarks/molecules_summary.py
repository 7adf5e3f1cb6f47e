"""Tables of the molecules benchmarks from the records under benchmarks/results/molecules/:
``molecules_moses.md`` (training, sampling throughput, the MOSES metrics next to MOSES's published
baselines) and ``molecules_search.md`` (best and top-10 mean after 1k / 5k / 20k scored molecules).

    python benchmarks/molecules_summary.py
"""

from __future__ import annotations

import json
import math
from pathlib import Path

RESULTS = Path(__file__).resolve().parent / "results"
RECORDS = RESULTS / "molecules"
KINDS = ("char-rnn", "transformer", "vae", "graph")
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
             "| model | parameters | steps x batch | epochs | training minutes (H100) | final loss | device, date, commit |",
             "|---|---|---|---|---|---|---|"]
    for kind in KINDS:
        plan = _load(RECORDS / kind / "plan.json")
        if plan is None:
            continue
        log = (RECORDS / kind / "log.jsonl").read_text().splitlines()
        last = json.loads(log[-1])
        lines.append(f"| {kind} | {plan['parameters']:,} | {plan['steps']:,} x {plan['batch_size']} | {plan['epochs']:.1f} "
                     f"| {training_minutes(RECORDS / kind, plan['batch_size']):.1f} | {last['loss']:.3f} "
                     f"| {plan['device']}, {plan['date']}, {plan['commit']} |")
    lines += ["", "## Sampling throughput (30,000 molecules, batches of 4,096)", "",
              "| model | device | molecules/s generated | valid | valid and unique | valid unique/s incl. RDKit validation |",
              "|---|---|---|---|---|---|"]
    for kind in KINDS:
        for name in ("sampling.json", "sampling_cpu.json"):
            record = _load(RECORDS / kind / name)
            if record is None:
                continue
            valid = record.get("valid", record.get("valid_nonempty"))
            lines.append(f"| {kind} | {record['device']} | {record['molecules_per_s']:,.0f} | {valid / record['n']:.4f} "
                         f"| {record.get('unique_valid', 0):,} | "
                         f"{record['valid_unique_per_s']:,.0f} |" if "valid_unique_per_s" in record else
                         f"| {kind} | {record['device']} | {record['molecules_per_s']:,.0f} | "
                         f"{valid / record['n']:.4f} | - | - |")
    lines += ["", "## MOSES metrics (first 30,000 samples, temperature 1)", "",
              "| model | " + " | ".join(COLUMNS) + " |", "|---" * (len(COLUMNS) + 1) + "|"]
    for name, values in MOSES.items():
        lines.append(f"| MOSES {name} (published) | " + " | ".join(_fmt(values.get(c)) for c in COLUMNS) + " |")
    for kind in KINDS:
        record = _load(RECORDS / kind / "moses_metrics.json")
        if record is None:
            lines.append(f"| gensdk {kind} | " + " | ".join("not measured" if i == 0 else "" for i in range(len(COLUMNS)))
                         + " |")
            continue
        metrics = record["metrics"]
        lines.append(f"| gensdk {kind} | " + " | ".join(_fmt(metrics.get(c)) for c in COLUMNS) + " |")
    lines += ["", "Samples were generated on the device of the sampling table; their scoring ran where each record says:"]
    for kind in KINDS:
        record = _load(RECORDS / kind / "moses_metrics.json")
        if record is not None:
            lines.append(f"- {kind}: {record['device']}, {record['date']}, commit {record['commit']}, "
                         f"{record['evaluate_seconds']:.0f} s for 30,000 molecules (`{record['command']}`)")
    lines += ["", "A random 30,000-molecule sample of MOSES train itself scores FCD/Test 0.048 with this suite "
              "(`molecules_metrics_check.md`): the floor that sample size sets for a perfect model."]
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


def main() -> None:
    (RESULTS / "molecules_moses.md").write_text("\n".join(["# MOSES benchmark of gensdk's molecule generators", "",
                                                          "Command: `bash benchmarks/gpu_molecules.sh train|resume|finish` "
                                                          "(transformer: `python benchmarks/molecules_moses.py train "
                                                          "--kind transformer --minutes 16`, then `--resume`); records in "
                                                          "`molecules/<model>/`.", "", *moses_table()]) + "\n")
    (RESULTS / "molecules_search.md").write_text("\n".join(["# Molecule search: REINVENT, VAE latent ES, random", "",
                                                           "Prior: the char-rnn trained on MOSES (below); VAE: the "
                                                           "SMILES VAE trained on MOSES. One seed. Records in "
                                                           "`molecules/search/`.", "", *search_table()]) + "\n")
    print((RESULTS / "molecules_moses.md").read_text())
    print((RESULTS / "molecules_search.md").read_text())


if __name__ == "__main__":
    main()
