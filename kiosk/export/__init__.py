"""The nightly report to the district command (CSV files, summary, manifest), its schedule
and the copy to a USB stick. See docs/EXPORT.md."""

from kiosk.export.nightly import ExportError, ExportOptions, ExportResult, export_day

__all__ = ["ExportError", "ExportOptions", "ExportResult", "export_day"]
