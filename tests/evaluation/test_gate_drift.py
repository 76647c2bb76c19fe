"""The gate's optional rule no_drift: off, the verdict is the same bytes whatever the drift report says."""

from __future__ import annotations

import dataclasses
import json

from pipeline.evaluation import gate
from pipeline.validation import drift
from tests.evaluation.test_gate import ON, run
from tests.validation.conftest import drift_params, world_table


def _report(broken: bool) -> dict:
    edit = (lambda u: u.update(follower_count=0)) if broken else None
    return drift.drift(world_table(), world_table(edit=edit), "seed16", drift_params())


def test_off_the_verdict_is_unchanged_byte_for_byte():
    current, baseline = run(noise_seed=1), run("baseline")
    without = json.dumps(gate.judge(ON, current, baseline, 0.05), sort_keys=True)
    assert json.dumps(gate.judge(ON, current, baseline, 0.05, _report(broken=True)), sort_keys=True) == without


def test_on_drift_fails_the_gate_naming_the_features_and_a_prior_shift_alone_passes():
    on = dataclasses.replace(ON, no_drift=True)
    current, baseline = run(noise_seed=1), run("baseline")
    failed = gate.judge(on, current, baseline, 0.05, _report(broken=True))
    assert not failed["blessed"] and failed["failed"] == ["no_drift"]
    assert gate.why(failed) == ("no_drift: drift; drifted: follower_following_ratio, follower_count; "
                                "authentic share 0.357 -> 0.357 (p=1)")
    mix = drift.drift(world_table(), world_table(authentic_share=0.7), "seed16", drift_params())
    passed = gate.judge(on, current, baseline, 0.05, mix)
    assert passed["blessed"] and passed["rules"][-1]["name"] == "no_drift" and passed["rules"][-1]["status"] == "pass"
    missing = gate.judge(on, current, baseline, 0.05, None)
    assert missing["blessed"] and missing["skipped"] == ["no_drift"]
