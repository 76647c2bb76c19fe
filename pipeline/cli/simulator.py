"""``igfake simulator``: the simulated Instagram, standalone.

``serve`` runs it for a crawler or a person to poke at; its world and faults come from ``params.yaml``
(``simulator`` and ``crawl.seed_accounts``), every fault overridable on the command line, e.g.
``--server-error-rate 0.1 --rate-limit 100/60``. ``export`` writes the world's profiles to a file: in the
article's labelled format (``--format legacy``, the default), docs/labelling.md's "article's own setup" runs
end to end on a fresh clone.
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import time
from pathlib import Path

from pipeline.core import atomic, paths
from pipeline.core.errors import ParamsError
from pipeline.core.params import FaultParams, load, override
from pipeline.instagram.server import serve
from pipeline.instagram.sources import world_for
from pipeline.labelling.formats import legacy_dump

EXPORT_FORMATS = ("legacy", "jsonl")
_RATES = ("server_error_rate", "reset_rate", "malformed_rate", "slow_rate")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="action", required=True, metavar="ACTION")
    serve_parser = sub.add_parser("serve", help="serve the simulated Instagram over HTTP until interrupted")
    serve_parser.add_argument("--host", default="127.0.0.1")
    serve_parser.add_argument("--port", type=int, default=0, help="0 picks a free port")
    serve_parser.add_argument("--params", default=str(paths.PARAMS),
                              help="params.yaml whose simulator and crawl.seed_accounts define the world")
    serve_parser.add_argument("--seed", type=int, help="override simulator.seed")
    serve_parser.add_argument("--accounts-per-seed", type=int, help="override simulator.accounts_per_seed")
    faults = serve_parser.add_argument_group("faults (override simulator.faults)")
    faults.add_argument("--fault-seed", type=int, help="seed of the fault draws")
    for name in _RATES:
        faults.add_argument(f"--{name.replace('_', '-')}", type=float, metavar="SHARE",
                            help=f"share of requests answered with this fault ({name})")
    faults.add_argument("--slow-seconds", type=float, help="how slow a slow answer is")
    faults.add_argument("--rate-limit", metavar="N/SECONDS",
                        help="answer 429 beyond N requests per window of SECONDS, e.g. 200/60; 0 turns it off")
    faults.add_argument("--login-required-after", type=int, metavar="N", help="403 login_required after N requests")
    faults.add_argument("--checkpoint-required-after", type=int, metavar="N",
                        help="400 checkpoint_required after N requests")
    serve_parser.add_argument("--session-id", help="require this sessionid cookie (else 403 login_required)")
    export_parser = sub.add_parser("export", help="write the simulated world's profiles to a file, e.g. in the "
                                                  "article's labelled format")
    export_parser.add_argument("--format", choices=EXPORT_FORMATS, default="legacy",
                               help="legacy: one JSON object keyed by pk whose records carry is_authentic, the "
                                    "annotator's label (the article's dump: a crawl and its labels in one file); "
                                    "jsonl: user-info records, one per line, unlabelled (a crawl dump)")
    export_parser.add_argument("--output", type=Path, default=paths.LABELS_DIR / "article.json",
                               help="where to write it (default: data/labels/article.json)")
    export_parser.add_argument("--params", default=str(paths.PARAMS),
                               help="params.yaml whose simulator and crawl.seed_accounts define the world")
    population_parser = sub.add_parser("population", help="draw N user-info records from the simulated world to "
                                                          "Parquet, without HTTP (data to score at scale)")
    population_parser.add_argument("rows", type=int, help="how many records")
    population_parser.add_argument("output", type=Path, help="a .parquet file, or a directory of parts with "
                                                             "--rows-per-file")
    population_parser.add_argument("--seed", type=int, help="override simulator.seed")
    population_parser.add_argument("--rows-per-file", type=int, default=0,
                                   help="write a directory of Parquet parts of this many rows (default: one file)")
    population_parser.add_argument("--params", default=str(paths.PARAMS),
                                   help="params.yaml whose simulator section defines the world")


def _option(name: str) -> str:
    return f"--{name.replace('_', '-')}"


def faults_from(args: argparse.Namespace, base: FaultParams) -> FaultParams:
    """``base`` (from params.yaml) with the command line's overrides, each checked as params.yaml's would be."""
    fields = (*_RATES, "slow_seconds", "login_required_after", "checkpoint_required_after")
    changes = {name: getattr(args, name) for name in fields if getattr(args, name) is not None}
    names = {name: _option(name) for name in fields} | {"seed": "--fault-seed"}
    if args.fault_seed is not None:
        changes["seed"] = args.fault_seed
    if args.rate_limit is not None:
        count, slash, window = args.rate_limit.partition("/")
        expected = f"--rate-limit: expected N/SECONDS such as 200/60 (or 0 to turn it off), got {args.rate_limit!r}"
        # A bare N would keep params.yaml's window: 100 requests per who knows how long. Only 0 (off) needs none.
        if not slash and count.strip() != "0":
            raise ParamsError(f"{expected}: how many requests per how many seconds")
        try:
            changes["rate_limit_requests"] = int(count)
            if slash:
                changes["rate_limit_window_seconds"] = float(window)
        except ValueError:
            raise ParamsError(expected) from None
        names |= {"rate_limit_requests": "--rate-limit N", "rate_limit_window_seconds": "--rate-limit N/SECONDS"}
    return override(base, names, **changes)


def run(args: argparse.Namespace) -> int:
    return {"export": export, "population": population, "serve": serve_world}[args.action](args)


def population(args: argparse.Namespace) -> int:
    from pipeline.instagram import population as population_lib

    if args.rows < 0:
        raise ParamsError(f"rows: expected a number of records, at least 0, got {args.rows}")
    if args.rows_per_file < 0:
        raise ParamsError(f"--rows-per-file: expected at least 1 (or 0 for one file), got {args.rows_per_file}")
    if args.output.is_dir() and not args.rows_per_file:
        raise ParamsError(f"{args.output}: is a directory; name a .parquet file, or pass --rows-per-file")
    if args.output.is_file() and args.rows_per_file:
        raise ParamsError(f"{args.output}: is a file; --rows-per-file writes a directory of parts")
    sim = load(args.params).simulator
    seed = sim.seed if args.seed is None else args.seed
    started = time.perf_counter()
    files = population_lib.write(args.output, args.rows, seed, sim.annotator_mistake_rate, args.rows_per_file)
    print(f"{args.rows} simulated profiles (seed {seed}) -> {args.output} ({len(files)} file(s), "
          f"{time.perf_counter() - started:.1f} s)")
    return 0


def export(args: argparse.Namespace) -> int:
    params = load(args.params)
    sim, crawl = params.simulator, params.crawl
    world = world_for(sim, crawl.seed_accounts)
    profiles = [world.profiles[pk] for pk in sorted(world.profiles)]
    if args.format == "legacy":
        text = legacy_dump((p.user, p.label) for p in profiles)
    else:
        text = "".join(atomic.jsonl_line(p.user) for p in profiles)
    atomic.write_text(args.output, text)
    print(f"{len(profiles)} profiles of the simulated world (seed {sim.seed}) -> {args.output} ({args.format})")
    return 0


def serve_world(args: argparse.Namespace) -> int:
    if not 0 <= args.port <= 65535:
        raise ParamsError(f"--port: expected a port from 0 to 65535 (0 picks a free one), got {args.port}")
    params = load(args.params)
    sim, crawl = params.simulator, params.crawl
    overrides = {name: value for name, value in (("seed", args.seed), ("accounts_per_seed", args.accounts_per_seed))
                 if value is not None}
    sim = override(sim, {"seed": "--seed", "accounts_per_seed": "--accounts-per-seed"}, **overrides)
    faults = faults_from(args, sim.faults)
    world = world_for(sim, crawl.seed_accounts)
    with contextlib.ExitStack() as stack:
        try:
            server = stack.enter_context(serve(world, args.host, args.port, faults=faults,
                                               session_id=args.session_id))
        except OSError as exc:  # a busy or privileged port, an unknown host
            raise ParamsError(f"--host {args.host} --port {args.port}: cannot listen there: "
                              f"{exc.strerror or exc}") from None
        hostile = {k: v for k, v in dataclasses.asdict(faults).items() if v and k != "seed"}
        print(f"simulated Instagram on {server.base_url} (seed accounts: {', '.join(crawl.seed_accounts)}; "
              f"faults: {hostile or 'none'})", flush=True)
        while True:
            time.sleep(3600)


COMMAND = (add_arguments, run)  # its help: pipeline.cli.COMMANDS
