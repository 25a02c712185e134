# The `quarry` image: the host binary, the example plugins and the script runner.
# docker-compose.yml builds it.
FROM rust:1.95-trixie AS build
RUN rustup target add wasm32-wasip2 \
 && apt-get update \
 && apt-get install -y --no-install-recommends clang-19 llvm-19 wasi-libc \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY . .
RUN cargo build --release --locked -p quarry \
 && cargo plugins --locked \
 && mkdir -p /out/plugins \
 && for p in flights_between units delayed delay_stats mask; do \
        cp target/wasm32-wasip2/release/$p.wasm /out/plugins/; \
    done \
 && cp target/wasm32-wasip2/release/script_runner.wasm /out/

FROM debian:trixie-slim
RUN apt-get update \
 && apt-get install -y --no-install-recommends ca-certificates \
 && rm -rf /var/lib/apt/lists/*
COPY --from=build /src/target/release/quarry /usr/local/bin/quarry
COPY --from=build /out/plugins/ /usr/share/quarry/plugins/
COPY --from=build /out/script_runner.wasm /usr/share/quarry/script_runner.wasm
ENV QUARRY_DATA=/var/lib/quarry \
    QUARRY_PLUGINS=/usr/share/quarry/plugins \
    QUARRY_SCRIPT_RUNNER=/usr/share/quarry/script_runner.wasm
WORKDIR /var/lib/quarry
EXPOSE 8080
# Every address, so tokens: `docker exec CONTAINER quarry users add NAME --role admin`
# prints the first one. (docker-compose.yml serves it open, on the host's loopback only.)
CMD ["quarry", "serve", "--bind", "0.0.0.0:8080", "--auth", "token"]
