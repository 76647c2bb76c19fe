"""``igfake simulator serve``: the simulated Instagram, standalone, for a crawler or a person to poke at."""

from __future__ import annotations

import argparse
import time

from pipeline import paths
from pipeline.instagram.server import serve
from pipeline.instagram.world import World
from pipeline.params import load_section


def add_arguments(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="action", required=True, metavar="ACTION")
    serve_parser = sub.add_parser("serve", help="serve the simulated Instagram over HTTP until interrupted")
    serve_parser.add_argument("--host", default="127.0.0.1")
    serve_parser.add_argument("--port", type=int, default=0, help="0 picks a free port")
    serve_parser.add_argument("--params", default=str(paths.PARAMS),
                              help="params.yaml whose simulator and crawl.seed_accounts define the world")
    serve_parser.add_argument("--seed", type=int, help="override simulator.seed")
    serve_parser.add_argument("--accounts-per-seed", type=int, help="override simulator.accounts_per_seed")


def run(args: argparse.Namespace) -> int:
    sim = load_section("simulator", args.params)
    crawl = load_section("crawl", args.params)
    world = World(seed=sim.seed if args.seed is None else args.seed, seed_usernames=crawl.seed_accounts,
                  accounts_per_seed=args.accounts_per_seed or sim.accounts_per_seed,
                  mistake_rate=sim.annotator_mistake_rate)
    with serve(world, args.host, args.port) as server:
        print(f"simulated Instagram on {server.base_url} (seed accounts: {', '.join(crawl.seed_accounts)})",
              flush=True)
        while True:
            time.sleep(3600)


COMMAND = ("simulated Instagram: `igfake simulator serve --port N`", add_arguments, run)
