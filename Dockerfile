# Galley: a small runtime image with the one static-ish binary.
FROM rust:1.95-slim-bookworm AS build
WORKDIR /src
COPY Cargo.toml Cargo.lock ./
COPY src ./src
COPY migrations ./migrations
COPY build.rs ./
RUN cargo build --release --locked && strip target/release/galley

FROM debian:bookworm-slim
# CA certificates: S3 (and any HTTPS endpoint) is verified against them.
RUN apt-get update \
    && apt-get install --yes --no-install-recommends ca-certificates \
    && rm -rf /var/lib/apt/lists/*
RUN useradd --system --uid 10001 --home-dir /var/lib/galley --create-home galley \
    && install --directory --owner galley --group galley /var/lib/galley/media
COPY --from=build /src/target/release/galley /usr/local/bin/galley
USER galley
WORKDIR /var/lib/galley
ENV GALLEY_BIND=0.0.0.0:8080 \
    GALLEY_LOG_FORMAT=json \
    GALLEY_MEDIA_DIR=/var/lib/galley/media
# A named volume mounted here starts with this directory's owner, so Galley may write to it.
VOLUME /var/lib/galley/media
EXPOSE 8080
HEALTHCHECK --interval=10s --timeout=6s --start-period=60s --retries=3 CMD ["galley", "healthcheck"]
ENTRYPOINT ["galley"]
CMD ["serve"]
