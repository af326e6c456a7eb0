# boxdrec: the Discord bot in a slim image, running as a non-root user.
#
# The model and MovieLens data are mounted, not built in, so one image serves any model:
#   docker run --env-file .env -v boxdrec-data:/data boxdrec
# On first start with an empty /data the bot downloads ml-latest-small and trains the default
# model into /data/models (under a minute). To use a model trained elsewhere, copy its folder
# into the volume under /data/models/<name> and set BOXDREC_MODEL=<name>.
# The same image runs the command line:  docker run -v boxdrec-data:/data --entrypoint boxdrec boxdrec --help
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    BOXDREC_DATA_DIR=/data/movielens \
    BOXDREC_MODEL_DIR=/data/models \
    BOXDREC_DATABASE=/data/boxdrec.sqlite3

WORKDIR /app
COPY pyproject.toml README.md ./
COPY recommender ./recommender
COPY bot ./bot
RUN pip install --no-cache-dir . \
    && useradd --create-home --uid 10001 boxdrec \
    && mkdir -p /data \
    && chown boxdrec /data

USER 10001
VOLUME ["/data"]
ENTRYPOINT ["python", "-m", "bot"]
