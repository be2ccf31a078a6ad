"""The kiosk app as the UI tests and benchmarks run it: the real ``KioskApp``, subclassed
here (test code stays out of the product, as kivy keeps its harness in kivy/tests), plus a
control socket the test process drives it through.

    python tests/ui/ui_app.py --data-dir DIR --size 800x480 --port-file FILE

The app writes the socket's port to FILE once started. One JSON object per line in, one per
line out, on 127.0.0.1. Every command runs on the UI thread between frames. Taps are real
touch events dispatched through the window at the widget's position, so a hidden, covered or
disabled widget cannot be tapped; scans are window text events followed by Enter, the path a
USB keyboard-wedge scanner takes.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import socket
import sys
import threading
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from kiosk.ui.app import configure_kivy  # noqa: E402

log = logging.getLogger("ui_app")


def find(root: Any, tid: str) -> Any:
    for w in root.walk():
        if getattr(w, "tid", None) == tid:
            return w
    return None


def visible(w: Any) -> bool:
    node: Any = w
    while node is not None and node is not node.parent:
        if getattr(node, "opacity", 1) == 0 or getattr(node, "disabled", False):
            return False
        node = node.parent
    return bool(w.width > 0 and w.height > 0)


def clipped(w: Any, x: float, y: float) -> bool:
    """The window point (x, y) of ``w`` lies outside a scroll view it is in: a finger there
    touches something else."""
    from kivy.uix.scrollview import ScrollView

    node: Any = w.parent
    while node is not None and node is not node.parent:
        if isinstance(node, ScrollView):
            left, bottom = node.to_window(node.x, node.y)
            if not (left <= x <= left + node.width and bottom <= y <= bottom + node.height):
                return True
        node = node.parent
    return False


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
        from kivy.clock import Clock

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
        from kivy.core.window import Window

        app = self.app
        return {
            "screen": app.sm.current,
            "ready": app.ready_at is not None,
            "ready_at": app.ready_at,
            "now": time.monotonic(),
            "flow": flow_state(app.flow),
            "signed_in": app.signin.duty.volunteer.name if app.signin.duty else None,
            "signin_message": app.signin.message[0] if app.signin.message else None,
            "admin_message": app.admin.message[0] if app.admin.message else None,
            "pin": len(app.signin.pin),
            "lang": app.lang,
            "thermometer": app.thermo_text,
            "camera": app.camera_text,
            "fever": app.fever_text,
            "devices_restarted_on": app.devices_restarted_on,
            "visitor": visitor_state(app.visitor_form),
            "warning": app.warning_text,
            "rules": app.rules_text,
            "sync": app.sync_text,
            "policy": {"fever_threshold_c": app.gate.policy.fever_threshold_c,
                       "quota_outings": app.gate.policy.quota_outings,
                       "quota_days": app.gate.policy.quota_days},
            "settings_problem": app.settings_watch.problem,
            "settings_pending": app.pending_settings is not None,
            "font": str(app.font_path) if app.font_path else None,
            "size": list(Window.size),
            "timings": app.timings,
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
        if clipped(w, x, y):
            return {"ok": False, "error": f"{tid!r} is scrolled out of sight"}
        for _ in range(times):  # times=2: a doubled touch, as a Pi panel delivers it
            touch = UnitTestTouch(x, y)
            touch.touch_down()
            touch.touch_up()
        return {"pos": [x, y]}

    def cmd_drag(self, tid: str, dy: float) -> dict[str, Any]:
        """A finger drag of ``dy`` pixels (positive: up) starting on a widget, in steps a
        frame apart, as a touchscreen delivers a swipe."""
        from kivy.tests.common import UnitTestTouch

        w = find(self.app.sm.current_screen, tid)
        if w is None or not visible(w):
            return {"ok": False, "error": f"no visible widget {tid!r}"}
        x, y = w.to_window(*w.center)
        touch = UnitTestTouch(x, y)
        touch.touch_down()
        steps = 8
        for i in range(1, steps + 1):
            touch.touch_move(x, y + dy * i / steps)
        touch.touch_up()
        return {}

    def cmd_scan(self, text: str, enter: bool = True) -> dict[str, Any]:
        """A keyboard-wedge scan: all characters at scanner speed, then Enter."""
        from kivy.core.window import Window

        for ch in text:
            Window.dispatch("on_textinput", ch)
        if enter:
            Window.dispatch("on_key_down", 13, 40, None, [])
        return {}

    def cmd_key(self, key: int) -> dict[str, Any]:
        """A non-text key of a USB keyboard (8 backspace, 9 tab, 13 Enter)."""
        from kivy.core.window import Window

        Window.dispatch("on_key_down", key, 0, None, [])
        return {}

    def cmd_camera(self, paths: list[str]) -> dict[str, Any]:
        self.app.devices.start_camera([Path(p) for p in paths])
        return {}

    def cmd_screenshot(self, path: str) -> dict[str, Any]:
        from kivy.core.window import Window

        target = Path(path)
        made = Window.screenshot(name=str(target.with_name(target.stem + "_.png")))
        if made:
            os.replace(made, target)
        return {"path": str(target)}

    def cmd_widgets(self) -> dict[str, Any]:
        """Visible tapped/labelled widgets of the current screen: id, text, window rect, and
        whether it is a button (any subclass, e.g. a .kv dynamic class of KButton)."""
        from kivy.uix.behaviors import ButtonBehavior

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
        from kivy.core.window import Window

        Window.size = (width, height)
        return {}

    def cmd_inspect(self) -> dict[str, Any]:
        """Layout problems of the current screen (see layout_inspect.py), after a layout
        pass so the tree is at its final size."""
        from kivy.core.window import Window
        from layout_inspect import inspect

        Window.canvas.ask_update()
        for w in self.app.sm.current_screen.walk():
            if hasattr(w, "do_layout"):
                w.do_layout()
        return {"problems": inspect(self.app.sm.current_screen, self.app.sm.current,
                                    self.app.mm), "mm": self.app.mm,
                "size": list(Window.size)}

    def cmd_language(self, lang: str) -> dict[str, Any]:
        """Switch the language as the sign-in screen's button does, without saving it."""
        self.app.lang = lang
        self.app._retranslate()
        return {}

    def cmd_go(self, name: str) -> dict[str, Any]:
        """Open a screen directly (the admin screen after an admin's sign-in)."""
        self.app.sm.current = name
        return {}

    def cmd_stop(self) -> dict[str, Any]:
        from kivy.clock import Clock

        Clock.schedule_once(lambda _dt: self.app.stop(), 0.1)
        return {}


