"""PDF from a report's HTML, through WeasyPrint (A4, the HTML's print stylesheet).

WeasyPrint needs Pango and HarfBuzz from the operating system and Japanese fonts
(Noto Sans/Serif CJK JP): ``scripts/install-system-deps.sh`` installs them. Rendering
never fetches anything: the HTML is self-contained (inline CSS and SVG), and a
reference smuggled in from a log would be refused rather than fetched.
"""

from __future__ import annotations

from typing import Any

from soc.errors import SocError

__all__ = ["PAGE_ONE_END", "PdfUnavailable", "html_to_pdf"]

PAGE_ONE_END = "page-one-end"  # the anchor a report puts after what must stay on page 1
# Tighter settings tried in turn until page 1 holds everything before PAGE_ONE_END: the
# page-one blocks a little smaller each time; the last also lets the detail follow on the
# same page rather than leave the rest of an overflow page empty.
_FIT = (
    "",
    ".incident .page-one table td, .incident .page-one table th { font-size: 7.9pt; padding: .4mm 1.2mm; }"
    ".incident .bottom-line p, .incident .decision p { font-size: 8.7pt; margin: .4mm 0; }"
    ".incident h2 { margin: 2.5mm 0 1mm; } .incident header .meta { font-size: 8.3pt; }",
    ".incident .page-one table td, .incident .page-one table th { font-size: 7.4pt; padding: .3mm 1mm;"
    " line-height: 1.25; } .incident .bottom-line p, .incident .decision p { font-size: 8.2pt; line-height: 1.3; }"
    ".incident h1 { font-size: 13pt; } .incident h2 { font-size: 10.5pt; margin: 2mm 0 1mm; }",
    ".incident .page-one table td, .incident .page-one table th { font-size: 7pt; padding: .2mm .8mm;"
    " line-height: 1.2; } .incident .bottom-line p, .incident .decision p { font-size: 7.8pt; line-height: 1.25; }"
    ".incident h1 { font-size: 12pt; } .incident h2 { font-size: 10pt; margin: 1.5mm 0 .8mm; }"
    " .detail-start { page-break-before: auto !important; }",
)

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
    """The PDF of a self-contained HTML document; no URL is ever fetched. A document that
    marks the end of its page 1 (``id="page-one-end"``: the incident report's conclusion,
    decision, impact and status) is laid out again, a little tighter each time, until
    that mark is on page 1 — never a page 1 whose status table spilled onto an otherwise
    empty page 2."""
    weasyprint = _weasyprint()
    from weasyprint.urls import URLFetcher

    class _NoFetch(URLFetcher):  # type: ignore[misc]
        def fetch(self, url: str, headers: Any = None) -> Any:
            raise ValueError(f"reports fetch no external resource ({url[:80]})")

    marked = f'id="{PAGE_ONE_END}"' in html and "</head>" in html
    document: Any = None
    for extra in _FIT if marked else _FIT[:1]:
        tighter = html.replace("</head>", f"<style>{extra}</style></head>", 1) if extra else html
        document = weasyprint.HTML(string=tighter, base_url=None, url_fetcher=_NoFetch()).render()
        if not marked or (document.pages and PAGE_ONE_END in document.pages[0].anchors):
            break
    pdf: bytes = document.write_pdf()
    return pdf
