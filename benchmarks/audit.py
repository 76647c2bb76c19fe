"""Audit benchmark: how close `igfake audit` comes to the truth, how often its interval holds it, at what cost.

    python benchmarks/audit.py [--accounts-per-share 5]

Simulated accounts (:func:`pipeline.instagram.world.audit_world`) whose followers are labelled authentic
with probability 10, 30, 50, 70 and 90%, ``--accounts-per-share`` of each, with 2,000 to 20,000 followers,
each audited over loopback HTTP exactly as ``igfake audit`` does (same client, same models from
``dvc repro``, ``audit.sample_size`` and ``audit.seed`` from params.yaml). Against the realised share of
each account's followers:

- **MAE**, mean absolute error of the estimated share (goal <= 3 points);
- **coverage** of the 95% interval (goal >= 90%);
- **requests per follower** at 10,000 followers (goal <= 1/25), beside one request per follower.

The goals are checked against the share a person labels authentic (what the models learn, the labels'
meaning); the error against the simulator's hidden truth, which the annotator's blind spots (polished
fakes labelled authentic) put beyond any model trained on labels, is reported beside it.
Writes ``reports/benchmarks/audit.json`` (atomically); exit status 1 if a goal is missed.
"""

from __future__ import annotations

import argparse
import sys
import time

import numpy as np

from pipeline.audit.audit import Models, audit
from pipeline.core import atomic, paths
from pipeline.core.params import Params, load
from pipeline.instagram.server import serve
from pipeline.instagram.sources import client_for
from pipeline.instagram.world import audit_world

SHARES = (0.1, 0.3, 0.5, 0.7, 0.9)
SIZES = (2_000, 5_000, 10_000, 15_000, 20_000)
GOALS = {"mae": 0.03, "coverage": 0.90, "requests_per_follower_at_10000": 1 / 25}
OUT = paths.REPORTS / "benchmarks" / "audit.json"


def one(k: int, share: float, followers: int, models: Models, params: Params) -> dict:
    crawl, mistakes = params.crawl, params.simulator.annotator_mistake_rate
    sample_size, seed = params.audit.sample_size, params.audit.seed
    account = f"audited.{k}"
    world = audit_world(10_000 + k, account, followers, share, mistakes)
    realised = world.shares(account)
    with serve(world) as server:
        client = client_for(crawl, server.base_url)
        started = time.monotonic()
        result = audit(client, account, models, sample_size, seed, crawl.concurrency, crawl.page_size)
        elapsed = time.monotonic() - started
        served = server.total_requests
    e = result.estimate
    return {"share_parameter": share, "followers": followers, "labelled_share": realised["labelled"],
            "truth_share": realised["truth"], "estimate": e.share, "ci95": [e.low, e.high],
            "covered": e.low <= realised["labelled"] <= e.high, "error": e.share - realised["labelled"],
            "error_vs_truth": e.share - realised["truth"], "list_model_share": e.list_share,
            "requests": result.requests, "requests_served": served,
            "requests_per_follower": result.requests / followers,
            "requests_if_one_per_follower": result.naive_requests, "audit_seconds": round(elapsed, 3)}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--accounts-per-share", type=int, default=5)
    args = parser.parse_args()
    params = load()
    models = Models.load(paths.LIST_TFLITE_MODEL, paths.TFLITE_MODEL, paths.AUDIT_CARD, paths.DECISION)
    accounts = []
    for i, share in enumerate(SHARES):
        for j in range(args.accounts_per_share):
            followers = SIZES[(i + j) % len(SIZES)]
            row = one(len(accounts), share, followers, models, params)
            accounts.append(row)
            print(f"share {share:.0%} followers {followers:>6,}: labelled {row['labelled_share']:.3f} "
                  f"estimate {row['estimate']:.3f} [{row['ci95'][0]:.3f}, {row['ci95'][1]:.3f}] "
                  f"{'ok ' if row['covered'] else 'MISS'} {row['requests']} requests", flush=True)
    errors = np.array([a["error"] for a in accounts])
    at_10k = [a["requests_per_follower"] for a in accounts if a["followers"] == 10_000]
    summary = {
        "accounts": len(accounts),
        "sample_size": params.audit.sample_size,
        "mae": float(np.mean(np.abs(errors))),
        "bias": float(np.mean(errors)),
        "max_abs_error": float(np.max(np.abs(errors))),
        "coverage": float(np.mean([a["covered"] for a in accounts])),
        "mean_interval_width": float(np.mean([a["ci95"][1] - a["ci95"][0] for a in accounts])),
        "requests_per_follower_at_10000": float(np.max(at_10k)),
        "naive_requests_per_follower_at_10000": float(np.max([a["requests_if_one_per_follower"] / 10_000
                                                              for a in accounts if a["followers"] == 10_000])),
        "mae_vs_truth": float(np.mean(np.abs([a["error_vs_truth"] for a in accounts]))),
        "mae_list_model_alone": float(np.mean(np.abs([a["list_model_share"] - a["labelled_share"]
                                                      for a in accounts]))),
        "by_share": {f"{s:.1f}": {"mae": float(np.mean([abs(a["error"]) for a in accounts
                                                          if a["share_parameter"] == s])),
                                  "coverage": float(np.mean([a["covered"] for a in accounts
                                                             if a["share_parameter"] == s]))}
                     for s in SHARES},
    }
    met = {"mae": summary["mae"] <= GOALS["mae"], "coverage": summary["coverage"] >= GOALS["coverage"],
           "requests_per_follower_at_10000": summary["requests_per_follower_at_10000"]
           <= GOALS["requests_per_follower_at_10000"]}
    atomic.write_json(OUT, {"summary": summary, "goals": GOALS, "meets_goals": met, "accounts": accounts})
    print(f"MAE {summary['mae'] * 100:.2f} points (bias {summary['bias'] * 100:+.2f}; vs the simulator's truth "
          f"{summary['mae_vs_truth'] * 100:.2f}; list model alone {summary['mae_list_model_alone'] * 100:.2f}), "
          f"95% interval coverage {summary['coverage']:.0%} (mean width {summary['mean_interval_width'] * 100:.1f} "
          f"points), {summary['requests_per_follower_at_10000']:.4f} requests per follower at 10,000 "
          f"(one per follower: {summary['naive_requests_per_follower_at_10000']:.4f})")
    print(f"goals met: {met}; wrote {OUT}")
    return 0 if all(met.values()) else 1


if __name__ == "__main__":
    sys.exit(main())
