"""Probabilistic record matching (客户归并): blocking, Fellegi-Sunter scoring, constrained clustering.

Pipeline (vectorised with numpy/pandas/rapidfuzz; no per-pair Python loops except clustering):

1. **Columns.** Standardised records become integer-coded columns (``_Frame``).
2. **Blocking.** Several keys (valid/weak ID, each phone, e-mail, pinyin name + birth date, pinyin name
   + district/city, name token + birth date, company core name, full address). Within a block records
   are sorted by name and each is paired with its next ``window`` neighbours, so a huge block (a
   company switchboard, 王伟 in one city) costs ``size * window`` pairs rather than ``size²``.
3. **Comparisons.** Each pair gets a level per comparison (name, id, birth, phone, address, email,
   gender); levels understand the standardised fields (pinyin keys, one-edit IDs, swapped month/day,
   shared mobile vs shared landline, same building vs same street).
4. **Fellegi-Sunter in candidate-pair space.** ``u`` starts from random pairs; ``m``, ``u`` and the
   share of matches come from a two-class EM on the candidate pairs, where pairs with two valid IDs
   and steward decisions are labelled. One parameter set per segment (individual/organization x
   names agree or not) when a segment has enough labelled pairs: namesakes rarely share an address,
   households often do. Name and phone agreements get a term-frequency adjustment (王伟 or a
   switchboard number is weak evidence); a name alone never reaches the link threshold.
5. **Clustering.** Must-links first; then accepted links in descending probability are unioned
   unless the two clusters conflict (two different valid ID numbers / credit codes, a steward
   cannot-link). This stops chains through a shared landline or a common name.
"""

from __future__ import annotations

import gc
import math
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from rapidfuzz import fuzz, process
from rapidfuzz.distance import DamerauLevenshtein, Indel, JaroWinkler

__all__ = ["Decision", "MatchResult", "Model", "default_model", "match", "score", "train"]

Pair = tuple[str, str, float]

#: Comparison name -> number of non-null levels. Level 0 is the strongest agreement.
COMPARISONS: dict[str, int] = {
    # equal | same pinyin, one romanized | fuzzy >= .92 | fuzzy >= .80 | one token equal | else | homophone
    "name": 7,
    "id": 5,  # equal | 1 edit (one weak) | 2 edits (one weak) | both valid, differ | else
    "birth": 4,  # equal | month/day swapped or one digit | same year or two digits | else
    "phone": 3,  # share a mobile | share a landline | none shared
    "address": 7,  # equal | same building | same street | fuzzy >= .9 | same district or >= .75 | >= .55 | else
    "email": 2,  # equal | differ
    "gender": 2,  # equal | differ
}
_TF_COMPARISONS = {"name": (0, 1, 6), "phone": (0, 1)}
_TF_MAX_BOOST = 3.0  # bits: a rare value may add at most this much over the level's average


@dataclass(frozen=True)
class Decision:
    """A data steward's decision on a pair: ``same`` True is a must-link, False a cannot-link."""

    left: str
    right: str
    same: bool


@dataclass
class Model:
    """Fellegi-Sunter parameters: per comparison level ``m`` and ``u``, the prior and thresholds."""

    m: dict[str, list[float]]
    u: dict[str, list[float]]
    prior: float
    link_threshold: float = 0.9
    review_threshold: float = 0.4
    window: int = 30
    trained_on: int = 0
    u_random: dict[str, list[float]] | None = None  # agreement rates of random pairs (term frequencies)
    segments: dict[str, Model] | None = None  # parameters per pair segment (see ``_segments``), when trained

    def to_dict(self) -> dict[str, Any]:
        return {
            "m": {k: list(v) for k, v in self.m.items()},
            "u": {k: list(v) for k, v in self.u.items()},
            "prior": self.prior,
            "link_threshold": self.link_threshold,
            "review_threshold": self.review_threshold,
            "window": self.window,
            "trained_on": self.trained_on,
            "u_random": {k: list(v) for k, v in self.u_random.items()} if self.u_random else None,
            "segments": {k: v.to_dict() for k, v in self.segments.items()} if self.segments else None,
        }

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> Model:
        return cls(
            m={k: [float(x) for x in v] for k, v in d["m"].items()},
            u={k: [float(x) for x in v] for k, v in d["u"].items()},
            prior=float(d["prior"]),
            link_threshold=float(d.get("link_threshold", 0.9)),
            review_threshold=float(d.get("review_threshold", 0.4)),
            window=int(d.get("window", 30)),
            trained_on=int(d.get("trained_on", 0)),
            u_random={k: [float(x) for x in v] for k, v in d["u_random"].items()} if d.get("u_random") else None,
            segments={k: cls.from_dict(v) for k, v in d["segments"].items()} if d.get("segments") else None,
        )

    def weights(self) -> dict[str, np.ndarray]:
        """log2(m/u) per comparison level."""
        return {k: np.log2(np.asarray(self.m[k]) / np.asarray(self.u[k])) for k in COMPARISONS}


@dataclass
class MatchResult:
    """Clusters (every key -> smallest key of its cluster), accepted links, pairs for review."""

    clusters: dict[str, str]
    links: list[Pair] = field(default_factory=list)
    review: list[Pair] = field(default_factory=list)
    model: Model | None = None


