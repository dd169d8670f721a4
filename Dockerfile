# regauth image, for the docker-compose.yaml that `regauth registry-config --format compose` writes.
FROM python:3.12-slim
WORKDIR /src
COPY pyproject.toml README.md ./
COPY src ./src
RUN pip install --no-cache-dir . && useradd --system --home /var/lib/regauth regauth \
    && mkdir -p /var/lib/regauth && chown regauth /var/lib/regauth
USER regauth
EXPOSE 5001
ENTRYPOINT []
CMD ["regauth", "serve", "--listen", "0.0.0.0:5001", "--data-dir", "/var/lib/regauth"]
