"""Reports for people: self-contained HTML pages with inline SVG charts."""

from suanli.adapters.report.page import render_html

__all__ = ["render_html"]
