# The soc image: the scheduler (default command), the collector (`soc ingest --follow`) and
# the Kibana setup (`soc kibana import`). Used by docker-compose.yml.
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1
# PDF reports (WeasyPrint) need Pango and HarfBuzz; Japanese reports need the Noto CJK fonts
RUN apt-get update \
 && apt-get install -y --no-install-recommends libpango-1.0-0 libpangoft2-1.0-0 libharfbuzz-subset0 fonts-noto-cjk \
 && rm -rf /var/lib/apt/lists/*
# a fixed non-root uid: volumes and bind mounts are made writable for 10001
RUN useradd --create-home --uid 10001 soc
WORKDIR /app

COPY pyproject.toml README.md ./
COPY soc ./soc
RUN pip install --no-cache-dir .

COPY scheduler.py ./
COPY detectors ./detectors
COPY playbooks ./playbooks
COPY kibana ./kibana
COPY deploy/docker/entrypoint.sh /usr/local/bin/soc-entrypoint

# what soc writes lives outside /app (which stays root-owned and read-only to soc):
# outbox and reports in /var/lib/soc/out, local state in /var/lib/soc/data
ENV SOC_OUT_DIR=/var/lib/soc/out SOC_DATA_DIR=/var/lib/soc/data \
    SOC_DETECTORS_DIR=/app/detectors SOC_PLAYBOOKS_DIR=/app/playbooks
RUN mkdir -p /var/lib/soc/out /var/lib/soc/data && chown -R soc:soc /var/lib/soc
VOLUME ["/var/lib/soc/out", "/var/lib/soc/data"]

USER soc
ENTRYPOINT ["soc-entrypoint"]
# validate first: the scheduler refuses to start on any invalid detector or playbook
CMD ["python", "scheduler.py"]
