"""Legacy record resolution (数据清理, 客户归并): import, standardise, match, merge, unmerge.

Two halves with one contract between them:

* ``standardise`` and ``match`` are pure (no database): they turn a legacy record's canonical
  fields into standardised matching values, and a set of records into clusters.
* ``importer``, ``service`` (merge, survivorship, lineage, review queue, unmerge), the tables and
  the CLI/API edges store and act on what the matcher decides.

Contract (kept stable; see ADR 11):

``standardise.standardise(raw: Mapping[str, str | None]) -> dict[str, Any]``
    ``raw`` uses canonical field names (a source's mapping file maps its columns to them):
    ``kind`` ("individual" | "organization" | None: inferred), ``name``, ``id_number``,
    ``credit_code``, ``phone`` (one or several numbers in one string), ``email``, ``address``,
    ``birth_date``, ``gender``. Returns a flat JSON-serialisable dict of standardised values.
    The original values are never changed; the caller keeps them.

``match.Model``: trained parameters; ``to_dict()`` / ``Model.from_dict(d)``; ``default_model()``.
``match.train(records, decisions=()) -> Model``
``match.score(model, left_std, right_std) -> float``: match probability of one pair.
``match.match(records, decisions=(), model=None) -> MatchResult``
    ``records``: iterable of ``(key, std)`` with ``key`` a unique string (``"source:source_key"``)
    and ``std`` the output of ``standardise``. ``decisions``: iterable of ``Decision(left, right,
    same)`` from a data steward, always obeyed (must-link / cannot-link).
    ``MatchResult.clusters``: every key -> cluster key (the smallest key of its cluster);
    ``MatchResult.links``: accepted pairs ``(left, right, probability)``;
    ``MatchResult.review``: uncertain pairs ``(left, right, probability)`` for the steward;
    ``MatchResult.model``: the model used.

Additions (matching side; the above unchanged):

``standardise.standardise_many(raws) -> list[dict]``: ``standardise`` over many records with the
    cyclic garbage collector paused (it turns quadratic on a heap of a million dicts).
``Model.link_threshold`` / ``Model.review_threshold``: the bands ``match`` used (0.9 / 0.4).
    ``match(..., model=None)`` trains on the records themselves (under 200 records:
    ``default_model()``); store ``result.model.to_dict()`` to reuse or inspect it.
``legacy_data.generate(n_people, seed) -> (records, truth)`` and ``legacy_data.write_sources(
    records, directory)``: synthetic operator extracts with ground truth (per-source CSV, VoIP as
    .xlsx, and ``<source>.mapping.json``), for tests and benches.
"""
