# buoycast in a container: `serve` by default; `ingest`, `run`, `migrate` as the command.
FROM rust:1.95-bookworm AS build
WORKDIR /src
COPY . .
RUN cargo build --release --locked --bin buoycast

FROM debian:bookworm-slim
RUN apt-get update \
    && apt-get install -y --no-install-recommends ca-certificates \
    && rm -rf /var/lib/apt/lists/*
COPY --from=build /src/target/release/buoycast /usr/local/bin/buoycast
USER nobody
ENV BUOYCAST_LISTEN=0.0.0.0:8080
EXPOSE 8080
ENTRYPOINT ["buoycast"]
CMD ["serve"]
