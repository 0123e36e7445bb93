# kraken-sim as a sidecar: HTTP+WS on 8080, FIX on 9880.
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    KRAKEN_SIM_HOST=0.0.0.0 \
    KRAKEN_SIM_PORT=8080 \
    KRAKEN_SIM_FIX_PORT=9880 \
    KRAKEN_SIM_ADMIN_REMOTE=1

WORKDIR /app
COPY pyproject.toml README.md ./
COPY simulator ./simulator
COPY fixtures ./fixtures
RUN pip install . && useradd --create-home --uid 10001 sim
USER sim

EXPOSE 8080 9880
HEALTHCHECK --interval=5s --timeout=3s --start-period=5s --retries=5 \
    CMD ["python", "-c", "import os, urllib.request; urllib.request.urlopen('http://127.0.0.1:%s/health' % os.environ.get('KRAKEN_SIM_PORT', '8080'), timeout=2)"]
CMD ["kraken-sim", "serve"]
