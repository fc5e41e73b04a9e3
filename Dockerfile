# Galley: a small runtime image with the one static-ish binary.
FROM rust:1.95-slim-bookworm AS build
WORKDIR /src
COPY Cargo.toml Cargo.lock ./
COPY src ./src
COPY migrations ./migrations
COPY build.rs ./
RUN cargo build --release --locked && strip target/release/galley

FROM debian:bookworm-slim
RUN useradd --system --uid 10001 --home-dir /var/lib/galley --create-home galley
COPY --from=build /src/target/release/galley /usr/local/bin/galley
USER galley
WORKDIR /var/lib/galley
ENV GALLEY_BIND=0.0.0.0:8080 \
    GALLEY_LOG_FORMAT=json
EXPOSE 8080
ENTRYPOINT ["galley"]
CMD ["serve"]
