# The soc scheduler (and CLI) as a container. Used by docker-compose.yml.
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1
# PDF reports (WeasyPrint) need Pango and HarfBuzz; Japanese reports need the Noto CJK fonts
RUN apt-get update \
 && apt-get install -y --no-install-recommends libpango-1.0-0 libpangoft2-1.0-0 libharfbuzz-subset0 fonts-noto-cjk \
 && rm -rf /var/lib/apt/lists/*
RUN useradd --create-home --uid 10001 soc
WORKDIR /app

COPY pyproject.toml README.md ./
COPY soc ./soc
RUN pip install --no-cache-dir .

COPY scheduler.py ./
COPY detectors ./detectors
COPY playbooks ./playbooks

USER soc
# validate first: the container refuses to start on any invalid detector or playbook
CMD ["python", "scheduler.py"]
