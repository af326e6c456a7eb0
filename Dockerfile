# A slim image with boxdrec installed, running as a non-root user.
# Models and MovieLens data are mounted, not built in:
#   docker run -v boxdrec-data:/data boxdrec recommend /data/ratings.csv
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    BOXDREC_DATA_DIR=/data/movielens \
    BOXDREC_MODEL_DIR=/data/models

WORKDIR /app
COPY pyproject.toml README.md ./
COPY recommender ./recommender
COPY bot ./bot
RUN pip install --no-cache-dir . \
    && useradd --create-home --uid 10001 boxdrec \
    && mkdir -p /data \
    && chown boxdrec /data

USER boxdrec
VOLUME ["/data"]
ENTRYPOINT ["boxdrec"]
CMD ["--help"]
