# The relay's one image: web (gunicorn), workers (rqworker), the one-shot migrate and the daily prune all
# run it with different commands (docker-compose.yml). Settings come from the environment only
# (docs/operations.md lists every variable).
FROM python:3.11-slim

ENV PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    DJANGO_STATIC_ROOT=/app/staticfiles \
    DARAJA_VAR_DIR=/app/var \
    WEBHOOK_SERVICE_PORT=3001

WORKDIR /app

# Dependencies first: a code change does not reinstall them.
COPY requirements.txt .
RUN pip install -r requirements.txt

COPY . .

# Static files are collected at build time and served by WhiteNoise from the image.
# The key only satisfies Django during the build; the real one comes from the environment.
RUN DJANGO_SECRET_KEY=collectstatic-only-not-a-secret python manage.py collectstatic --noinput -v 0 \
    && useradd --system --uid 10001 --no-create-home relay \
    && mkdir -p /app/var \
    && chown relay /app/var

USER relay
EXPOSE 3001

# The web check; the worker service overrides it (docker-compose.yml).
HEALTHCHECK --interval=10s --timeout=5s --start-period=20s --retries=3 \
    CMD ["python", "deploy/healthcheck.py", "web"]

CMD ["gunicorn", "-c", "deploy/gunicorn.conf.py"]