def default_model() -> Model:
    """Hand-set parameters for Chinese operator data, used when there is too little data to train."""
    return Model(
        m={
            "name": [0.76, 0.08, 0.08, 0.03, 0.02, 0.01, 0.02],
            "id": [0.90, 0.06, 0.01, 0.005, 0.025],
            "birth": [0.90, 0.05, 0.03, 0.02],
            "phone": [0.55, 0.30, 0.15],
            "address": [0.55, 0.10, 0.10, 0.10, 0.06, 0.04, 0.05],
            "email": [0.9, 0.1],
            "gender": [0.98, 0.02],
        },
        u={
            "name": [1e-4, 1e-5, 1e-3, 1e-2, 0.05, 0.93889, 1e-5],
            "id": [1e-7, 1e-6, 1e-5, 0.9, 0.099989],
            "birth": [5e-5, 5e-4, 0.02, 0.97945],
            "phone": [1e-6, 1e-6, 0.999998],
            "address": [1e-6, 1e-5, 1e-4, 1e-3, 0.05, 0.05, 0.898889],
            "email": [1e-6, 0.999999],
            "gender": [0.5, 0.5],
        },
        prior=0.2,
    )


# ------------------------------------------------------------------------------------------ columns


_ID_FIELDS = ("id18", "credit_code", "id_weak", "credit_weak")
_STR_FIELDS = ("kind", "org_core", "org_branch", "name_key", "name_zh", "name", "birth_date", "gender", "email",
               "address", "city", "district", "street", "building", *_ID_FIELDS)  # fmt: skip


def _codes(values: Sequence[str]) -> np.ndarray:
    """Integer code per distinct non-empty string; -1 for empty."""
    codes, _ = pd.factorize(pd.Series(values, dtype=object).replace("", None), use_na_sentinel=True)
    return codes.astype(np.int64)


def _objects(values: list[str]) -> np.ndarray:
    out = np.empty(len(values), dtype=object)
    out[:] = values
    return out


def _date_parts(values: Sequence[str]) -> np.ndarray:
    out = np.full((len(values), 8), -1, dtype=np.int8)
    for i, v in enumerate(values):
        if v:
            digits = v.replace("-", "")
            if len(digits) == 8 and digits.isdigit():
                out[i] = np.frombuffer(digits.encode(), dtype=np.uint8) - 48
    return out


class _Frame:
    """Standardised records as integer-coded columns (and a few string columns for fuzzy compares)."""

    MAX_PHONES = 3

    def __init__(self, stds: Sequence[Mapping[str, Any]]) -> None:
        n = len(stds)
        self.n = n
        col = {key: [str(s.get(key) or "") for s in stds] for key in _STR_FIELDS}
        self.org = np.array([k == "organization" for k in col["kind"]], dtype=bool)
        name_key = [
            (core + "#" + branch) if core else key
            for core, branch, key in zip(col["org_core"], col["org_branch"], col["name_key"], strict=True)
        ]
        self.name_key = _codes(name_key)
        self.name_chars = _codes([zh or nm for zh, nm in zip(col["name_zh"], col["name"], strict=True)])
        self.name_hanzi = np.array([bool(zh) for zh in col["name_zh"]], dtype=bool)
        toks = [k.split(" ", 1) if "#" not in k else [k] for k in name_key]
        tok_a = [t[0] for t in toks]
        tok_b = [t[1] if len(t) > 1 else "" for t in toks]
        self.tok_a, self.tok_b = _objects(tok_a), _objects(tok_b)
        self.tok_a_code = _codes(tok_a)
        self.tok_b_code = _codes(tok_b)
        ident = [a or b or c or d for a, b, c, d in zip(*(col[k] for k in _ID_FIELDS), strict=True)]
        self.ident_s = _objects(ident)
        self.ident = _codes(ident)
        self.ident_valid = np.array([bool(a or b) for a, b in zip(col["id18"], col["credit_code"], strict=True)])
        self.birth = _codes(col["birth_date"])
        self.birth_digits = _date_parts(col["birth_date"])
        self.gender = _codes(col["gender"])
        self.email = _codes(col["email"])
        self.address = _codes(col["address"])
        self.address_s = _objects(col["address"])
        city, district, street, building = col["city"], col["district"], col["street"], col["building"]
        self.city = _codes(city)
        self.district = _codes([c + "/" + d if d else "" for c, d in zip(city, district, strict=True)])
        self.street = _codes([c + "/" + s if s else "" for c, s in zip(city, street, strict=True)])
        self.building = _codes(
            [c + "/" + s + "/" + b if s and b else "" for c, s, b in zip(city, street, building, strict=True)]
        )
        self.city_or_district = _codes([c + "/" + d if d else c for c, d in zip(city, district, strict=True)])
        self.org_key = _codes(col["org_core"])
        # coarse address key for blocking: city/street when parsed, else the text's tail (suburb, postcode)
        self.addr_block = _codes(
            [(c + "/" + st) if st else a[-12:] for c, st, a in zip(city, street, col["address"], strict=True)]
        )
        # the ID without its last or without its first character: one wrong digit at either end
        # (a mistyped check digit, a dropped leading digit) still meets its twin in a block
        self.ident_head = _codes([x[:-1] if len(x) >= 6 else "" for x in ident])
        self.ident_tail = _codes([x[1:] if len(x) >= 6 else "" for x in ident])
        self.ident_sorted = _codes(["".join(sorted(x)) for x in ident])  # catches transposed digits
        phones: list[list[str]] = [list(s.get("phones") or [])[: self.MAX_PHONES] for s in stds]
        flat = [p for ps in phones for p in ps]
        codes = _codes(flat)
        self.phones = np.full((n, self.MAX_PHONES), -1, dtype=np.int64)
        self.phone_mobile = np.zeros((n, self.MAX_PHONES), dtype=bool)
        pos = 0
        for i, ps in enumerate(phones):
            for k, p in enumerate(ps):
                self.phones[i, k] = codes[pos]
                self.phone_mobile[i, k] = p.startswith("1")
                pos += 1
        # term frequencies within kind
        self.name_tf = self._tf(self.name_key)
        counts = np.bincount(self.phones[self.phones >= 0], minlength=max(1, int(self.phones.max(initial=-1)) + 1))
        self.phone_count = counts

    def _tf(self, codes: np.ndarray) -> np.ndarray:
        valid = codes >= 0
        counts = np.bincount(codes[valid], minlength=max(1, int(codes.max(initial=-1)) + 1))
        return counts


