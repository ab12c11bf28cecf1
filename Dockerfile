# The image of Pitwall's own processes (setup, processor, jobs, gateway, exporter); Directus runs from its own image
# with extensions/pitwall mounted.
FROM node:22-bookworm-slim
WORKDIR /app
ENV NODE_ENV=production
COPY package.json package-lock.json ./
COPY extensions/pitwall/package.json extensions/pitwall/package.json
RUN npm ci --omit=dev --no-audit --no-fund
COPY bin bin
COPY scripts/node22.sh scripts/node22.sh
COPY src src
COPY tsconfig.json ./
# The exporter's Parquet files: a volume mounted here takes this owner on first use.
RUN mkdir -p /export && chown node:node /export
USER node
ENTRYPOINT ["bin/pitwall"]
