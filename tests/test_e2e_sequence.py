"""Tuned SOR sequences over the wire: stateless across replicas, streams, bad state."""

from __future__ import annotations

import asyncio

import numpy as np
import pytest

from solverd import AsyncClient, Client, InvalidArgument

from conftest import start_server
from problems import poisson_2d, relative_residual

BASE = poisson_2d(10)
RNG = np.random.default_rng(9)
SHIFTS = -0.15 + 0.6 * RNG.beta(2, 6, size=40)
RHS = RNG.standard_normal((40, 100))


def system(t: int):
    return BASE + SHIFTS[t] * np.eye(100), RHS[t]


def test_tsallis_sequence_solves_and_returns_state(client: Client) -> None:
    seq = client.sequence(method="sor", tuner="tsallis-inf", rtol=1e-8, seed=1)
    grid = np.linspace(1.0, 1.95, 20)
    for t in range(15):
        a, b = system(t)
        r = seq.solve(a, b)
        assert r.converged and relative_residual(a, r.x, b) <= 1e-8
        assert np.isclose(grid, r.omega).any() and r.best_omega is not None
        assert r.tuned_iterations == r.iterations and not r.capped
        assert r.method == "sor"
    assert isinstance(seq.state, bytes) and len(seq.state) > 100


def test_state_moves_between_replicas(server, client: Client) -> None:
    """20 solves on one replica == 10 there and 10 on another, resumed from the state."""
    other = start_server("--backend", "cpu")
    try:
        whole = client.sequence(method="sor", tuner="tsallis-inf", rtol=1e-8, seed=7)
        omegas_whole = [whole.solve(*system(t)).omega for t in range(20)]
        first = client.sequence(method="sor", tuner="tsallis-inf", rtol=1e-8, seed=7)
        omegas = [first.solve(*system(t)).omega for t in range(10)]
        with Client(other.address) as second_client:
            second = second_client.sequence(method="sor", tuner="tsallis-inf", rtol=1e-8,
                                            state=first.state)
            omegas += [second.solve(*system(t)).omega for t in range(10, 20)]
        assert omegas == omegas_whole
        assert second.state == whole.state
    finally:
        other.stop()


def test_chebcb_with_context(client: Client) -> None:
    seq = client.sequence(method="sor", tuner="chebcb", context_range=(-0.15, 0.45),
                          rtol=1e-8)
    for t in range(10):
        a, b = system(t)
        r = seq.solve(a, b, context=float(SHIFTS[t]))
        assert r.converged and relative_residual(a, r.x, b) <= 1e-8


def test_fixed_omega_and_ssor_cg(client: Client) -> None:
    a, b = system(0)
    r = client.solve(a, b, method="sor", omega=1.6, rtol=1e-8)
    assert r.converged and r.omega == pytest.approx(1.6) and r.method == "sor"
    s = client.solve(a, b, method="ssor_cg", omega=1.4, rtol=1e-8)
    assert s.converged and s.iterations < r.iterations


def test_capped_solves_are_backstopped(client: Client) -> None:
    seq = client.sequence(method="sor", tuner="tsallis-inf", cap=3, rtol=1e-10)
    a, b = system(1)
    r = seq.solve(a, b)
    assert r.capped and r.tuned_iterations == 3
    assert r.converged and relative_residual(a, r.x, b) <= 1e-10


def test_stream_keeps_state_and_reuses_the_matrix(client: Client) -> None:
    a, _ = system(2)
    with client.sequence(method="sor", tuner="tsallis-inf", rtol=1e-8, stream=True) as seq:
        for t in range(12):
            b = RHS[t]
            r = seq.solve(a, b)  # the same A object: sent once, then same_matrix
            assert r.converged and relative_residual(a, r.x, b) <= 1e-8
        state = seq.state
        with pytest.raises(InvalidArgument):  # ends this stream; close() still works
            seq.solve(a, np.ones(7))
    unary = client.sequence(method="sor", tuner="tsallis-inf", rtol=1e-8, state=state)
    assert unary.solve(a, RHS[0]).converged


