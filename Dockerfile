# regauth's image. Build: docker build -t regauth . (or: podman build -t regauth .)
# It runs as uid/gid 10001 (regauth) with its data in the volume /var/lib/regauth; the
# entrypoint says what to do when a mounted data folder is not usable by that user.
# `regauth registry-config --format compose` writes a docker-compose.yaml that builds it.
FROM python:3.12-slim
WORKDIR /src
COPY pyproject.toml README.md ./
COPY src ./src
RUN pip install --no-cache-dir . \
    && groupadd --system --gid 10001 regauth \
    && useradd --system --uid 10001 --gid 10001 --home-dir /var/lib/regauth --no-create-home \
        --shell /usr/sbin/nologin regauth \
    && install -d -o regauth -g regauth -m 0700 /var/lib/regauth \
    && install -d -o regauth -g regauth -m 0755 /var/lib/regauth-trust
COPY deploy/container-entrypoint.sh /usr/local/bin/regauth-entrypoint
ENV REGAUTH_DATA_DIR=/var/lib/regauth
USER 10001:10001
WORKDIR /var/lib/regauth
VOLUME ["/var/lib/regauth"]
EXPOSE 5001
HEALTHCHECK --interval=10s --timeout=3s --start-period=20s \
    CMD ["python", "-c", "import urllib.request; urllib.request.urlopen('http://127.0.0.1:5001/healthz', timeout=3)"]
ENTRYPOINT ["regauth-entrypoint"]
CMD ["regauth", "serve", "--listen", "0.0.0.0:5001"]