# ------------------------------------------------------------------------------------------ blocking


def _block_pairs(keys: np.ndarray, order_key: np.ndarray, window: int) -> np.ndarray:
    """Pairs (i<j) of records sharing a block key (-1 = none), each with its next ``window`` neighbours."""
    idx = np.flatnonzero(keys >= 0)
    if idx.size < 2:
        return np.empty((0, 2), dtype=np.int64)
    order = np.lexsort((idx, order_key[idx], keys[idx]))
    idx = idx[order]
    k = keys[idx]
    out = []
    for off in range(1, window + 1):
        same = k[off:] == k[:-off]
        if not same.any():
            break
        out.append(np.stack([idx[:-off][same], idx[off:][same]], axis=1))
    if not out:
        return np.empty((0, 2), dtype=np.int64)
    return np.concatenate(out)


def _combine(*cols: np.ndarray) -> np.ndarray:
    """One code per combination of several code columns (-1 if any is -1)."""
    valid = np.ones(cols[0].shape[0], dtype=bool)
    code = np.zeros(cols[0].shape[0], dtype=np.int64)
    for c in cols:
        valid &= c >= 0
        code = code * (int(c.max(initial=0)) + 2) + np.where(c >= 0, c, 0)
        code = pd.factorize(code)[0].astype(np.int64)  # keep codes small
    return np.where(valid, code, -1)