@pytest.mark.parametrize(("options", "field"), [
    ({"method": "sor", "omega": 2.5}, "omega"),
    ({"method": "cg", "tuner": "tsallis-inf"}, "tuner"),
    ({"method": "sor", "tuner": "chebcb", "omega": 1.2}, "omega"),
    ({"method": "sor", "tuner": "chebcb", "context_range": (1.0, 0.0)}, "context_range"),
    ({"method": "sor", "tuner": "tsallis-inf", "cap": 10**9}, "cap"),
])
def test_bad_sequence_requests(client: Client, options: dict, field: str) -> None:
    a, b = system(0)
    with pytest.raises(InvalidArgument) as info:
        client.solve(a, b, **options)
    assert field in info.value.fields


def test_corrupt_and_forged_state(client: Client) -> None:
    from solverd.v1 import linear_pb2

    seq = client.sequence(method="sor", tuner="tsallis-inf", rtol=1e-8)
    seq.solve(*system(0))
    state = linear_pb2.TunerState.FromString(seq.state)
    state.losses[0] = -1e9
    broken = client.sequence(method="sor", tuner="tsallis-inf", state=state.SerializeToString())
    with pytest.raises(InvalidArgument) as info:
        broken.solve(*system(1))
    assert "tuner_state" in info.value.fields
    with pytest.raises(ValueError):  # not even a TunerState
        client.sequence(method="sor", tuner="tsallis-inf", state=b"\xff\xff\xff")


def test_signed_state_refuses_a_consistent_forgery() -> None:
    from solverd.v1 import linear_pb2

    signed = start_server("--backend", "cpu", env={"SOLVERD_STATE_KEY": "k8s-secret"})
    try:
        with Client(signed.address) as c:
            seq = c.sequence(method="sor", tuner="tsallis-inf", rtol=1e-8)
            seq.solve(*system(0))
            state = linear_pb2.TunerState.FromString(seq.state)
            assert len(state.signature) == 32
            assert c.sequence(method="sor", tuner="tsallis-inf",
                              state=seq.state).solve(*system(1)).converged
            state.losses[3] += 1.0  # still a consistent state, but not the server's
            forged = c.sequence(method="sor", tuner="tsallis-inf",
                                state=state.SerializeToString())
            with pytest.raises(InvalidArgument, match="signature"):
                forged.solve(*system(1))
    finally:
        signed.stop()


def test_tuner_metrics_move(server, client: Client) -> None:
    before = server.metric("solverd_tuner_omega_count", tuner="tsallis-inf")
    seq = client.sequence(method="sor", tuner="tsallis-inf", rtol=1e-8)
    for t in range(3):
        seq.solve(*system(t))
    assert server.metric("solverd_tuner_omega_count", tuner="tsallis-inf") == before + 3
    assert server.metric("solverd_tuner_iterations_count", tuner="tsallis-inf") >= 3


def _raw_stream(address: str, messages: list[bytes]) -> list:
    import grpc

    with grpc.insecure_channel(address) as channel:
        call = channel.stream_stream("/solverd.v1.LinearSolver/SolveSequence")
        return list(call(iter(messages), timeout=30))


def test_stream_refuses_garbage_and_orphan_same_matrix(server) -> None:
    import grpc

    from solverd.errors import from_rpc_error
    from solverd.requests import solve_request

    a, b = system(0)
    good = solve_request(a, b, method="sor", tuner="tsallis-inf", rtol=1e-8).serialize()
    assert len(_raw_stream(server.address, [good, good])) == 2
    for messages, field in (([good, b"\xff\xfe\xfd"], "(request)"),
                            ([solve_request(None, b, method="sor", omega=1.5,
                                            same_matrix=True).serialize()], "same_matrix")):
        with pytest.raises(grpc.RpcError) as info:
            _raw_stream(server.address, messages)
        error = from_rpc_error(info.value)
        assert isinstance(error, InvalidArgument) and field in error.fields


