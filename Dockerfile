# Otklik in a container: the same install and the same command as the systemd service
# (README, "Running as a service"). Build and start it with compose.yaml:
#   docker compose up -d --build
FROM python:3.11-slim

ENV PYTHONUNBUFFERED=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_NO_CACHE_DIR=1 \
    MPLCONFIGDIR=/var/lib/otklik/.matplotlib \
    PATH=/opt/otklik/bin:$PATH

RUN useradd --system --home-dir /var/lib/otklik --shell /usr/sbin/nologin otklik \
    && install -d -m 0750 -o otklik -g otklik /var/lib/otklik

WORKDIR /src
COPY . .
RUN python3 -m venv /opt/otklik && /opt/otklik/bin/pip install .

# The database, the downloaded files and the backups; the config is mounted read-only at
# /etc/otklik/otklik.toml and the tokens come from the environment.
VOLUME /var/lib/otklik
WORKDIR /var/lib/otklik
USER otklik
# Ctrl+C for Python: the bot finishes its current step and closes the database cleanly.
STOPSIGNAL SIGINT
ENTRYPOINT ["/opt/otklik/bin/otklik"]
CMD ["run", "--config", "/etc/otklik/otklik.toml"]
