# One image for every agrifin process; the command picks the service (or the worker).
FROM python:3.11-slim
ENV PYTHONUNBUFFERED=1 PIP_DISABLE_PIP_VERSION_CHECK=1
RUN apt-get update && apt-get install -y --no-install-recommends libgomp1 curl \
    && rm -rf /var/lib/apt/lists/*
WORKDIR /app
COPY requirements.lock pyproject.toml README.md ./
RUN pip install --no-cache-dir -r requirements.lock
COPY shared ./shared
COPY services ./services
COPY migrations ./migrations
COPY bench ./bench
RUN pip install --no-cache-dir --no-deps -e .
RUN useradd --system --uid 10001 agrifin && mkdir -p /app/var && chown agrifin /app/var
USER agrifin
EXPOSE 8000 8001 8002 8003
CMD ["agrifin", "--help"]