def test_same_matrix_is_refused_on_unary_solve(client: Client) -> None:
    from solverd.requests import solve_request

    a, b = system(0)
    request = solve_request(a, b, method="sor", omega=1.5)
    request.message.same_matrix = True
    with pytest.raises(InvalidArgument) as info:
        client._call("solve", request, 30)
    assert "same_matrix" in info.value.fields


@pytest.mark.parametrize("stream", [False, True])
def test_async_sequence_learns_exactly_as_the_sync_one(server, client: Client,
                                                       stream: bool) -> None:
    """Same seed, same systems: the asyncio sequence (unary or streamed) chooses the same
    omegas and ends in the same state as the sync one; a bad request on the stream
    raises InvalidArgument naming the field."""
    shared = system(3)[0]
    sync = client.sequence(method="sor", tuner="chebcb", context_range=(-0.15, 0.45),
                           rtol=1e-8, seed=5)
    expected = [sync.solve(shared, RHS[t], context=float(SHIFTS[t])).omega for t in range(12)]

    async def main() -> tuple[list[float], bytes | None]:
        async with AsyncClient(server.address) as aclient:
            async with aclient.sequence(method="sor", tuner="chebcb", rtol=1e-8, seed=5,
                                        context_range=(-0.15, 0.45), stream=stream) as seq:
                omegas = []
                for t in range(12):
                    r = await seq.solve(shared, RHS[t], context=float(SHIFTS[t]))
                    assert r.converged and relative_residual(shared, r.x, RHS[t]) <= 1e-8
                    omegas.append(r.omega)
                state = seq.state
                with pytest.raises(InvalidArgument) as info:
                    await seq.solve(shared, np.ones(7), context=0.0)
                assert info.value.fields
            return omegas, state

    omegas, state = asyncio.run(main())
    assert omegas == expected
    assert state == sync.state


def test_tuned_auto_learns_a_configuration_along_a_stream(client: Client) -> None:
    """method="auto" with tuner "tsallis-inf" on a stream: each system is solved by the
    configuration the bandit picks (direct, AMG reused or rebuilt, recycling), the answer
    is right whatever it picked, its state comes back and resumes a new stream, and a
    unary call is refused naming the tuner."""
    from solverd.v1 import linear_pb2

    from problems import darcy_2d, gaussian_random_field

    rng = np.random.default_rng(3)
    g0, g1 = gaussian_random_field(48, rng), gaussian_random_field(48, rng)
    mats = [darcy_2d(48, np.exp(np.cos(t) * g0 + np.sin(t) * g1))
            for t in np.linspace(0.0, 0.4, 12)]
    b = np.ones(48 * 48)
    played = set()
    with client.sequence(method="auto", tuner="tsallis-inf", stream=True, rtol=1e-8,
                         seed=2) as seq:
        for a in mats[:8]:
            r = seq.solve(a, b)
            assert r.converged and relative_residual(a, r.x, b) <= 1e-8
            assert r.auto_reason.startswith("tuned AUTO played ")
            played.add(r.auto_reason.split()[3])
        state = seq.state
    assert len(played) >= 2  # it explores
    saved = linear_pb2.TunerState.FromString(state)
    assert saved.kind == "tsallis-inf-auto" and saved.step == 8 and sum(saved.plays) == 8
    with client.sequence(method="auto", tuner="tsallis-inf", stream=True, rtol=1e-8,
                         state=state) as seq:
        for a in mats[8:]:
            assert seq.solve(a, b).converged
        assert linear_pb2.TunerState.FromString(seq.state).step == 12
    with pytest.raises(InvalidArgument) as info:
        client.sequence(method="auto", tuner="tsallis-inf").solve(mats[0], b)
    assert "tuner" in info.value.fields
