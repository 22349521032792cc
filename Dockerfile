# One image, two variants:
#   docker build -t solverd:cpu .
#   docker build --build-arg VARIANT=cuda -t solverd:cuda .
# The CUDA variant needs the host's NVIDIA driver (nvidia-container-toolkit).
ARG VARIANT=cpu

FROM python:3.11-slim-bookworm AS base-cpu
ENV SOLVERD_EXTRAS=""

FROM nvidia/cuda:12.6.3-runtime-ubuntu24.04 AS base-cuda
# The distribution's python3 is what the CUDA image supports; its version moves with it.
# hadolint ignore=DL3008
RUN apt-get update \
 && apt-get install -y --no-install-recommends python3 python3-venv \
 && rm -rf /var/lib/apt/lists/*
ENV SOLVERD_EXTRAS="[gpu]"

# hadolint ignore=DL3006
FROM base-${VARIANT} AS runtime
ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    VIRTUAL_ENV=/opt/solverd \
    PATH=/opt/solverd/bin:$PATH \
    NUMBA_CACHE_DIR=/opt/solverd-numba
WORKDIR /src
COPY clients/python clients/python
COPY protos protos
COPY solvers solvers
COPY service service
COPY pyproject.toml README.md ./
# The numba kernels are compiled into the image's cache here, not at every pod start
# (13-27 s); a node whose CPU differs from the build machine's compiles them again at
# start, into the same (writable) cache. -I: the installed package, not /src's copy,
# whose paths the cache would be keyed on.
RUN python3 -m venv /opt/solverd \
 && /opt/solverd/bin/pip install --no-cache-dir ./clients/python ".${SOLVERD_EXTRAS}" \
 && useradd --system --uid 10001 --no-create-home solverd \
 && mkdir -p /opt/solverd-numba \
 && /opt/solverd/bin/python -I -c "import solvers; solvers.warm_up()" \
 && chown -R 10001 /opt/solverd-numba
USER 10001
EXPOSE 50051 9090
ENTRYPOINT ["solverd", "serve"]
CMD ["--port", "50051", "--metrics-port", "9090"]
