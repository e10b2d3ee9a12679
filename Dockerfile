# Images of Ripcord, from one build:
#   docker build --target controller -t ripcord-controller:dev .   (ripcord-controller, kubectl-ripcord)
#   docker build --target sidecar    -t ripcord-sidecar:dev .      (ripcord-sidecar: `run`, `demo-app`)
FROM rust:1.95-bookworm AS build
WORKDIR /src
COPY . .
RUN cargo build --release --locked -p ripcord-controller -p ripcord-sidecar \
    --bin ripcord-controller --bin ripcord-sidecar --bin kubectl-ripcord

FROM gcr.io/distroless/cc-debian12:nonroot AS sidecar
COPY --from=build /src/target/release/ripcord-sidecar /usr/local/bin/
USER 65532:65532
ENTRYPOINT ["/usr/local/bin/ripcord-sidecar"]

FROM gcr.io/distroless/cc-debian12:nonroot AS controller
COPY --from=build /src/target/release/ripcord-controller /usr/local/bin/
COPY --from=build /src/target/release/kubectl-ripcord /usr/local/bin/
USER 65532:65532
ENTRYPOINT ["/usr/local/bin/ripcord-controller"]
