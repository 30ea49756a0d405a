# The Berth ingest service: the registry server in upload-only mode (bin/berth-ingest.ts) with the
# DynamoDB and S3 adapters, configured from the environment (TABLE_NAME, BUCKET_NAME,
# UPLOAD_TOKEN_SECRET_ARN). Built by `cdk deploy` (lib/ingest-service.ts) for the task's CPU
# architecture; here `cdk synth` only stages it.
#
# Build stage: bin/berth-ingest.ts and everything it imports become one JavaScript file (esbuild), so
# the image needs neither tsx nor TypeScript nor the project's dev dependencies, and holds nothing
# but the ingest service (no emulator, stand-in or ECR client: test/cdk/bundles.test.ts). The AWS SDK is
# bundled too: unlike Lambda, a container has no SDK of its own. `lmdb` (local mode's native
# metadata store) stays external and is installed on its own, in case the bundle reaches it.
FROM node:22-slim AS build
WORKDIR /src
COPY package.json package-lock.json ./
RUN npm ci --no-audit --no-fund --ignore-scripts
COPY tsconfig.json ./
COPY bin ./bin
COPY lambdas ./lambdas
RUN npx esbuild bin/berth-ingest.ts --bundle --platform=node --target=node22 --format=cjs \
      --minify --sourcemap --external:lmdb --outfile=/out/berth-ingest.js \
 && mkdir /deps && cd /deps && npm init -y >/dev/null \
 && npm install --omit=dev --no-audit --no-fund --no-package-lock \
      "lmdb@$(node -p "require('/src/node_modules/lmdb/package.json').version")"

FROM node:22-slim
ENV NODE_ENV=production
WORKDIR /app
COPY --from=build /deps/node_modules ./node_modules
COPY --from=build /out/ ./
USER node
EXPOSE 8080
# Listens on all interfaces inside the task; the security group admits only the load balancer.
CMD ["node", "--enable-source-maps", "/app/berth-ingest.js", "--host", "0.0.0.0", "--port", "8080"]
