# mypy: disable-error-code="misc"
# (Kivy has no type information: its classes are Any to mypy)
"""A control socket for driving the real app in tests and benchmarks, enabled only when
$KIOSK_UI_TEST_HOOK names a file (the app writes its port there).

One JSON object per line in, one per line out, on 127.0.0.1. Every command runs on the UI
thread between frames. Taps are real touch events dispatched through the window at the
widget's position, so a hidden, covered or disabled widget cannot be tapped; scans are
window text events followed by Enter, the path a USB keyboard-wedge scanner takes.
"""

from __future__ import annotations

import json
import logging
import os
import socket
import threading
import time
from pathlib import Path
from typing import Any

from kivy.app import App
from kivy.clock import Clock
from kivy.core.window import Window
from kivy.uix.behaviors import ButtonBehavior
from kivy.uix.widget import Widget

log = logging.getLogger(__name__)


def find(root: Widget, tid: str) -> Widget | None:
    for w in root.walk():
        if getattr(w, "tid", None) == tid:
            return w
    return None


def visible(w: Widget) -> bool:
    node: Any = w
    while node is not None and node is not node.parent:
        if getattr(node, "opacity", 1) == 0 or getattr(node, "disabled", False):
            return False
        node = node.parent
    return bool(w.width > 0 and w.height > 0)


