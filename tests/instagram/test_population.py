"""Simulated populations: seeded, valid user-info records, distributed as the simulated world's profiles."""

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from pipeline import cli, features
from pipeline.instagram import population
from pipeline.instagram.records import normalize_batch, normalize_user
from pipeline.instagram.world import World


def test_same_seed_same_rows_other_seed_other_rows_and_pks_unique():
    a = pa.concat_tables(population.chunks(3000, seed=5, mistake_rate=0.03, chunk_rows=1000))
    b = pa.concat_tables(population.chunks(3000, seed=5, mistake_rate=0.03, chunk_rows=1000))
    c = pa.concat_tables(population.chunks(3000, seed=6, mistake_rate=0.03, chunk_rows=1000))
    assert a.equals(b) and not a.column("username").equals(c.column("username"))
    assert pc.count_distinct(a.column("pk")).as_py() == 3000


def test_every_record_is_valid_and_the_features_follow_the_worlds():
    table = pa.concat_tables(population.chunks(20_000, seed=2019, mistake_rate=0.03))
    good, bad = normalize_batch(table)
    assert bad == [] and good.num_rows == 20_000
    normalize_user(table.slice(0, 1).to_pylist()[0])  # the row-wise check agrees
    drawn = features.compute_batch(good)
    world = World(seed=2019, seed_usernames=("a", "b", "c"), accounts_per_seed=1000, mistake_rate=0.03)
    reference = features.compute([normalize_user(p.user) for p in world.profiles.values()])
    # Shares and medians of the features against 3000 world profiles: within a few points (sampling noise
    # of 3000 rows is about 1 point on a share).
    for name in ("username_type", "is_private", "is_verified", "has_anonymous_profile_picture", "reel_auto_archive"):
        for value in np.unique(reference.column(name).to_numpy()):
            share = np.mean(drawn.column(name).to_numpy() == value)
            expected = np.mean(reference.column(name).to_numpy() == value)
            assert abs(share - expected) < 0.04, (name, value, share, expected)
    for name in ("username_parts", "full_name_length", "biography_parts", "follower_count", "media_count",
                 "full_name_question_marks"):
        d, r = drawn.column(name).to_numpy(), reference.column(name).to_numpy()
        for q in (0.25, 0.5, 0.9):
            lo, hi = np.quantile(r, [max(q - 0.05, 0), min(q + 0.05, 1)])
            assert lo <= np.quantile(d, q) <= hi, (name, q)


def test_the_command_writes_one_file_or_parts_holding_the_same_rows(tmp_path, capsys):
    assert cli.main(["simulator", "population", "2500", str(tmp_path / "one.parquet"), "--seed", "4"]) == 0
    assert cli.main(["simulator", "population", "2500", str(tmp_path / "parts"), "--seed", "4",
                     "--rows-per-file", "1000"]) == 0
    assert sorted(p.name for p in (tmp_path / "parts").iterdir()) == [
        "part-00000.parquet", "part-00001.parquet", "part-00002.parquet"]
    assert pq.read_table(tmp_path / "parts").equals(pq.read_table(tmp_path / "one.parquet"))
    assert "2500 simulated profiles (seed 4)" in capsys.readouterr().out
    assert cli.main(["simulator", "population", "10", str(tmp_path / "parts")]) == 2
    assert "is a directory" in capsys.readouterr().err
