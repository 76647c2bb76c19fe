"""Small, valid tables of both schemas, made the way the pipeline makes them: a simulated world's profiles
joined to its annotator's labels (:func:`pipeline.labelling.table.join`), then featurised."""

from __future__ import annotations

import pyarrow as pa
import pytest

from pipeline import features
from pipeline.instagram.records import normalize_user
from pipeline.instagram.world import World
from pipeline.labelling.table import join

ROWS = 12


def labelled_table() -> pa.Table:
    world = World(seed=3, seed_usernames=("seed.account",), accounts_per_seed=ROWS, mistake_rate=0.1)
    users = [normalize_user(world.profiles[pk].user) for pk in sorted(world.profiles)]
    truths = {pk: p.truth for pk, p in world.profiles.items()}
    table, _ = join(users, world.labels(), {}, source="simulator", truths=truths)
    return table


@pytest.fixture(scope="module")
def labelled() -> pa.Table:
    table = labelled_table()
    assert table.num_rows == ROWS and set(table.column("label").to_pylist()) == {0, 1}
    return table


@pytest.fixture(scope="module")
def featurized(labelled: pa.Table) -> pa.Table:
    return features.featurize(labelled, "seed16")