class TestHook:
    def __init__(self, app: Any, port_file: Path) -> None:
        self.app = app
        self.port_file = port_file

    def start(self) -> None:
        server = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        server.bind(("127.0.0.1", 0))
        server.listen(4)
        tmp = self.port_file.with_suffix(".tmp")
        tmp.write_text(str(server.getsockname()[1]))
        os.replace(tmp, self.port_file)
        threading.Thread(target=self._serve, args=(server,), daemon=True,
                         name="test-hook").start()

    def _serve(self, server: socket.socket) -> None:
        while True:
            conn, _ = server.accept()
            threading.Thread(target=self._client, args=(conn,), daemon=True).start()

    def _client(self, conn: socket.socket) -> None:
        with conn, conn.makefile("rwb") as f:
            for line in f:
                request = json.loads(line)
                reply = self._on_ui_thread(request)
                f.write(json.dumps(reply, ensure_ascii=False).encode() + b"\n")
                f.flush()

    def _on_ui_thread(self, request: dict[str, Any]) -> dict[str, Any]:
        done = threading.Event()
        reply: dict[str, Any] = {}

        def run(_dt: float) -> None:
            try:
                reply.update(getattr(self, "cmd_" + request.pop("cmd"))(**request))
                reply.setdefault("ok", True)
            except Exception as exc:  # noqa: BLE001 - reported to the test
                log.exception("test hook command failed")
                reply.update(ok=False, error=f"{type(exc).__name__}: {exc}")
            done.set()

        Clock.schedule_once(run, 0)
        done.wait(30)
        return reply

    # -- commands ------------------------------------------------------------------------

    def cmd_state(self) -> dict[str, Any]:
        app = self.app
        return {
            "screen": app.sm.current,
            "ready": app.ready_at is not None,
            "ready_at": app.ready_at,
            "now": time.monotonic(),
            "flow": app.flow.snapshot(),
            "signed_in": app.signin.duty.volunteer.name if app.signin.duty else None,
            "signin_message": app.signin.message[0] if app.signin.message else None,
            "admin_message": app.admin.message[0] if app.admin.message else None,
            "pin": len(app.signin.pin),
            "lang": app.lang,
            "thermometer": app.thermo_text,
            "camera": app.camera_text,
            "devices_restarted_on": app.devices_restarted_on,
            "visitor": app.visitor_form.snapshot(),
            "warning": app.warning_text,
            "policy": {"fever_threshold_c": app.gate.policy.fever_threshold_c,
                       "quota_outings": app.gate.policy.quota_outings,
                       "quota_days": app.gate.policy.quota_days},
            "settings_problem": app.settings_watch.problem,
            "settings_pending": app.pending_settings is not None,
            "font": str(app.font_path) if app.font_path else None,
            "size": list(Window.size),
            "timings": [[t.started, t.identified, t.reading, t.result]
                        for t in app.flow.timings],
        }

    def cmd_tap(self, tid: str, times: int = 1) -> dict[str, Any]:
        from kivy.tests.common import UnitTestTouch

        w = find(self.app.sm.current_screen, tid)
        if w is None or not visible(w):
            return {"ok": False, "error": f"no visible widget {tid!r} on {self.app.sm.current}"}
        screen_guarded = getattr(self.app.sm.current_screen, "guarded", lambda: False)
        if self.app.sm.guarded() or screen_guarded():
            return {"ok": False, "error": "screen just changed: touches are ignored briefly"}
        x, y = w.to_window(*w.center)
        for _ in range(times):  # times=2: a doubled touch, as a Pi panel delivers it
            touch = UnitTestTouch(x, y)
            touch.touch_down()
            touch.touch_up()
        return {"pos": [x, y]}

    def cmd_scan(self, text: str, enter: bool = True) -> dict[str, Any]:
        """A keyboard-wedge scan: all characters at scanner speed, then Enter."""
        for ch in text:
            Window.dispatch("on_textinput", ch)
        if enter:
            Window.dispatch("on_key_down", 13, 40, None, [])
        return {}

    def cmd_key(self, key: int) -> dict[str, Any]:
        """A non-text key of a USB keyboard (8 backspace, 9 tab, 13 Enter)."""
        Window.dispatch("on_key_down", key, 0, None, [])
        return {}

    def cmd_set_text(self, tid: str, text: str) -> dict[str, Any]:
        w = find(self.app.sm.current_screen, tid)
        if w is None:
            return {"ok": False, "error": f"no input {tid!r}"}
        w.text = text
        return {}

    def cmd_camera(self, paths: list[str]) -> dict[str, Any]:
        self.app.devices.start_camera([Path(p) for p in paths])
        return {}

    def cmd_screenshot(self, path: str) -> dict[str, Any]:
        target = Path(path)
        made = Window.screenshot(name=str(target.with_name(target.stem + "_.png")))
        if made:
            os.replace(made, target)
        return {"path": str(target)}

    def cmd_widgets(self) -> dict[str, Any]:
        """Visible tapped/labelled widgets of the current screen: id, text, window rect, and
        whether it is a button (any subclass, e.g. a .kv dynamic class of KButton)."""
        out = []
        for w in self.app.sm.current_screen.walk():
            tid = getattr(w, "tid", "")
            if tid and visible(w):
                x, y = w.to_window(w.x, w.y)
                out.append({"tid": tid, "text": getattr(w, "text", ""),
                            "kind": type(w).__name__, "button": isinstance(w, ButtonBehavior),
                            "rect": [x, y, w.width, w.height]})
        return {"widgets": out}

    def cmd_status_bar(self, texts: dict[str, str] | None = None) -> dict[str, Any]:
        """The current screen's status bar: for each label its text, the width the text
        needs unshortened (measured apart from the label) and its rect; ``texts`` first
        sets the app's status texts (``thermo_text``...) and lays the bar out at once, so a
        periodic status update cannot slip in before the measurement."""
        from kiosk.ui.widgets import StatusBar, StatusLabel, text_width

        bar = next((w for w in self.app.sm.current_screen.walk() if isinstance(w, StatusBar)),
                   None)
        if bar is None:
            return {"ok": False, "error": f"no status bar on {self.app.sm.current}"}
        for name, text in (texts or {}).items():
            setattr(self.app, name, text)
        labels = [w for w in reversed(bar.children) if isinstance(w, StatusLabel)]
        for w in labels:
            w.texture_update()
        bar.refit()
        for w in labels:
            w.texture_update()  # at the fitted size: its width follows
        bar.do_layout()
        bx, by = bar.to_window(bar.x, bar.y)
        return {
            "bar": [bx, by, bar.width, bar.height], "fit": bar.fit,
            "labels": [{"tid": w.tid, "text": w.text,
                        "needs": text_width(w.text, w.font_size, w.bold, w.font_name),
                        "font_size": w.font_size,
                        "rect": [*w.to_window(w.x, w.y), w.width, w.height]}
                       for w in labels],
        }

    def cmd_resize(self, width: int, height: int) -> dict[str, Any]:
        Window.size = (width, height)
        return {}

    def cmd_stop(self) -> dict[str, Any]:
        Clock.schedule_once(lambda _dt: App.get_running_app().stop(), 0.1)
        return {}
