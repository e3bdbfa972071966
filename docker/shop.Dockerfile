# One image per release of the demo service (rehearse/shop:<version>).
# Built by docker/build-offline-images with the release directory as the build context, e.g.
#   docker build -f docker/shop.Dockerfile --build-arg PYTHON_IMAGE=rehearse/python:3.11-bookworm \
#       -t rehearse/shop:2.0 scenarios/shop/releases/2.0
# No RUN step: nothing is pulled or downloaded (aiohttp and asyncpg are in the python image's /opt/venv).
# The harness starts it with PORT, HOST, DATABASE_URL and REHEARSE_VERSION in the environment.
ARG PYTHON_IMAGE=rehearse/python:3.11-bookworm
FROM ${PYTHON_IMAGE}
COPY . /app
WORKDIR /app
STOPSIGNAL SIGTERM
CMD ["python3", "app.py"]
