# The blkscope image: the exporter by default (docs/exporter/daemonset.yaml runs it), any view
# by arguments. Two ways to fill it:
#
#   docker build -t blkscope .                     # builds blkscope here (BuildKit: docker 23+)
#   docker build --target prebuilt -t blkscope .   # takes target/release/blkscope as built by
#                                                  # ./x build --release (same glibc or older)
#   docker run --rm --privileged --pid=host -p 9438:9438 \
#       -v /sys/fs/cgroup:/sys/fs/cgroup:ro -v /sys/kernel/tracing:/sys/kernel/tracing blkscope
#
# BUILDER and RUNTIME name the base images (a mirror, an air-gapped registry).
ARG BUILDER=debian:bookworm
ARG RUNTIME=debian:bookworm-slim

# What every variant of the image shares: the base, what it runs, where it listens.
FROM ${RUNTIME} AS base
LABEL org.opencontainers.image.title="blkscope" \
      org.opencontainers.image.description="Block I/O tracing and statistics for Linux (eBPF), Prometheus exporter" \
      org.opencontainers.image.licenses="MIT OR Apache-2.0"
EXPOSE 9438
ENTRYPOINT ["/usr/bin/blkscope"]
CMD ["exporter", "--listen=0.0.0.0:9438"]

# The binary from the build context (BINARY: a path in it).
FROM base AS prebuilt
ARG BINARY=target/release/blkscope
COPY ${BINARY} /usr/bin/blkscope

# Builds blkscope with the pinned toolchains (scripts/setup.sh --build-only: LLVM, Rust, bpf-linker).
FROM ${BUILDER} AS build
ENV DEBIAN_FRONTEND=noninteractive PATH=/root/.cargo/bin:${PATH}
RUN apt-get update \
 && apt-get install -y --no-install-recommends ca-certificates curl build-essential \
 && curl -sSf https://sh.rustup.rs | sh -s -- -y --profile minimal --default-toolchain none
WORKDIR /src
COPY . .
RUN bash scripts/setup.sh --build-only \
 && cargo build --release --package blkscope \
 && install -D target/release/blkscope /out/blkscope

# The default: the binary built above.
FROM base AS runtime
COPY --from=build /out/blkscope /usr/bin/blkscope
