# buoycast in a container: `serve` by default; `run`, `ingest`, `migrate` as the command.
#
#   docker build --build-arg BUOYCAST_BUILD_COMMIT=$(git rev-parse --short HEAD) -t buoycast .
#   docker run -p 8080:8080 -v buoycast-data:/var/lib/buoycast buoycast run
#
# The process runs as uid/gid 10001 (numeric, so Kubernetes' runAsNonRoot can check it) in
# /var/lib/buoycast, the data volume: the default `sqlite://buoycast.db` lands there.
# tests/deploy.rs reads this file (USER, WORKDIR, VOLUME, ENV, ENTRYPOINT, CMD, HEALTHCHECK) and
# runs the default command that way, so keep the one-instruction-per-line form below.
FROM rust:1.95-bookworm AS build
WORKDIR /src
# Dependency layer: the manifests and lock file only, with placeholder targets, so that the
# dependencies are fetched and compiled once and reused until Cargo.toml or Cargo.lock change.
COPY Cargo.toml Cargo.lock build.rs ./
COPY crates/ndbc/Cargo.toml crates/ndbc/
COPY crates/loadgen/Cargo.toml crates/loadgen/
COPY crates/testkit/Cargo.toml crates/testkit/
RUN mkdir -p src benches crates/ndbc/src crates/ndbc/benches crates/loadgen/src crates/testkit/src \
    && echo 'fn main() {}' > src/main.rs \
    && touch src/lib.rs crates/ndbc/src/lib.rs crates/loadgen/src/lib.rs crates/testkit/src/lib.rs \
    && echo 'fn main() {}' > crates/loadgen/src/main.rs \
    && for b in benches/frames.rs benches/commit.rs benches/fanout.rs crates/ndbc/benches/parse.rs; do echo 'fn main() {}' > "$b"; done \
    && cargo build --release --locked -p buoycast \
    && rm -rf src crates/ndbc/src crates/loadgen/src crates/testkit/src
# The sources: only the workspace's own crates are rebuilt.
COPY . .
# Empty unless given: build.rs then asks git (a context with .git), else says `unknown`.
ARG BUOYCAST_BUILD_COMMIT
ENV BUOYCAST_BUILD_COMMIT=$BUOYCAST_BUILD_COMMIT
RUN touch src/main.rs src/lib.rs crates/ndbc/src/lib.rs \
    && cargo build --release --locked --bin buoycast \
    && strip target/release/buoycast

FROM debian:bookworm-slim
RUN apt-get update \
    && apt-get install -y --no-install-recommends ca-certificates \
    && rm -rf /var/lib/apt/lists/* \
    && groupadd --system --gid 10001 buoycast \
    && useradd --system --uid 10001 --gid 10001 --home-dir /var/lib/buoycast --shell /usr/sbin/nologin buoycast \
    && install -d -o 10001 -g 10001 -m 0750 /var/lib/buoycast
COPY --from=build /src/target/release/buoycast /usr/local/bin/buoycast
USER 10001:10001
WORKDIR /var/lib/buoycast
VOLUME ["/var/lib/buoycast"]
ENV BUOYCAST_LISTEN=0.0.0.0:8080
EXPOSE 8080
# No curl in the image: bash's /dev/tcp asks /health on the port BUOYCAST_LISTEN names.
HEALTHCHECK --interval=10s --timeout=3s --start-period=10s --retries=3 CMD ["bash", "-c", "exec 3<>/dev/tcp/127.0.0.1/${BUOYCAST_LISTEN##*:} && printf 'GET /health HTTP/1.1\\r\\nHost: localhost\\r\\nConnection: close\\r\\n\\r\\n' >&3 && head -n 1 <&3 | grep -q ' 200 '"]
ENTRYPOINT ["buoycast"]
CMD ["serve"]
