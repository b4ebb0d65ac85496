# The dm-switch image for temporal-dev.yml: the worker, the webhook, the CLI
# and the codec endpoint (choose with the command). dmctl is not in it: mount
# the dmctl of your DM version (see temporal-dev.yml).
FROM node:20-bookworm-slim
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm install --omit=dev --no-audit --no-fund
COPY tsconfig.json ./
COPY bin ./bin
COPY common ./common
COPY workflows ./workflows
COPY activities ./activities
COPY worker ./worker
COPY client ./client
ENV NODE_ENV=production
USER node
CMD ["node", "--import", "tsx", "worker/main.ts"]
