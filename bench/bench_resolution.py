"""Matching quality and scale on generated Chinese operator legacy data (telcrm.resolution.legacy_data).

Run:
  PYTHONPATH=src nice -n 19 python bench/bench_resolution.py quality --people 20000 [--no-splink]
  PYTHONPATH=src nice -n 19 python bench/bench_resolution.py scale --records 100000

Quality: pairwise precision/recall/F1 over all record pairs, and the exact-cluster share (true
entities whose records end in exactly one cluster holding nobody else's records), for telcrm and for
Splink 5 (DuckDB) given the same standardised columns (Splink has no Chinese standardisation of its
own, so it gets ours: pinyin name key, upgraded ID, phones, parsed address).
Scale: wall time and peak RSS of standardise + match (generation excluded from the time).
"""

from __future__ import annotations

import argparse
import gc
import logging
import resource
import time
from collections import Counter
from typing import Any

from telcrm.resolution._evaluate import evaluate
from telcrm.resolution.legacy_data import generate
from telcrm.resolution.match import match
from telcrm.resolution.standardise import standardise_many

FIELDS = ("kind", "name", "id_number", "credit_code", "phone", "email", "address", "birth_date", "gender")
RECORDS_PER_PERSON = 2.34  # measured average of the generator


def cpu_s() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def standardised(records: list[dict[str, Any]]) -> list[tuple[str, dict[str, Any]]]:
    stds = standardise_many({k: r[k] for k in FIELDS} for r in records)
    return [(f"{r['source']}:{r['source_key']}", s) for r, s in zip(records, stds, strict=True)]


def run_splink(std: list[tuple[str, dict[str, Any]]], thresholds: tuple[float, ...]) -> dict[float, dict[str, str]]:
    """Splink 5 on our standardised columns: exact/fuzzy comparisons, tf on name, EM; clusters per threshold."""
    import pandas as pd
    import splink.comparison_library as cl
    from splink import DuckDBAPI, Linker, SettingsCreator, block_on

    rows = []
    for key, s in std:
        phones = s.get("phones") or []
        rows.append(
            {
                "unique_id": key,
                "kind": s["kind"],
                "name_key": (s.get("org_core") or "") + (s.get("org_branch") or "") or s.get("name_key"),
                "name_chars": s.get("name_zh") or s.get("name"),
                "ident": s.get("id18") or s.get("credit_code") or s.get("id_weak") or s.get("credit_weak"),
                "birth_date": s.get("birth_date"),
                "gender": s.get("gender"),
                "phones": phones or None,
                "phone1": phones[0] if phones else None,
                "email": s.get("email"),
                "city": s.get("city"),
                "address": s.get("address"),
            }
        )
    df = pd.DataFrame(rows)
    settings = SettingsCreator(
        link_type="dedupe_only",
        blocking_rules_to_generate_predictions=[
            block_on("kind", "ident"),
            block_on("kind", "name_key", "birth_date"),
            block_on("kind", "name_key", "city"),
            block_on("kind", "phone1"),
            block_on("kind", "email"),
            block_on("kind", "address"),
        ],
        comparisons=[
            cl.JaroWinklerAtThresholds("name_key", [0.92, 0.8]).configure(term_frequency_adjustments=True),
            cl.ExactMatch("name_chars"),
            cl.DamerauLevenshteinAtThresholds("ident", [1, 2]),
            cl.DateOfBirthComparison("birth_date", input_is_string=True, datetime_format="%Y-%m-%d"),
            cl.ArrayIntersectAtSizes("phones", [1]),
            cl.JaroWinklerAtThresholds("address", [0.95, 0.85]),
            cl.ExactMatch("email"),
            cl.ExactMatch("gender"),
        ],
        retain_intermediate_calculation_columns=False,
    )
    db_api = DuckDBAPI()
    linker = Linker(db_api.register(df, dataset_display_name="legacy"), settings, log_level=logging.WARNING)
    linker.training.estimate_probability_two_random_records_match([block_on("kind", "ident", "name_key")], recall=0.6)
    linker.training.estimate_u_using_random_sampling(max_pairs=2e6, seed=1)
    em_rules = (
        block_on("kind", "name_key", "birth_date"),
        block_on("kind", "ident"),
        block_on("kind", "address"),
    )
    for rule in em_rules:
        linker.training.estimate_parameters_using_expectation_maximisation(rule, record_sample_proportion=1.0)
    predictions = linker.inference.predict(threshold_match_probability=0.5)
    out: dict[float, dict[str, str]] = {}
    for threshold in thresholds:
        df_c = linker.clustering.cluster_pairwise_predictions_at_threshold(predictions, threshold).as_pandas_dataframe()
        out[threshold] = {str(u): str(c) for u, c in zip(df_c["unique_id"], df_c["cluster_id"], strict=True)}
    return out


