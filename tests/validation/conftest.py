"""Worlds of the simulator, featurized in-process: the data the drift tests compare (a second a world)."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable

import pyarrow as pa
import pytest

from pipeline import features
from pipeline.core.params import DriftParams
from pipeline.core.vocabulary import LABEL_VALUE
from pipeline.instagram.world import World
from tests.conftest import repo_params

SEEDS = ("insights.owner", "maya.lindqvist", "jonas_becker")


def world_table(seed: int = 2019, authentic_share: float | None = None,
                edit: Callable[[dict], None] | None = None, labelled: bool = True) -> pa.Table:
    """Every profile of a crawl-sized world (as params.yaml's simulator draws it) as a features table."""
    sim = repo_params().simulator
    world = World(seed, SEEDS, sim.accounts_per_seed, sim.annotator_mistake_rate, authentic_share=authentic_share)
    profiles = sorted(world.profiles.values(), key=lambda p: p.pk)
    users = [dict(p.user) for p in profiles]
    for user in users:
        if edit:
            edit(user)
    table = features.compute(users)
    if labelled:
        table = table.add_column(0, "label", pa.array([LABEL_VALUE[p.label] for p in profiles], pa.int8()))
    return table.add_column(0, "pk", pa.array([p.pk for p in profiles], pa.int64()))


@pytest.fixture(scope="session")
def reference() -> pa.Table:
    return world_table()


def drift_params(**changes: object) -> DriftParams:
    return dataclasses.replace(repo_params().drift, **changes)
