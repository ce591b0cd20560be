"""PDF from a report's HTML, through WeasyPrint (A4, the HTML's print stylesheet).

WeasyPrint needs Pango and HarfBuzz from the operating system and Japanese fonts
(Noto Sans/Serif CJK JP): ``scripts/install-system-deps.sh`` installs them. Rendering
never fetches anything: the HTML is self-contained (inline CSS and SVG), and a
reference smuggled in from a log would be refused rather than fetched.
"""

from __future__ import annotations

from typing import Any

from soc.errors import SocError

__all__ = ["PdfUnavailable", "html_to_pdf"]

_HINT = "run scripts/install-system-deps.sh (Pango, HarfBuzz, Noto CJK fonts) and pip install weasyprint"


class PdfUnavailable(SocError):
    """WeasyPrint or the system libraries it needs are missing."""


def _weasyprint() -> Any:
    try:
        import weasyprint
    except (ImportError, OSError) as exc:  # OSError: a system library failed to load
        raise PdfUnavailable(f"PDF output needs WeasyPrint: {exc}", hint=_HINT) from exc
    return weasyprint


def html_to_pdf(html: str) -> bytes:
    """The PDF of a self-contained HTML document; no URL is ever fetched."""
    weasyprint = _weasyprint()
    from weasyprint.urls import URLFetcher

    class _NoFetch(URLFetcher):  # type: ignore[misc]
        def fetch(self, url: str, headers: Any = None) -> Any:
            raise ValueError(f"reports fetch no external resource ({url[:80]})")

    pdf: bytes = weasyprint.HTML(string=html, base_url=None, url_fetcher=_NoFetch()).write_pdf()
    return pdf
