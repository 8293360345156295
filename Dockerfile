# One image for every Helicase service; a Kubernetes Deployment (deploy/k8s) picks the service by
# its command, one of the workspace's console scripts:
#   helicase-api, helicase-scheduler, helicase-controller, helicase-participant, helicase-sink,
#   helicase (the command line)
# (`python -m helicase.<service>` runs the same code.)
#   docker build -t helicase/helicase:0.1.0 .
FROM python:3.11-slim AS build
ENV UV_COMPILE_BYTECODE=1 \
    UV_LINK_MODE=copy \
    UV_PYTHON_DOWNLOADS=never \
    UV_PROJECT_ENVIRONMENT=/opt/helicase
RUN pip install --no-cache-dir "uv==0.13.9"
WORKDIR /src
# The locked dependencies and every workspace package (not editable: the source tree stays here).
COPY pyproject.toml uv.lock ./
COPY libs/ libs/
COPY services/ services/
RUN uv sync --frozen --no-dev --no-editable

# The composer (web/, see web/package.json): its static files, served by the api on its HTTP port
# (HELICASE_WEB_ADDR) from HELICASE_WEB_DIST. Node only builds; the runtime image has none.
FROM node:22-slim AS web
WORKDIR /web
COPY web/package.json web/package-lock.json ./
RUN npm ci --no-audit --no-fund
COPY web/ ./
RUN npm run build

FROM python:3.11-slim
# The built-in `shell` type (/bin/sh -c in the participant's container) is off in the image:
# a participant serves it only with HELICASE_PARTICIPANT_ENABLE_SHELL=1 (docs/security.md).
RUN groupadd --system --gid 10001 helicase \
 && useradd --system --uid 10001 --gid helicase --home-dir /home/helicase --create-home helicase
COPY --from=build /opt/helicase /opt/helicase
COPY --from=web /web/dist /opt/helicase-web/dist
ENV PATH=/opt/helicase/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    HELICASE_WEB_DIST=/opt/helicase-web/dist \
    HELICASE_PARTICIPANT_ENABLE_SHELL=0
USER 10001:10001
WORKDIR /home/helicase
CMD ["helicase-api"]
