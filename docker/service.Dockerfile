# Python runtime for the service under test (rehearse/python:3.11-bookworm).
# Built by docker/build-offline-images with no build context: BASE is the imported debootstrap
# rootfs (rehearse/bookworm-base:<key>), which already holds python3, python3-venv, Debian's
# python3-aiohttp/python3-asyncpg and /opt/venv (--system-site-packages) with the PyPI versions.
# No RUN step: nothing is pulled or downloaded, the build needs no network.
# The harness mounts or copies the service code into /app at run time, e.g.
#   docker run --rm --network host -v "$PWD/service:/app:ro" rehearse/python:3.11-bookworm python -m app
ARG BASE=rehearse/bookworm-base
FROM ${BASE}
ENV VIRTUAL_ENV=/opt/venv \
    PATH=/opt/venv/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1
WORKDIR /app
STOPSIGNAL SIGTERM
CMD ["python3"]
