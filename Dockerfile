# Images of Ripcord, from one build:
#   docker build --target controller -t ripcord-controller:dev .   (ripcord-controller, kubectl-ripcord)
#   docker build --target sidecar    -t ripcord-sidecar:dev .      (ripcord-sidecar: `run`, `demo-app`)
# Needs BuildKit (Docker's default builder since 23.0): the cargo registry and the target
# directory are cache mounts, so a rebuild after a small change compiles only what changed. Only
# the sources take part in the build, so editing the chart or the README does not rebuild.
FROM docker.io/library/rust:1.95-bookworm AS build
WORKDIR /src
COPY Cargo.toml Cargo.lock ./
COPY sidecar sidecar
COPY controller controller
RUN --mount=type=cache,target=/usr/local/cargo/registry \
    --mount=type=cache,target=/src/target \
    cargo build --release --locked -p ripcord-controller -p ripcord-sidecar \
        --bin ripcord-controller --bin ripcord-sidecar --bin kubectl-ripcord \
    && mkdir -p /out \
    && cp target/release/ripcord-controller target/release/ripcord-sidecar \
        target/release/kubectl-ripcord /out/

# distroless/cc: glibc and libgcc_s (all the binaries link), CA certificates, no shell. The user
# is numeric so that the kubelet can check runAsNonRoot against the image alone.
FROM gcr.io/distroless/cc-debian12:nonroot AS sidecar
COPY --from=build /out/ripcord-sidecar /usr/local/bin/
USER 65532:65532
ENTRYPOINT ["/usr/local/bin/ripcord-sidecar"]

FROM gcr.io/distroless/cc-debian12:nonroot AS controller
COPY --from=build /out/ripcord-controller /out/kubectl-ripcord /usr/local/bin/
USER 65532:65532
ENTRYPOINT ["/usr/local/bin/ripcord-controller"]
