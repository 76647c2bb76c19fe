import argparse

import pytest

from pipeline import cli
from pipeline.cli import simulator
from tests.conftest import REPO, repo_params

EXPECTED = "--rate-limit: expected N/SECONDS such as 200/60 (or 0 to turn it off), got"


@pytest.mark.parametrize(("value", "message"), [
    # A bare count would keep params.yaml's window without saying so: 100 per whatever it is.
    ("100", f"{EXPECTED} '100': how many requests per how many seconds"),
    ("100/", f"{EXPECTED} '100/'"),
    ("/60", f"{EXPECTED} '/60'"),
    ("a/60", f"{EXPECTED} 'a/60'"),
    ("100/x", f"{EXPECTED} '100/x'"),
    ("1.5/60", f"{EXPECTED} '1.5/60'"),
    ("-1/60", "--rate-limit N: expected a non-negative integer, got -1"),
    ("100/0", "--rate-limit N/SECONDS: expected a number of seconds above 0, at most 86400, got 0.0"),
    ("100/nan", "--rate-limit N/SECONDS: expected a number of seconds above 0, at most 86400, got nan"),
])
def test_serve_rejects_a_rate_limit_not_of_the_form_n_per_seconds_in_one_line(value, message, capsys, monkeypatch):
    def served(*args, **kwargs):  # accepted: it would serve until interrupted
        raise AssertionError(f"--rate-limit {value} accepted")

    monkeypatch.setattr(simulator, "serve", served)
    assert cli.main(["simulator", "serve", "--params", str(REPO / "params.yaml"), f"--rate-limit={value}"]) == 2
    assert capsys.readouterr().err == f"igfake simulator: error: {message}\n"


def _faults(rate_limit: str):
    args = argparse.Namespace(rate_limit=rate_limit, fault_seed=None, slow_seconds=None, login_required_after=None,
                              checkpoint_required_after=None, **dict.fromkeys(simulator._RATES))
    return simulator.faults_from(args, repo_params().simulator.faults)


@pytest.mark.parametrize(("value", "requests", "window"), [
    ("200/60", 200, 60.0), ("2/0.5", 2, 0.5), ("0/60", 0, 60.0),
])
def test_serve_takes_n_per_seconds(value, requests, window):
    faults = _faults(value)
    assert (faults.rate_limit_requests, faults.rate_limit_window_seconds) == (requests, window)


def test_a_bare_zero_turns_the_rate_limit_off_and_keeps_the_window():
    base = repo_params().simulator.faults
    faults = _faults("0")
    assert (faults.rate_limit_requests, faults.rate_limit_window_seconds) == (0, base.rate_limit_window_seconds)
