"""Import saved objects into a running Kibana through its saved-objects API.

``POST <kibana>/api/saved_objects/_import?overwrite=true`` (or ``/s/<space>/api/...``)
with the NDJSON as a multipart file, the ``kbn-xsrf`` header Kibana requires, and basic
or API-key authentication. Standard library HTTP only; TLS certificates are verified
unless the caller turns that off explicitly. Kibana answers 200 even when single objects
fail: those errors are collected and raised together, naming each object.
"""

from __future__ import annotations

import base64
import json
import ssl
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.error import HTTPError, URLError
from urllib.parse import quote, urlsplit
from urllib.request import Request, urlopen

from soc.errors import SocError

__all__ = ["ImportResult", "KibanaError", "import_objects"]


class KibanaError(SocError):
    """Kibana refused the import or could not be reached."""


@dataclass(frozen=True)
class ImportResult:
    imported: int
    objects: list[str]  # "type/id" of every object Kibana confirmed


def _multipart(ndjson: str) -> tuple[bytes, str]:
    boundary = "soc-" + uuid.uuid4().hex
    body = (
        f"--{boundary}\r\n"
        'Content-Disposition: form-data; name="file"; filename="soc.ndjson"\r\n'
        "Content-Type: application/ndjson\r\n\r\n"
        f"{ndjson}\r\n"
        f"--{boundary}--\r\n"
    ).encode()
    return body, f"multipart/form-data; boundary={boundary}"


def import_objects(
    kibana_url: str,
    ndjson: str,
    *,
    space: str | None = None,
    username: str | None = None,
    password: str | None = None,
    api_key: str | None = None,
    verify_certs: bool = True,
    ca_certs: Path | None = None,
    timeout: float = 30.0,
) -> ImportResult:
    """Send ``ndjson`` to Kibana; raise KibanaError with every object it refused."""
    parts = urlsplit(kibana_url)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise KibanaError(
            f"not an http(s) URL: {kibana_url!r}", field="--url", hint="e.g. https://kibana.example.lg.jp:5601"
        )
    base = kibana_url.rstrip("/") + (f"/s/{quote(space, safe='')}" if space else "")
    body, content_type = _multipart(ndjson)
    headers = {"kbn-xsrf": "soc", "Content-Type": content_type, "Accept": "application/json"}
    if api_key:
        headers["Authorization"] = f"ApiKey {api_key}"
    elif username and password is not None:
        headers["Authorization"] = "Basic " + base64.b64encode(f"{username}:{password}".encode()).decode()
    context: ssl.SSLContext | None = None
    if parts.scheme == "https":
        context = ssl.create_default_context(cafile=str(ca_certs) if ca_certs else None)
        if not verify_certs:
            context.check_hostname = False
            context.verify_mode = ssl.CERT_NONE
    request = Request(  # noqa: S310 - the scheme is checked above
        f"{base}/api/saved_objects/_import?overwrite=true", data=body, headers=headers, method="POST"
    )
    try:
        with urlopen(request, timeout=timeout, context=context) as response:  # noqa: S310 - scheme checked above
            answer: Any = json.loads(response.read().decode("utf-8"))
    except HTTPError as exc:
        detail = _reason(exc.read())
        raise KibanaError(
            f"Kibana refused the import: HTTP {exc.code}{': ' + detail if detail else ''}",
            hint="check the URL, the space and the credentials (the user needs the saved-objects privilege)",
        ) from exc
    except (URLError, OSError, TimeoutError) as exc:
        reason = getattr(exc, "reason", exc)
        raise KibanaError(f"Kibana at {kibana_url} is unreachable ({reason})", field="--url") from exc
    except json.JSONDecodeError as exc:
        raise KibanaError("Kibana answered with something that is not JSON", field="--url") from exc
    errors = (answer.get("errors") or []) if isinstance(answer, dict) else []
    if errors or not (isinstance(answer, dict) and answer.get("success")):
        lines = [
            f"{e.get('type')}/{e.get('id')}: {(e.get('error') or {}).get('type', 'error')}"
            for e in errors
            if isinstance(e, dict)
        ]
        raise KibanaError(f"Kibana refused {len(lines) or 'some'} object(s): " + "; ".join(lines))
    confirmed = [f"{o.get('type')}/{o.get('id')}" for o in answer.get("successResults") or [] if isinstance(o, dict)]
    return ImportResult(imported=int(answer.get("successCount", len(confirmed))), objects=confirmed)


def _reason(raw: bytes) -> str:
    try:
        body = json.loads(raw.decode("utf-8", errors="replace"))
    except json.JSONDecodeError:
        return ""
    if isinstance(body, dict):
        return str(body.get("message") or body.get("error") or "")[:300]
    return ""
