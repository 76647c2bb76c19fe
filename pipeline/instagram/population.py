"""Millions of simulated user-info records, straight from the simulated world, fast: data to score at scale.

:class:`~pipeline.instagram.world.World` builds a few thousand profiles one at a time, which is right for
a crawl and far too slow for the 10 million rows a batch-scoring benchmark reads. This draws ``n``
profiles from the same world a chunk at a time: every number from the world's own calibrated marginals
and copula (:meth:`World._draw_class`, already vectorised), the annotator model read backwards and the
kind of account as :class:`World` decides them, and each username, full name and biography from the
world's own text generators (``_username``, ``_full_name``, ``_biography``). Those are called once per
variant of each (kind of text, length, ...) key, a few dozen variants each, and rows take a variant at
random: the texts follow the world's, at a cost that does not grow with ``n``.

Seeded: the same ``(seed, n)`` gives the same rows; a chunk's rows depend on the seed and the chunk's
index only. pks count up from :data:`FIRST_PK`, outside the world's range, so they are unique.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from pipeline.core import atomic
from pipeline.core.vocabulary import AUTHENTIC, CLASSES, FAKE
from pipeline.instagram import world as world_lib
from pipeline.instagram.world import UNSURE_MEDIA, World

FIRST_PK = 2 * 10**10
CHUNK_ROWS = 131_072  # rows drawn at a time (and a Parquet row group)
VARIANTS = 48  # texts drawn per key: enough that features vary within a key, cheap whatever n is
_KINDS = ("person", "creator", "business", "farm", "spam", "polished")


def _truth_and_kind(rng: np.random.Generator, label: np.ndarray, v: dict[str, np.ndarray],
                    mistake_rate: float) -> tuple[np.ndarray, np.ndarray]:
    """``World._truth_behind`` and ``World._record``'s choice of kind, for whole columns."""
    mistake = rng.random(len(label)) < mistake_rate
    hard = (v["media_count"] < UNSURE_MEDIA) & ~v["has_highlight_reels"] & (v["follower_count"] < v["following_count"])
    unsure = ~mistake & (label == AUTHENTIC) & hard & (rng.random(len(label)) < 0.5)
    truth = np.where(mistake, np.where(label == AUTHENTIC, FAKE, AUTHENTIC), np.where(unsure, FAKE, label))
    kind = np.where(
        unsure, "polished",
        np.where(truth == AUTHENTIC,
                 np.where(v["is_potential_business"], "business", np.where(v["follower_count"] > 10_000, "creator",
                                                                          "person")),
                 np.where(v["external_url"] | (v["biography_len"] > 40), "spam", "farm")))
    return truth, kind


class _Texts:
    """The world's text generators, called :data:`VARIANTS` times per key and then picked from."""

    def __init__(self, rng: np.random.Generator, make: Callable[..., str]) -> None:
        self.rng = rng
        self.make = make
        self.pools: dict[tuple, list[str]] = {}

    def pick(self, keys: list[tuple]) -> pa.Array:
        """One text per row for ``keys`` (one key tuple per row)."""
        unique = {}
        codes = np.empty(len(keys), np.int64)
        for i, key in enumerate(keys):
            codes[i] = unique.setdefault(key, len(unique))
        choice = self.rng.integers(0, VARIANTS, size=len(keys))
        flat: list[str] = []
        for key in unique:
            if key not in self.pools:
                self.pools[key] = [self.make(self.rng, *key) for _ in range(VARIANTS)]
            flat += self.pools[key]
        return pc.take(pa.array(flat, pa.string()), pa.array(codes * VARIANTS + choice))


def chunks(n: int, seed: int, mistake_rate: float, chunk_rows: int = CHUNK_ROWS) -> Iterator[pa.Table]:
    """``n`` user-info records as Arrow tables of ``chunk_rows`` rows (the last shorter), in pk order."""
    world = World(seed=seed, seed_usernames=("population",), accounts_per_seed=0, mistake_rate=mistake_rate)
    cal = world.calibration
    p_auth = cal[AUTHENTIC]["n"] / (cal[AUTHENTIC]["n"] + cal[FAKE]["n"])
    texts_rng = np.random.default_rng([seed, 1])
    usernames = _Texts(texts_rng, world_lib._username)
    full_names = _Texts(texts_rng, world_lib._full_name)
    biographies = _Texts(texts_rng, world_lib._biography)
    for index, start in enumerate(range(0, n, chunk_rows)):
        m = min(chunk_rows, n - start)
        rng = np.random.default_rng([seed, 0, index])
        label = np.where(rng.random(m) < p_auth, AUTHENTIC, FAKE)
        v: dict[str, np.ndarray] = {}
        for cls in CLASSES:
            idx = np.flatnonzero(label == cls)
            for key, values in world._draw_class(rng, cls, len(idx)).items():
                v.setdefault(key, np.empty(m, dtype=values.dtype))[idx] = values
        _, kind = _truth_and_kind(rng, label, v, mistake_rate)
        spam = kind == "spam"
        yield _table(start, m, v, kind, {
            "username": usernames.pick(list(zip(v["username_regex_type"].tolist(), v["username_len"].tolist(),
                                                v["username_digits"].tolist(), strict=True))),
            "full_name": full_names.pick(list(zip(v["full_name_len"].tolist(), spam.tolist(), strict=True))),
            "biography": biographies.pick(list(zip(v["biography_len"].tolist(), spam.tolist(), strict=True))),
        })