def flow_state(flow: Any) -> dict[str, Any]:
    """The gate flow as plain data (read from its public attributes)."""
    r = flow.result
    return {
        "phase": flow.phase.value,
        "direction": flow.direction.value if flow.direction is not None else None,
        "chosen": flow.chosen.value if flow.chosen is not None else None,
        "papers": flow.papers.value if flow.papers is not None else None,
        "person": None if flow.person is None else {
            "number": flow.person.number, "name": flow.person.name_masked,
            "place": flow.person.place, "kind": flow.person.kind},
        "readings": len(flow.readings),
        "manual_mode": flow.manual_mode,
        "manual_text": flow.manual_text,
        "message": flow.message[0] if flow.message else None,
        "countdown": flow.countdown_left,
        "search_query": flow.search_query,
        "search_hits": [h.number for h in flow.search_hits],
        "result": None if r is None else {
            "outcome": r.outcome.value, "reason": r.reason.value, "escalate": r.escalate,
            "findings": [f.value for f in r.findings], "direction": r.direction.value,
            "event_id": r.event_id, "name": r.person.name_masked},
        "thermometer": flow.thermometer_state.value,
    }


def visitor_state(form: Any) -> dict[str, Any]:
    return {"field": form.field, "pad": form.pad(), "page": form.page, "name": form.name,
            "phone": form.phone, "building": form.host_building, "reason": form.reason,
            "message": form.message[0] if form.message else None}


def app_class() -> Any:
    """``KioskApp`` with the hook, the start-up mark and the per-person timings; defined
    after Kivy is configured (importing kioskapp opens the window)."""
    from kivy.clock import Clock

    from kiosk.ui.kioskapp import KioskApp
    from kiosk.ui.vm.flow import Phase

    class AppUnderTest(KioskApp):  # type: ignore[misc, valid-type]
        #: a test of the daily chores looks at them every fraction of a second
        CHORES_EVERY_S = float(os.environ.get("KIOSK_TEST_CHORES_S")
                               or KioskApp.CHORES_EVERY_S)

        def __init__(self, data_dir: Path, port_file: Path, **kwargs: Any) -> None:
            super().__init__(data_dir, **kwargs)
            self.port_file = port_file
            self.ready_at: float | None = None
            #: the thread that last restarted the devices (a test checks it is the worker)
            self.devices_restarted_on = ""
            #: per person, time.monotonic() marks: scan received, identified, reading
            #: taken (recording starts), result shown; stamped by a listener of the flow
            self.timings: list[list[float]] = []
            self._marks: list[float] = []

        def on_start(self) -> None:
            super().on_start()
            self.flow.subscribe(self._stamp)
            TestHook(self, self.port_file).start()
            Clock.schedule_once(self._mark_ready, 0)

        def _mark_ready(self, _dt: float) -> None:
            self.ready_at = time.monotonic()

        def _stamp(self) -> None:
            phase, now = self.flow.phase, time.monotonic()
            if phase is Phase.LOOKING_UP:
                self._marks = [now]
            elif phase is Phase.MEASURING and len(self._marks) == 1:
                self._marks.append(now)
            elif phase is Phase.RECORDING and len(self._marks) == 2:
                self._marks.append(now)
            elif phase is Phase.RESULT and len(self._marks) == 3:
                self.timings.append([*self._marks, now])
                self._marks = []

        def _restart_devices(self, new: Any) -> None:
            self.devices_restarted_on = threading.current_thread().name
            super()._restart_devices(new)

    return AppUnderTest


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data-dir", type=Path, required=True)
    ap.add_argument("--size", default="800x480")
    ap.add_argument("--port-file", type=Path, required=True)
    args = ap.parse_args()
    width, height = (int(x) for x in args.size.lower().split("x"))
    configure_kivy(args.data_dir, windowed=True, size=(width, height))
    app_class()(args.data_dir, args.port_file).run()


if __name__ == "__main__":
    main()
