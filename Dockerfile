# The one image for web, worker, beat and the migrate step (docker/entrypoint.sh picks the role).
# PYTHON_IMAGE: another build of Python 3.11 with pip, e.g. where no registry is reachable (the
# stack test builds one with debootstrap, tests/deploy/stack/engine.py).
ARG PYTHON_IMAGE=python:3.11-slim
FROM ${PYTHON_IMAGE}

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    VAR_DIR=/app/var \
    STATIC_ROOT=/app/staticfiles

WORKDIR /app
RUN useradd --create-home --uid 10001 --user-group app

# Dependencies first, read from pyproject.toml, so a code change does not reinstall them.
COPY pyproject.toml ./
RUN python -c "import tomllib; print('\n'.join(tomllib.load(open('pyproject.toml', 'rb'))['project']['dependencies']))" \
      > /tmp/requirements.txt \
    && pip install -r /tmp/requirements.txt \
    && rm /tmp/requirements.txt

COPY . .
# collectstatic needs only settings that import; these throwaway values never reach runtime.
RUN pip install --no-deps -e . \
    && DEBUG=False SECRET_KEY=collectstatic-only ALLOWED_HOSTS=localhost VAR_DIR=/tmp/build-var \
       python manage.py collectstatic --noinput -v0 \
    && rm -rf /tmp/build-var \
    && mkdir -p "$VAR_DIR" \
    && chown -R app:app "$VAR_DIR"

USER app
EXPOSE 8000
ENTRYPOINT ["/app/docker/entrypoint.sh"]
CMD ["web"]
