"""The nightly report to the district command (CSV files, summary, manifest), its schedule
and the copy to a USB stick. See docs/EXPORT.md.

The export itself (kiosk.export.nightly, on SQLAlchemy) is loaded when it is used, not with
the package: the running app's scheduler only looks at the calendar until a day is due."""

from typing import Any

__all__ = ["ExportError", "ExportOptions", "ExportResult", "export_day"]


def __getattr__(name: str) -> Any:
    if name in __all__:
        from kiosk.export import nightly

        return getattr(nightly, name)
    raise AttributeError(name)
