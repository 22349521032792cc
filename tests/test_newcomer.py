"""What a new user meets first (issue 28): the server's command line and the client's
manners. Each test failed before its fix."""

from __future__ import annotations

import os
import socket
import subprocess
import sys

import pytest

from conftest import start_server


def _serve(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "service", "serve", "--host", "127.0.0.1",
                           *args], capture_output=True, text=True, timeout=90,
                          env={**os.environ, **(env or {})})


def _last_line(run: subprocess.CompletedProcess) -> str:
    return run.stderr.strip().splitlines()[-1]


def test_a_port_in_use_is_an_error_naming_it() -> None:
    """Before: a second server on a served port started and took part of the traffic."""
    first = start_server("--backend", "cpu")
    try:
        run = _serve("--port", str(first.port), "--metrics-port", "-1")
        assert run.returncode != 0
        assert f":{first.port}" in _last_line(run) and "--port" in _last_line(run)
    finally:
        first.stop()


def test_a_metrics_port_in_use_is_one_line_naming_the_flag() -> None:
    """Before: a 39-line traceback naming neither the port nor the flag."""
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        run = _serve("--port", "0", "--metrics-port", str(port))
    assert run.returncode != 0 and "Traceback" not in run.stderr
    assert str(port) in _last_line(run) and "--metrics-port" in _last_line(run)


def test_bad_values_say_where_they_came_from() -> None:
    run = _serve(env={"SOLVERD_PORT": "abc"})
    assert run.returncode == 2 and "Traceback" not in run.stderr
    assert "SOLVERD_PORT" in run.stderr and "'abc'" in run.stderr


def test_integers_in_the_readmes_notation() -> None:
    from service.config import build_parser, config_from_args

    args = build_parser().parse_args(["serve", "--max-rows", "5e7", "--max-nonzeros",
                                      "500_000_000"])
    limits = config_from_args(args).limits
    assert (limits.max_rows, limits.max_nonzeros) == (50_000_000, 500_000_000)
    with pytest.raises(SystemExit):
        build_parser().parse_args(["serve", "--max-rows", "5.5"])


def test_every_flag_has_help_with_its_default() -> None:
    """Before: 31 flags with no description and no default."""
    from service.config import HELP, build_parser

    serve = build_parser()._subparsers._group_actions[0].choices["serve"]  # type: ignore
    flags = [a for a in serve._actions if a.dest != "help"]
    assert {a.dest for a in flags} == set(HELP)
    for action in flags:
        assert action.help and "(default: " in action.help, action.dest
        assert len(action.help) > len("(default: x)") + 10, action.dest


def test_no_metrics_says_off() -> None:
    """Before: --metrics-port -1 printed 'metrics :0'."""
    server = subprocess.Popen([sys.executable, "-u", "-m", "service", "serve", "--host",
                               "127.0.0.1", "--port", "0", "--metrics-port", "-1"],
                              stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    try:
        assert server.stdout is not None
        line = server.stdout.readline()
        assert "serving on" in line and "metrics off" in line
    finally:
        server.terminate()
        server.wait(30)
