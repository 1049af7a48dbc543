# RNN Gradient Lab: the dashboard and REST API on port 8000.
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1 \
    RNNLAB_HOST=0.0.0.0 RNNLAB_PORT=8000

WORKDIR /app
# Runtime dependencies only (all ship as wheels: no compiler is installed or left behind).
COPY pyproject.toml README.md ./
RUN python -c "import tomllib; print('\n'.join(tomllib.load(open('pyproject.toml','rb'))['project']['dependencies']))" > /tmp/requirements.txt \
 && pip install -r /tmp/requirements.txt && rm /tmp/requirements.txt

COPY rnncore/ rnncore/
COPY app/ app/
COPY templates/ templates/
COPY static/ static/

RUN useradd --system --uid 10001 --no-create-home rnnlab
USER 10001

EXPOSE 8000
HEALTHCHECK --interval=30s --timeout=3s --start-period=10s --retries=3 \
  CMD ["python", "-c", "import os, sys, urllib.request; url = f'http://127.0.0.1:{os.environ[\"RNNLAB_PORT\"]}/api/health'; sys.exit(urllib.request.urlopen(url, timeout=2).status != 200)"]
# where it listens: RNNLAB_HOST / RNNLAB_PORT (docker run -e RNNLAB_PORT=9000 -p 9000:9000 ...)
CMD ["python", "-m", "app.cli", "serve"]