def _table(start: int, m: int, v: dict[str, np.ndarray], kind: np.ndarray, text: dict[str, pa.Array]) -> pa.Table:
    """The rows as the API's user-info records (World._record's fields), unset archive settings null."""
    pk = pa.array(np.arange(FIRST_PK + start, FIRST_PK + start + m, dtype=np.int64))
    pk_id = pc.cast(pk, pa.string())
    handle = pc.replace_substring_regex(text["username"], r"[._]", "")
    archive = pa.array(v["reel_auto_archive"].astype(str))
    columns: dict[str, Any] = {
        "pk": pk,
        "pk_id": pk_id,
        "username": text["username"],
        "full_name": text["full_name"],
        "biography": text["biography"],
        "external_url": pc.if_else(pa.array(v["external_url"]),
                                   pc.binary_join_element_wise("https://", handle, ".example", ""), ""),
        "follower_count": pa.array(v["follower_count"], pa.int64()),
        "following_count": pa.array(v["following_count"], pa.int64()),
        "following_tag_count": pa.array(v["following_tag_count"], pa.int64()),
        "media_count": pa.array(v["media_count"], pa.int64()),
        "usertags_count": pa.array(v["usertags_count"], pa.int64()),
        "is_private": pa.array(v["is_private"]),
        "is_verified": pa.array(v["is_verified"]),
        "has_anonymous_profile_picture": pa.array(v["has_anonymous_profile_picture"]),
        "profile_pic_url": pc.binary_join_element_wise("https://scontent.cdninstagram.example/", pk_id, ".jpg", ""),
        "has_highlight_reels": pa.array(v["has_highlight_reels"]),
        "is_business": pa.array(kind == "business"),
        "is_potential_business": pa.array(v["is_potential_business"]),
        "account_type": pa.array(np.where(kind == "business", 2, np.where(kind == "creator", 3, 1)), pa.int8()),
        "reel_auto_archive": pc.if_else(pc.equal(archive, "unset"), pa.scalar(None, pa.string()), archive),
    }
    return pa.table(columns)


def write(output: Path, n: int, seed: int, mistake_rate: float, rows_per_file: int = 0) -> list[Path]:
    """``n`` records to Parquet, atomically: one file (``rows_per_file`` 0), or a directory of
    ``part-<i>.parquet`` files of ``rows_per_file`` rows each (the same rows either way); row groups of
    at most :data:`CHUNK_ROWS` rows."""
    output = Path(output)
    limit = rows_per_file if rows_per_file > 0 else max(n, 1)
    with (atomic.atomic_path(output, suffix=".parquet") if rows_per_file <= 0
          else atomic.atomic_directory(output)) as tmp:
        names = _write_parts(chunks(n, seed, mistake_rate), limit,
                             (lambda i: tmp) if rows_per_file <= 0 else (lambda i: tmp / f"part-{i:05d}.parquet"))
    return [output] if rows_per_file <= 0 else [output / p.name for p in names]


def _write_parts(stream: Iterator[pa.Table], rows_per_file: int, name: Callable[[int], Path]) -> list[Path]:
    """The stream's rows cut into files of ``rows_per_file`` rows; the files' paths."""
    writer, rows, paths = None, 0, []
    try:
        for table in stream:
            while table.num_rows:
                if writer is None:
                    paths.append(name(len(paths)))
                    writer = pq.ParquetWriter(paths[-1], table.schema)
                take = min(table.num_rows, rows_per_file - rows)
                writer.write_table(table.slice(0, take), row_group_size=CHUNK_ROWS)
                table, rows = table.slice(take), rows + take
                if rows == rows_per_file:
                    writer.close()
                    writer, rows = None, 0
    finally:
        if writer is not None:
            writer.close()
    return paths