def _candidate_pairs(f: _Frame, window: int) -> np.ndarray:
    kind = f.org.astype(np.int64)
    order = f.name_key
    rules = [
        _combine(kind, f.ident),
        _combine(kind, f.email),
        _combine(kind, f.name_key, f.birth),
        _combine(kind, f.name_key, f.city_or_district),
        _combine(kind, f.name_key, f.city),
        _combine(kind, f.tok_a_code, f.birth),
        _combine(kind, f.tok_b_code, f.birth),
        _combine(kind, f.org_key),
        _combine(kind, f.address),
        _combine(kind, f.birth, f.city_or_district),
        _combine(kind, f.birth, f.addr_block),
        _combine(kind, f.tok_a_code, f.addr_block),
        _combine(kind, f.tok_b_code, f.addr_block),
        _combine(kind, f.ident_sorted),
        _combine(kind, f.ident_head),
        _combine(kind, f.ident_tail),
    ]
    parts = [_block_pairs(r, order, window) for r in rules]
    # broad keys (birth date, one name token, street) with a narrow window that shrinks as data grows
    narrow = max(2, min(8, 2_000_000 // max(1, f.n)))
    for r in (
        _combine(kind, f.birth),
        _combine(kind, f.tok_a_code),
        _combine(kind, f.tok_b_code),
        _combine(kind, f.addr_block),
    ):
        parts.append(_block_pairs(r, order, narrow))
    for k in range(f.MAX_PHONES):  # each phone: explode into one key column per slot, paired across slots
        col = f.phones[:, k]
        parts.append(_block_pairs(_combine(kind, col), order, window))
    if f.MAX_PHONES > 1:
        rows = np.repeat(np.arange(f.n), f.MAX_PHONES)
        flat = f.phones.reshape(-1)
        keep = flat >= 0
        rows, flat = rows[keep], flat[keep]
        order_flat = order[rows]
        pairs = _block_pairs_explicit(rows, _combine(kind[rows], flat), order_flat, window)
        parts.append(pairs)
    pairs = np.concatenate(parts) if parts else np.empty((0, 2), dtype=np.int64)
    pairs = pairs[pairs[:, 0] != pairs[:, 1]]
    pairs = np.sort(pairs, axis=1)
    code = np.unique(pairs[:, 0] * np.int64(f.n) + pairs[:, 1])
    return np.stack([code // f.n, code % f.n], axis=1)


def _block_pairs_explicit(rows: np.ndarray, keys: np.ndarray, order_key: np.ndarray, window: int) -> np.ndarray:
    """Like ``_block_pairs`` for exploded (row, key) entries."""
    order = np.lexsort((rows, order_key, keys))
    r, k = rows[order], keys[order]
    out = []
    for off in range(1, window + 1):
        same = k[off:] == k[:-off]
        if not same.any():
            break
        out.append(np.stack([r[:-off][same], r[off:][same]], axis=1))
    return np.concatenate(out) if out else np.empty((0, 2), dtype=np.int64)


# ------------------------------------------------------------------------------------- comparisons


WORKERS = 2  # rapidfuzz threads for pairwise string scores


def _pairwise(scorer: Any, a: list[str], b: list[str], workers: int = WORKERS) -> np.ndarray:
    if not a:
        return np.zeros(0, dtype=np.float64)
    return np.asarray(process.cpdist(a, b, scorer=scorer, workers=workers), dtype=np.float64)


def _take(strings: np.ndarray, idx: np.ndarray) -> list[str]:
    return list(strings[idx])


def _levels(f: _Frame, i: np.ndarray, j: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Comparison levels (pairs x comparisons; -1 = null) and a per-pair term-frequency log2 adjustment."""
    n = i.size
    levels = np.full((n, len(COMPARISONS)), -1, dtype=np.int8)
    tf_adj = np.zeros(n, dtype=np.float64)
    col = {name: k for k, name in enumerate(COMPARISONS)}

    # name
    ki, kj = f.name_key[i], f.name_key[j]
    present = (ki >= 0) & (kj >= 0)
    key_eq = present & (ki == kj)
    chars_eq = (f.name_chars[i] == f.name_chars[j]) & (f.name_chars[i] >= 0)
    lv = np.full(n, -1, dtype=np.int8)
    lv[present] = 5
    sel = np.flatnonzero(present & ~key_eq)
    if sel.size:
        a1, a2 = _take(f.tok_a, i[sel]), _take(f.tok_b, i[sel])
        b1, b2 = _take(f.tok_a, j[sel]), _take(f.tok_b, j[sel])
        s11 = _pairwise(JaroWinkler.normalized_similarity, a1, b1)
        s22 = _pairwise(JaroWinkler.normalized_similarity, a2, b2)
        s12 = _pairwise(JaroWinkler.normalized_similarity, a1, b2)
        s21 = _pairwise(JaroWinkler.normalized_similarity, a2, b1)
        one_tok = np.array([not x or not y for x, y in zip(a2, b2, strict=True)])
        straight = np.where(one_tok, np.maximum(s11, s12) * 0.9, (s11 + s22) / 2)
        crossed = np.where(one_tok, np.maximum(s21, s11) * 0.9, (s12 + s21) / 2)
        sim = np.maximum(straight, crossed)
        one_equal = (s11 == 1) | (s22 == 1) | (s12 == 1) | (s21 == 1)
        lv[sel] = np.where(sim >= 0.92, 2, np.where(sim >= 0.80, 3, np.where(one_equal, 4, 5)))
    both_hanzi = f.name_hanzi[i] & f.name_hanzi[j]
    org = f.org[i]
    # org: same core name, legal form may differ; 6: same pinyin, different characters (homophone)
    lv[key_eq] = np.where(chars_eq[key_eq] | org[key_eq], 0, np.where(both_hanzi[key_eq], 6, 1))
    levels[:, col["name"]] = lv

    # id
    di, dj = f.ident[i], f.ident[j]
    present = (di >= 0) & (dj >= 0)
    eq = present & (di == dj)
    lv = np.full(n, -1, dtype=np.int8)
    lv[eq] = 0
    sel = np.flatnonzero(present & ~eq)
    if sel.size:
        dist = _pairwise(DamerauLevenshtein.distance, _take(f.ident_s, i[sel]), _take(f.ident_s, j[sel]))
        both_valid = f.ident_valid[i[sel]] & f.ident_valid[j[sel]]
        lv[sel] = np.where(both_valid, 3, np.where(dist <= 1, 1, np.where(dist <= 2, 2, 4)))
    levels[:, col["id"]] = lv

    # birth date
    bi, bj = f.birth_digits[i], f.birth_digits[j]
    present = (bi[:, 0] >= 0) & (bj[:, 0] >= 0)
    diff = (bi != bj).sum(axis=1)
    swapped = np.all(bi[:, :4] == bj[:, :4], axis=1) & np.all(bi[:, 4:6] == bj[:, 6:8], axis=1)
    swapped &= np.all(bi[:, 6:8] == bj[:, 4:6], axis=1)
    same_year = np.all(bi[:, :4] == bj[:, :4], axis=1)
    lv = np.where(diff == 0, 0, np.where((diff == 1) | swapped, 1, np.where((diff == 2) | same_year, 2, 3)))
    levels[:, col["birth"]] = np.where(present, lv, -1).astype(np.int8)

    # phones: share a mobile / a landline / none; tf from how many records carry the shared number
    pi, pj = f.phones[i], f.phones[j]
    shared_mobile = np.zeros(n, dtype=bool)
    shared_land = np.zeros(n, dtype=bool)
    shared_count = np.full(n, np.iinfo(np.int64).max, dtype=np.int64)
    for a in range(f.MAX_PHONES):
        for b in range(f.MAX_PHONES):
            hit = (pi[:, a] >= 0) & (pi[:, a] == pj[:, b])
            shared_mobile |= hit & f.phone_mobile[i, a]
            shared_land |= hit & ~f.phone_mobile[i, a]
            cnt = f.phone_count[np.where(hit, pi[:, a], 0)]
            shared_count = np.where(hit, np.minimum(shared_count, cnt), shared_count)
    present = (pi[:, 0] >= 0) & (pj[:, 0] >= 0)
    lv = np.where(shared_mobile, 0, np.where(shared_land, 1, 2))
    levels[:, col["phone"]] = np.where(present, lv, -1).astype(np.int8)

    # address
    ai, aj = f.address[i], f.address[j]
    present = (ai >= 0) & (aj >= 0)
    eq = present & (ai == aj)
    same_bld = (f.building[i] >= 0) & (f.building[i] == f.building[j])
    same_street = (f.street[i] >= 0) & (f.street[i] == f.street[j])
    same_district = (f.district[i] >= 0) & (f.district[i] == f.district[j])
    lv = np.full(n, -1, dtype=np.int8)
    lv[present] = 6
    sel = np.flatnonzero(present & ~eq & ~same_bld & ~same_street)
    if sel.size:
        left, right = _take(f.address_s, i[sel]), _take(f.address_s, j[sel])
        sim = np.maximum(
            _pairwise(Indel.normalized_similarity, left, right), _pairwise(fuzz.token_sort_ratio, left, right) / 100
        )
        lv[sel] = np.where(sim >= 0.9, 3, np.where((sim >= 0.75) | same_district[sel], 4, np.where(sim >= 0.55, 5, 6)))
    other_city = (f.city[i] >= 0) & (f.city[j] >= 0) & (f.city[i] != f.city[j])
    lv[present & other_city] = 6
    lv[present & same_street & ~eq] = 2
    lv[present & same_bld & ~eq] = 1
    lv[eq] = 0
    levels[:, col["address"]] = lv

    # email, gender
    ei, ej = f.email[i], f.email[j]
    levels[:, col["email"]] = np.where((ei >= 0) & (ej >= 0), np.where(ei == ej, 0, 1), -1)
    gi, gj = f.gender[i], f.gender[j]
    levels[:, col["gender"]] = np.where((gi >= 0) & (gj >= 0), np.where(gi == gj, 0, 1), -1)

    # term-frequency: log2(tf share of the value) relative to the level's average, applied later
    name_cnt = f.name_tf[np.where(ki >= 0, ki, 0)].astype(np.float64)
    tf_adj[:] = 0.0
    name_lv = levels[:, col["name"]]
    name_tf = np.where(np.isin(name_lv, _TF_COMPARISONS["name"]), name_cnt, 0.0)
    phone_lv = levels[:, col["phone"]]
    phone_tf = np.where(np.isin(phone_lv, _TF_COMPARISONS["phone"]), shared_count.astype(np.float64), 0.0)
    return levels, np.stack([name_tf, phone_tf], axis=1)


def _levels_chunked(f: _Frame, pairs: np.ndarray, chunk: int = 1_000_000) -> tuple[np.ndarray, np.ndarray]:
    """``_levels`` over pairs in chunks, to bound the temporaries of a large run."""
    parts = [_levels(f, pairs[k : k + chunk, 0], pairs[k : k + chunk, 1]) for k in range(0, len(pairs), chunk)]
    if not parts:
        return _levels(f, pairs[:, 0], pairs[:, 1])
    return np.concatenate([p[0] for p in parts]), np.concatenate([p[1] for p in parts])


# ------------------------------------------------------------------------------------ scoring / EM


def _match_weights(model: Model, levels: np.ndarray, tf_counts: np.ndarray | None, n_records: int) -> np.ndarray:
    w = np.full(levels.shape[0], math.log2(model.prior / (1 - model.prior)), dtype=np.float64)
    for k, weights in enumerate(model.weights().values()):
        lv = levels[:, k]
        w += np.where(lv >= 0, weights[np.maximum(lv, 0)], 0.0)
    if tf_counts is not None and n_records > 1:
        for t, (name, tf_levels) in enumerate(_TF_COMPARISONS.items()):
            k = list(COMPARISONS).index(name)
            lv = levels[:, k]
            u = np.asarray((model.u_random or model.u)[name])
            counts = tf_counts[:, t]
            on = np.isin(lv, tf_levels) & (counts > 0)
            if not on.any():
                continue
            # probability that a random record shares this value, vs the level's average u
            u_value = np.maximum(counts[on] / n_records, 1.0 / n_records)
            adj = np.log2(u[lv[on]] / u_value)
            w[on] += np.minimum(adj, _TF_MAX_BOOST)
    return w


#: Agreement levels that count as evidence besides the name (a name alone never merges).
_CORROBORATING = {"id": (0, 1), "birth": (0, 1), "phone": (0, 1), "address": (0, 1, 2, 3), "email": (0,)}
NAME_ONLY_CAP = 0.5


def _corroborated(levels: np.ndarray) -> np.ndarray:
    """True where a pair agrees on something besides the name."""
    names = list(COMPARISONS)
    ok = np.zeros(levels.shape[0], dtype=bool)
    for name, agree in _CORROBORATING.items():
        ok |= np.isin(levels[:, names.index(name)], agree)
    return ok


SEGMENTS = ("individual/name", "individual/other", "organization/name", "organization/other")
_NAME_AGREE = (0, 1, 6)


def _segments(levels: np.ndarray, org: np.ndarray) -> np.ndarray:
    """Segment index per pair: kind x (names agree or not).

    Non-matching candidate pairs differ by segment: with equal names they are namesakes, who rarely
    share an address or a phone; with different names they are mostly households and colleagues,
    who often do. One set of parameters per segment keeps that dependence out of the sums.
    """
    agree = np.isin(levels[:, list(COMPARISONS).index("name")], _NAME_AGREE)
    return org.astype(np.int64) * 2 + (~agree).astype(np.int64)


def _pair_probability(
    model: Model, levels: np.ndarray, tf_counts: np.ndarray | None, n_records: int, org: np.ndarray | None = None
) -> np.ndarray:
    """Match probability per pair; ``org`` marks organization pairs (for the segment models)."""
    prob = _probability(_match_weights(model, levels, tf_counts, n_records))
    if model.segments and org is not None:
        seg = _segments(levels, org)
        for s, name in enumerate(SEGMENTS):
            sub = model.segments.get(name)
            on = seg == s
            if sub is not None and on.any():
                tf_sub = tf_counts[on] if tf_counts is not None else None
                prob[on] = _probability(_match_weights(sub, levels[on], tf_sub, n_records))
    return np.where(_corroborated(levels), prob, np.minimum(prob, NAME_ONLY_CAP))


def _probability(w: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp2(-np.clip(w, -60, 60)))


def _u_from_levels(levels: np.ndarray) -> dict[str, list[float]]:
    u: dict[str, list[float]] = {}
    for k, (name, n_levels) in enumerate(COMPARISONS.items()):
        lv = levels[:, k]
        lv = lv[lv >= 0]
        counts = np.bincount(lv, minlength=n_levels).astype(np.float64) + 0.5
        u[name] = (counts / counts.sum()).tolist()
    return u


def _estimate_u(f: _Frame, rng: np.random.Generator, n_pairs: int) -> dict[bool | None, dict[str, list[float]]]:
    """Level frequencies among random pairs of the same kind: per kind (False: individuals, True:
    organizations) and over both (None)."""
    i_parts, j_parts = [], []
    for flag in (False, True):
        idx = np.flatnonzero(f.org == flag)
        if idx.size < 2:
            continue
        k = max(1, int(n_pairs * idx.size / f.n))
        a, b = rng.choice(idx, size=k), rng.choice(idx, size=k)
        keep = a != b
        i_parts.append(a[keep])
        j_parts.append(b[keep])
    if not i_parts:
        return dict.fromkeys((None, False, True), default_model().u)
    i, j = np.concatenate(i_parts), np.concatenate(j_parts)
    levels, _ = _levels(f, i, j)
    org = f.org[i]
    out: dict[bool | None, dict[str, list[float]]] = {None: _u_from_levels(levels)}
    for flag in (False, True):
        sel = org == flag
        out[flag] = _u_from_levels(levels[sel]) if sel.any() else out[None]
    return out


def _em(
    levels: np.ndarray,
    u_random: dict[str, list[float]],
    labels: np.ndarray,
    iterations: int = 40,
) -> tuple[dict[str, list[float]], dict[str, list[float]], float]:
    """Two-class EM on the candidate pairs for ``m``, ``u`` and the prior.

    ``u`` starts from random pairs; ``labels`` 1/0 fix a pair's posterior (steward decisions), -1 leaves
    it free. Both classes live in candidate-pair space, so the prior is the share of matches among
    candidate pairs and the scores are calibrated for them.
    """
    names = list(COMPARISONS)
    full = np.concatenate([levels, labels[:, None].astype(np.int8)], axis=1).astype(np.int64) + 1
    code = np.zeros(full.shape[0], dtype=np.int64)
    for c in range(full.shape[1]):
        code = code * 16 + full[:, c]
    _, first, counts = np.unique(code, return_index=True, return_counts=True)
    patterns = full[first] - 1
    gam, lab = patterns[:, :-1], patterns[:, -1]
    counts = counts.astype(np.float64)
    start = default_model()
    m = {k: np.asarray(start.m[k], dtype=np.float64) for k in names}
    u = {k: np.asarray(u_random[k], dtype=np.float64) for k in names}
    prior = 0.5
    for _ in range(iterations):
        logit = np.full(len(patterns), math.log(prior / (1 - prior)))
        for c, k in enumerate(names):
            lv = gam[:, c]
            on = lv >= 0
            logit[on] += np.log(m[k][lv[on]] / u[k][lv[on]])
        post = 1.0 / (1.0 + np.exp(-np.clip(logit, -700, 700)))
        post = np.where(lab == 1, 1.0, np.where(lab == 0, 0.0, post))
        w_match, w_non = post * counts, (1.0 - post) * counts
        prior = float(np.clip(w_match.sum() / counts.sum(), 1e-4, 1 - 1e-4))
        for c, k in enumerate(names):
            lv = gam[:, c]
            on = lv >= 0
            sm = np.bincount(lv[on], weights=w_match[on], minlength=COMPARISONS[k]) + 0.5
            su = np.bincount(lv[on], weights=w_non[on], minlength=COMPARISONS[k]) + 0.5
            m[k], u[k] = sm / sm.sum(), su / su.sum()
    return {k: m[k].tolist() for k in names}, {k: u[k].tolist() for k in names}, prior


# ------------------------------------------------------------------------------------------- public


@contextmanager
def _gc_paused() -> Iterator[None]:
    """Pause the cyclic garbage collector: building columns allocates millions of small objects, and
    full collections over a large heap make that quadratic. Nothing here creates reference cycles."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


def _prepare(records: Iterable[tuple[str, Mapping[str, Any]]]) -> tuple[list[str], _Frame]:
    items = sorted(records, key=lambda kv: kv[0])
    keys = [k for k, _ in items]
    if len(set(keys)) != len(keys):
        raise ValueError("record keys must be unique")
    return keys, _Frame([s for _, s in items])


def _decision_labels(
    keys: list[str], pairs: np.ndarray, decisions: Iterable[Decision]
) -> tuple[np.ndarray, list[tuple[int, int, bool]]]:
    pos = {k: n for n, k in enumerate(keys)}
    decided: list[tuple[int, int, bool]] = []
    for d in decisions:
        a, b = pos.get(d.left), pos.get(d.right)
        if a is None or b is None or a == b:
            continue
        decided.append((min(a, b), max(a, b), bool(d.same)))
    labels = np.full(len(pairs), -1, dtype=np.int8)
    if decided and len(pairs):
        n = len(keys)
        code = pairs[:, 0] * np.int64(n) + pairs[:, 1]
        lookup = {a * n + b: same for a, b, same in decided}
        dec_codes = np.fromiter(lookup, dtype=np.int64)
        hit = np.flatnonzero(np.isin(code, dec_codes))
        for h in hit.tolist():
            labels[h] = 1 if lookup[int(code[h])] else 0
    return labels, decided


def _anchor_labels(f: _Frame, pairs: np.ndarray, labels: np.ndarray) -> np.ndarray:
    """Training labels: steward decisions, else two valid IDs (equal: match, different: non-match)."""
    a, b = pairs[:, 0], pairs[:, 1]
    both = f.ident_valid[a] & f.ident_valid[b]
    anchors = np.where(both, (f.ident[a] == f.ident[b]).astype(np.int8), np.int8(-1))
    return np.where(labels >= 0, labels, anchors).astype(np.int8)


MIN_SEGMENT_PAIRS = 2_000  # a smaller segment is scored by the overall parameters
MIN_SEGMENT_LABELS = 50  # ... and so is one without enough labelled pairs of each class to anchor its EM


def _train_frame(
    f: _Frame, pairs: np.ndarray, labels: np.ndarray, seed: int, window: int, levels: np.ndarray | None = None
) -> Model:
    """Model from a frame's candidate pairs (their ``levels`` when already computed).

    Overall parameters, plus one parameter set per segment (kind x names agree) with enough pairs and
    enough labelled pairs (steward decisions, two valid IDs) of both classes.
    """
    rng = np.random.default_rng(seed)
    n_u = min(400_000, max(20_000, 4 * f.n))
    if len(pairs) == 0:
        model = default_model()
        model.u = _estimate_u(f, rng, n_pairs=n_u)[None]
        return model
    if levels is None:
        levels, _ = _levels_chunked(f, pairs)
    anchors = _anchor_labels(f, pairs, labels)
    u_by_kind = _estimate_u(f, rng, n_pairs=n_u)

    def fit(mask: np.ndarray | None, u: dict[str, list[float]]) -> Model:
        sel = slice(None) if mask is None else mask
        m, u_cand, prior = _em(levels[sel], u, anchors[sel])
        return Model(m=m, u=u_cand, u_random=u, prior=prior, window=window, trained_on=f.n)

    model = fit(None, u_by_kind[None])
    seg = _segments(levels, f.org[pairs[:, 0]])
    segments = {}
    for s, name in enumerate(SEGMENTS):
        on = seg == s
        labelled = anchors[on]
        if on.sum() >= MIN_SEGMENT_PAIRS and min((labelled == 1).sum(), (labelled == 0).sum()) >= MIN_SEGMENT_LABELS:
            segments[name] = fit(on, u_by_kind[name.startswith("organization")])
    model.segments = segments or None
    return model


MIN_TRAIN_RECORDS = 200


def train(records: Iterable[tuple[str, Mapping[str, Any]]], decisions: Iterable[Decision] = (), seed: int = 0) -> Model:
    """Estimate a model from records (``(key, std)``) and steward decisions (labelled pairs)."""
    with _gc_paused():
        return _train(records, decisions, seed)


def _train(records: Iterable[tuple[str, Mapping[str, Any]]], decisions: Iterable[Decision], seed: int) -> Model:
    keys, f = _prepare(records)
    window = default_model().window
    pairs = _candidate_pairs(f, window)
    labels, _ = _decision_labels(keys, pairs, decisions)
    if f.n < MIN_TRAIN_RECORDS:
        return default_model()
    return _train_frame(f, pairs, labels, seed, window)


def score(model: Model, left_std: Mapping[str, Any], right_std: Mapping[str, Any]) -> float:
    """Match probability of one pair (symmetric; no term-frequency adjustment)."""
    a, b = sorted([left_std, right_std], key=lambda s: repr(sorted(s.items(), key=lambda kv: kv[0])))
    if (a.get("kind") == "organization") != (b.get("kind") == "organization"):
        return 0.0
    f = _Frame([a, b])
    levels, _ = _levels(f, np.array([0]), np.array([1]))
    return float(_pair_probability(model, levels, None, 2, f.org[:1])[0])


class _Clusters:
    """Union-find whose roots carry their valid identifiers and cannot-link partners."""

    def __init__(self, n: int, ident: np.ndarray, valid: np.ndarray) -> None:
        self.parent = list(range(n))
        self.idents: list[set[int] | None] = [({int(ident[k])} if valid[k] else None) for k in range(n)]
        self.cannot: list[set[int] | None] = [None] * n

    def find(self, x: int) -> int:
        parent = self.parent
        root = x
        while parent[root] != root:
            root = parent[root]
        while parent[x] != root:
            parent[x], x = root, parent[x]
        return root

    def conflict(self, ra: int, rb: int) -> bool:
        ia, ib = self.idents[ra], self.idents[rb]
        if ia and ib and ia != ib and not (ia & ib):
            return True
        ca, cb = self.cannot[ra], self.cannot[rb]
        if ca and any(self.find(x) == rb for x in ca):
            return True
        return bool(cb and any(self.find(x) == ra for x in cb))

    def union(self, ra: int, rb: int) -> None:
        if ra == rb:
            return
        if ra > rb:
            ra, rb = rb, ra
        self.parent[rb] = ra
        for attr in (self.idents, self.cannot):
            a, b = attr[ra], attr[rb]
            if b:
                attr[ra] = (a | b) if a else set(b)
            attr[rb] = None


def match(
    records: Iterable[tuple[str, Mapping[str, Any]]],
    decisions: Iterable[Decision] = (),
    model: Model | None = None,
    seed: int = 0,
) -> MatchResult:
    """Cluster records (``(key, std)``); steward decisions are always obeyed."""
    with _gc_paused():
        return _match(records, decisions, model, seed)


def _match(
    records: Iterable[tuple[str, Mapping[str, Any]]], decisions: Iterable[Decision], model: Model | None, seed: int
) -> MatchResult:
    keys, f = _prepare(records)
    decisions = list(decisions)
    window = model.window if model else default_model().window
    pairs = _candidate_pairs(f, window)
    labels, decided = _decision_labels(keys, pairs, decisions)
    if len(pairs):
        levels, tf_counts = _levels_chunked(f, pairs)
        if model is None:
            model = (
                _train_frame(f, pairs, labels, seed, window, levels) if f.n >= MIN_TRAIN_RECORDS else default_model()
            )
        prob = _pair_probability(model, levels, tf_counts, f.n, f.org[pairs[:, 0]])
    else:
        model = model or default_model()
        prob = np.zeros(0)
    prob = np.where(labels == 1, 1.0, np.where(labels == 0, 0.0, prob))

    cl = _Clusters(f.n, f.ident, f.ident_valid)
    for a, b, same in decided:
        if same:
            cl.union(cl.find(a), cl.find(b))
    for a, b, same in decided:
        if not same:
            ra, rb = cl.find(a), cl.find(b)
            for x, y in ((ra, b), (rb, a)):
                cl.cannot[x] = (cl.cannot[x] or set()) | {y}
    order = np.argsort(-prob, kind="stable")
    accepted = order[prob[order] >= model.link_threshold]
    links: list[Pair] = []
    refused: list[int] = []
    for p in accepted.tolist():
        a, b = int(pairs[p, 0]), int(pairs[p, 1])
        ra, rb = cl.find(a), cl.find(b)
        if ra == rb:
            links.append((keys[a], keys[b], float(prob[p])))
            continue
        if cl.conflict(ra, rb):
            refused.append(p)
            continue
        cl.union(ra, rb)
        links.append((keys[a], keys[b], float(prob[p])))
    roots = np.fromiter((cl.find(x) for x in range(f.n)), dtype=np.int64, count=f.n)
    clusters = {keys[x]: keys[int(roots[x])] for x in range(f.n)}  # root is the smallest index = smallest key
    band = np.flatnonzero((prob >= model.review_threshold) & (prob < model.link_threshold))
    band = np.concatenate([band, np.asarray(refused, dtype=np.int64)])
    review = [
        (keys[int(pairs[p, 0])], keys[int(pairs[p, 1])], float(prob[p]))
        for p in band.tolist()
        if labels[p] < 0 and roots[pairs[p, 0]] != roots[pairs[p, 1]]
    ]
    review.sort(key=lambda t: -t[2])
    return MatchResult(clusters=clusters, links=links, review=review, model=model)
