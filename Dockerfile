# Agent image: Debian 12 + libbpf runtime + Node 24 (from the `node` npm package).
# Not built in CI here (no image registry or Docker engine on these machines).
FROM debian:bookworm AS build
RUN apt-get update && apt-get install -y --no-install-recommends \
      nodejs npm clang llvm libbpf-dev bpftool libelf-dev zlib1g-dev pkg-config make g++ python3 ca-certificates \
    && rm -rf /var/lib/apt/lists/*
WORKDIR /app
COPY package.json package-lock.json binding.gyp tsconfig.json ./
COPY native native
RUN npm ci --no-audit --no-fund
COPY . .
RUN node_modules/.bin/tsc -p tsconfig.json \
    && cp node_modules/node/bin/node /usr/local/bin/node24 \
    && npm prune --omit=dev --ignore-scripts

FROM debian:bookworm-slim
RUN apt-get update && apt-get install -y --no-install-recommends libbpf1 libelf1 zlib1g ca-certificates \
    && rm -rf /var/lib/apt/lists/*
WORKDIR /app
COPY --from=build /usr/local/bin/node24 /usr/local/bin/node
COPY --from=build /app/node_modules node_modules
COPY --from=build /app/dist dist
COPY --from=build /app/build/Release/ebpf_otel.node build/Release/ebpf_otel.node
COPY bin bin
COPY config config
COPY package.json .
ENTRYPOINT ["node", "bin/ebpf-container-otel.js"]
CMD ["run"]
