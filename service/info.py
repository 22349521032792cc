"""solverd.v1.ServerInfo: what this replica is and what it accepts."""

from __future__ import annotations

import functools
from dataclasses import fields

import grpc

from service.config import ServerConfig
from service.pool import WorkPool
from service.rpc import run_rpc
from service.version import VERSION
from solverd.v1 import info_pb2, info_pb2_grpc
from solverd.wire import DecodedMessage
from solvers.backend import CPU, cpu_versions, gpu_backend, gpu_status
from solvers.linear import METHODS
from solvers.linear.preconditioners import available


class ServerInfoServicer(info_pb2_grpc.ServerInfoServicer):
    def __init__(self, config: ServerConfig, pools: dict[str, WorkPool], blas_threads: int) -> None:
        self.config = config
        self.pools = pools
        self.blas_threads = blas_threads

    async def GetInfo(self, request: DecodedMessage,
                      context: grpc.aio.ServicerContext) -> info_pb2.GetInfoResponse:
        return await run_rpc("solverd.v1.ServerInfo/GetInfo", request, context,
                             functools.partial(self._info))

    async def _info(self, labels: dict[str, str]) -> info_pb2.GetInfoResponse:
        limits = self.config.limits
        response = info_pb2.GetInfoResponse(
            version=VERSION,
            default_device="gpu" if "gpu" in self.pools else "cpu",
            methods=list(METHODS),
            blas_threads=self.blas_threads,
            limits=info_pb2.Limits(**{f.name: getattr(limits, f.name) for f in fields(limits)}),
        )
        response.backends.add(name="numpy", available=True, device="cpu",
                              versions=cpu_versions(), preconditioners=available(CPU),
                              workers=self.pools["cpu"].workers)
        gpu = gpu_status()
        entry = response.backends.add(name="cupy", available=gpu.available and "gpu" in self.pools,
                                      device=gpu.name, memory_total_bytes=gpu.memory_total_bytes,
                                      memory_free_bytes=gpu.memory_free_bytes,
                                      versions=gpu.versions, reason=gpu.reason)
        if gpu.available and "gpu" not in self.pools:
            entry.reason = "disabled on this server (--backend cpu)"
        if entry.available:
            entry.preconditioners.extend(available(gpu_backend()))
            entry.workers = self.pools["gpu"].workers
        return response