def quality(people: int, seed: int, splink: bool) -> None:
    records, truth = generate(people, seed)
    print(f"generated {len(records)} records of {people} parties (seed {seed})")
    t0 = time.perf_counter()
    std = standardised(records)
    t1 = time.perf_counter()
    result = match(std)
    t2 = time.perf_counter()
    ours = evaluate(truth, result.clusters)
    print(f"telcrm  {ours.line()}  [standardise {t1 - t0:.1f}s, match {t2 - t1:.1f}s, review {len(result.review)}]")
    if splink:
        t3 = time.perf_counter()
        runs = run_splink(std, (0.5, 0.9, 0.99))
        elapsed = time.perf_counter() - t3
        for threshold, clusters in runs.items():
            largest = max(Counter(clusters.values()).values())
            print(f"splink  {evaluate(truth, clusters).line()}  [clusters at {threshold}; largest {largest}]")
        print(f"splink  time {elapsed:.1f}s (all thresholds)")
        theirs = max((evaluate(truth, c) for c in runs.values()), key=lambda x: x.f1)
        print(
            f"delta vs Splink's best threshold: F1 {ours.f1 - theirs.f1:+.4f}, "
            f"exact share {ours.exact_share - theirs.exact_share:+.4f}, "
            f"false pairs {ours.predicted_pairs - round(ours.precision * ours.predicted_pairs)} vs "
            f"{theirs.predicted_pairs - round(theirs.precision * theirs.predicted_pairs)}"
        )


def scale(n_records: int, seed: int) -> None:
    records, truth = generate(round(n_records / RECORDS_PER_PERSON), seed)
    n = len(records)
    raws = [({k: r[k] for k in FIELDS}, f"{r['source']}:{r['source_key']}") for r in records]
    del records
    gc.collect()
    gc.freeze()  # the generated records are long-lived: keep them out of collections
    before = rss_mb()
    t0, c0 = time.perf_counter(), cpu_s()
    stds = standardise_many(raw for raw, _ in raws)
    std = [(key, s) for (_, key), s in zip(raws, stds, strict=True)]
    del raws, stds
    t1, c1 = time.perf_counter(), cpu_s()
    result = match(std)
    t2, c2 = time.perf_counter(), cpu_s()
    scores = evaluate(truth, result.clusters)
    print(
        f"{n:>9,} records: standardise {t1 - t0:6.1f}s (cpu {c1 - c0:6.1f}s)  "
        f"match {t2 - t1:6.1f}s (cpu {c2 - c1:6.1f}s)"
        f"  total {t2 - t0:6.1f}s  peak RSS {rss_mb():,.0f} MB (after generation {before:,.0f} MB)\n"
        f"           links {len(result.links):,}  review {len(result.review):,}  {scores.line()}"
    )


def main() -> None:
    parser = argparse.ArgumentParser()
    sub = parser.add_subparsers(dest="cmd", required=True)
    q = sub.add_parser("quality")
    q.add_argument("--people", type=int, default=20_000)
    q.add_argument("--seed", type=int, default=7)
    q.add_argument("--no-splink", action="store_true")
    s = sub.add_parser("scale")
    s.add_argument("--records", type=int, default=100_000)
    s.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()
    if args.cmd == "quality":
        quality(args.people, args.seed, not args.no_splink)
    else:
        scale(args.records, args.seed)


if __name__ == "__main__":
    main()
