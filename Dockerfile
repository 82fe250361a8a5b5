# One image for every Python part of the stack; docker-compose.yml picks the command.
FROM python:3.11-slim
ENV PYTHONUNBUFFERED=1 PIP_DISABLE_PIP_VERSION_CHECK=1
WORKDIR /app
COPY pyproject.toml constraints.txt README.md ./
COPY legacy_app ./legacy_app
COPY stand_ins ./stand_ins
COPY strangler ./strangler
COPY gateway ./gateway
COPY new_services ./new_services
COPY migrations ./migrations
RUN pip install --no-cache-dir -c constraints.txt ".[otlp]" && useradd --create-home kit && mkdir /data && chown kit /data
USER kit
WORKDIR /data
