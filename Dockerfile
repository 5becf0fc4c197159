# ferrobill container image. See docs/docker.md.
#
#   docker build -t ferrobill .                               # default: external PostgreSQL
#   docker build --target embedded -t ferrobill:embedded .    # also ships PostgreSQL 15
#
# Stages: builder (compiles the binary), base (what both images share), embedded (base plus
# the PostgreSQL server, for the no-database-URL default), runtime (the default image; last,
# so a plain `docker build` produces it).

# ------------------------------------------------------------------------------------------
# builder
# ------------------------------------------------------------------------------------------
FROM rust:1-bookworm AS builder
WORKDIR /build

# Dependencies first, against stub sources, so that this layer is reused as long as the
# manifests and the lock file do not change. Only the ferrobill package is built, so the
# loadtests sources and the integration tests are not needed (cargo still reads the
# loadtests manifest, as a workspace member).
COPY Cargo.toml Cargo.lock ./
COPY loadtests/Cargo.toml loadtests/Cargo.toml
RUN mkdir -p src \
    && echo 'fn main() {}' > src/main.rs \
    && touch src/lib.rs \
    && cargo build --release --locked -p ferrobill \
    && rm -rf src

# sqlx's migrate! macro embeds migrations/ at compile time: it must be there before the
# real build.
COPY migrations migrations
COPY src src
# COPY keeps the files' own modification times, which may be older than the stub build's
# outputs; touching the crate roots makes cargo rebuild the ferrobill crate for certain
# (and so also re-embeds migrations/ when only those changed).
RUN touch src/lib.rs src/main.rs \
    && cargo build --release --locked -p ferrobill \
    && cp target/release/ferrobill /usr/local/bin/ferrobill

# ------------------------------------------------------------------------------------------
# base: shared by the runtime and embedded images
# ------------------------------------------------------------------------------------------
FROM debian:bookworm-slim AS base
ARG DEBIAN_FRONTEND=noninteractive
RUN apt-get update \
    && apt-get install -y --no-install-recommends ca-certificates \
    && rm -rf /var/lib/apt/lists/*

# A fixed, non-root uid/gid so volumes and `runAsUser` policies can rely on it. The working
# directory is also group 0 writable, so that an arbitrary uid in group 0 (OpenShift's
# convention) can use it.
RUN groupadd --system --gid 10001 ferrobill \
    && useradd --system --uid 10001 --gid ferrobill --no-create-home \
        --home-dir /var/lib/ferrobill --shell /usr/sbin/nologin ferrobill \
    && install -d -o ferrobill -g root -m 0770 /var/lib/ferrobill /var/lib/ferrobill/data

# Every property, commented out at its default: a template to mount over
# (-v ./my.properties:/etc/ferrobill/ferrobill.properties:ro). Environment variables win
# over it.
COPY config/ferrobill.properties /etc/ferrobill/ferrobill.properties
ENV KB_org_killbill_server_properties=/etc/ferrobill/ferrobill.properties

# The embedded PostgreSQL (embedded image, no database URL) keeps its data under
# ./data/postgres, i.e. /var/lib/ferrobill/data/postgres.
WORKDIR /var/lib/ferrobill
EXPOSE 8080

# GET /1.0/healthcheck with bash's /dev/tcp (no curl in the image): healthy on 200 only,
# Kill Bill's answer when every check passes (500 when a pool is down or the node is out of
# rotation). The port follows the port variables; a port set only in a properties file
# needs the healthcheck overridden.
HEALTHCHECK --interval=15s --timeout=5s --start-period=60s --retries=3 \
    CMD ["bash", "-c", "port=${KB_ferrobill_server_port:-${FERROBILL_SERVER_PORT:-${KILLBILL_SERVER_PORT:-8080}}}; exec 3<>/dev/tcp/127.0.0.1/$port || exit 1; printf 'GET /1.0/healthcheck HTTP/1.0\\r\\nHost: localhost\\r\\n\\r\\n' >&3; IFS= read -r -t 4 status <&3 || exit 1; [[ $status == HTTP/1.?' 200 '* ]]"]

# ferrobill stops gracefully on SIGTERM (Docker's default stop signal), waiting up to
# ferrobill.server.shutdownTimeout (30s): give `docker stop` a longer timeout.
ENTRYPOINT ["ferrobill"]
CMD ["serve"]

# ------------------------------------------------------------------------------------------
# embedded: also ships the PostgreSQL 15 server, so the image runs with no database URL
# (ferrobill then starts its own PostgreSQL, as the ferrobill user, under
# /var/lib/ferrobill/data/postgres). Build with --target embedded.
# ------------------------------------------------------------------------------------------
FROM base AS embedded
ARG DEBIAN_FRONTEND=noninteractive
# postgresql-common first, told not to create the "main" cluster that installing
# postgresql-15 would otherwise initialise (as the official postgres image does).
RUN apt-get update \
    && apt-get install -y --no-install-recommends postgresql-common \
    && sed -ri 's/#(create_main_cluster) .*$/\1 = false/' /etc/postgresql-common/createcluster.conf \
    && apt-get install -y --no-install-recommends postgresql-15 \
    && rm -rf /var/lib/apt/lists/*
VOLUME ["/var/lib/ferrobill/data"]
COPY --from=builder /usr/local/bin/ferrobill /usr/local/bin/ferrobill
USER 10001:10001

# ------------------------------------------------------------------------------------------
# runtime: the default image; needs an external PostgreSQL (org.killbill.dao.url)
# ------------------------------------------------------------------------------------------
FROM base AS runtime
COPY --from=builder /usr/local/bin/ferrobill /usr/local/bin/ferrobill
USER 10001:10001
