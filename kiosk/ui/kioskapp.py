# mypy: disable-error-code="misc"
# (Kivy has no type information: its classes are Any to mypy)
"""The Kivy application: opens the store, wires the view models to the screens and the
devices to the view models. Screen logic lives in ``vm``, layouts in ``screens``, background
work in ``services``. Import only after ``kiosk.ui.app.configure_kivy`` has run."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

from kivy.app import App
from kivy.clock import Clock
from kivy.core.window import Window
from kivy.properties import BooleanProperty, NumericProperty, StringProperty
from kivy.uix.screenmanager import NoTransition, ScreenManager

from drivers.reader import ReaderState
from drivers.wedge import BurstDetector
from kiosk import settings as settings_mod
from kiosk import sysclock, sysd
from kiosk.core.clock import clock_is_off
from kiosk.core.model import Role
from kiosk.gate import Gate
from kiosk.settings import Settings
from kiosk.store.db import open_store
from kiosk.store.lite import utc_now
from kiosk.ui import i18n, panel
from kiosk.ui.fonts import install_cjk_font
from kiosk.ui.screens import BY_NAME, SCREENS
from kiosk.ui.services import Chores, Devices, ThreadRunner, start_sync, sync_status
from kiosk.ui.settings_watch import SettingsWatch
from kiosk.ui.sounds import Sounds
from kiosk.ui.vm.admin import AdminModel
from kiosk.ui.vm.flow import GateFlow, Phase, ResultView
from kiosk.ui.vm.queries import CASE_STATES, FeverFollowUp, fever_follow_up
from kiosk.ui.vm.signin import SignInModel
from kiosk.ui.vm.status import CAMERA_OFF, CameraState, camera_status, data_age_status
from kiosk.ui.vm.visitor import VisitorForm

log = logging.getLogger(__name__)

DB_FILE = "kiosk.sqlite3"
#: touches are ignored this long after a screen change (the tap that changed it must not
#: land on the new screen, e.g. a double tap on "confirm" hitting the next person's keypad)
SWITCH_GUARD_S = 0.35
ENTER_KEYS = (13, 271)  # Return, keypad Enter
#: demo with a simulated thermometer: F5 normal, F6 fever, F7 unplug / plug back
SIMULATOR_KEYS = {286: "36.5", 287: "38.2", 288: "plug"}


#: how far back the status bar counts this gate's confirmed fevers
FEVER_SHOWN_FOR = timedelta(hours=24)
#: how long a notice (why a tap did nothing) stays on screen, seconds
NOTICE_S = 4.0

class GuardedScreenManager(ScreenManager):
    """Drops touches for a moment after each screen change."""

    switched_at = NumericProperty(0.0)

    def on_current(self, instance: Any, value: str) -> None:
        self.switched_at = time.monotonic()
        super().on_current(instance, value)

    def guarded(self) -> bool:
        return bool(time.monotonic() - self.switched_at < SWITCH_GUARD_S)

    def on_touch_down(self, touch: Any) -> bool:
        if self.guarded():
            return True
        return bool(super().on_touch_down(touch))


class KioskApp(App):
    #: seconds between two looks at the daily chores (backup, nightly export)
    CHORES_EVERY_S = 60.0

    lang = StringProperty("zh")
    #: layout scale: 1.0 at 800x480, everything (type, keys) grows with the screen
    u = NumericProperty(1.0)
    #: pixels per millimetre of the panel (kiosk.ui.panel): touch targets are 15 mm
    mm = NumericProperty(800 / 154)
    #: a portrait panel (taller than wide): the screens stack what landscape puts side by side
    portrait = BooleanProperty(False)
    checkpoint_name = StringProperty("")
    thermo_text = StringProperty("")
    thermo_ok = BooleanProperty(False)
    camera_state = StringProperty("off")
    camera_text = StringProperty("")
    camera_ok = BooleanProperty(False)
    sync_text = StringProperty("")
    #: this gate's confirmed fevers of the last day and the newest one's follow-up
    fever_text = StringProperty("")
    fever_taken = BooleanProperty(False)
    warning_text = StringProperty("")
    duty_text = StringProperty("")
    #: where the time comes from, when it is not a synchronised clock (not a warning)
    clock_text = StringProperty("")
    #: the command's rule set the gate decides with ("" when none: its own settings), shown
    #: after the sync state
    rules_text = StringProperty("")
    #: a short-lived answer to a tap that cannot act now (cleared after NOTICE_S)
    notice = StringProperty("")

    def __init__(self, data_dir: Path, *, simulate_thermometer: bool = False,
                 **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.data_dir = data_dir
        self.simulate_thermometer = simulate_thermometer
        self.title = "Checkpoint Kiosk"
        self.burst = BurstDetector()
        self.sounds = Sounds()
        self.font_path: Path | None = None
        self.camera_state = CAMERA_OFF
        #: the status bar's data-age warning (catalogue key, values), None: none
        self._data_age: tuple[str, dict[str, int]] | None = None
        self.sync_loop: Any = None
        self.chores: Chores | None = None
        self.exports: Any = None  # kiosk.export.scheduler.ExportScheduler, made when first due
        #: the last scheduled export's failure, shown on the gate screen until one succeeds
        self.export_problem: Any = None
        self._thermo_state = ReaderState.STOPPED
        self._clear_notice = Clock.create_trigger(lambda _dt: setattr(self, "notice", ""),
                                                  NOTICE_S)

    # -- wiring --------------------------------------------------------------------------

    def post(self, fn: Callable[[], None]) -> None:
        """Run ``fn`` on the UI thread (callable from any thread)."""
        Clock.schedule_once(lambda _dt: fn(), 0)

    def build(self) -> ScreenManager:
        self.settings: Settings = settings_mod.load(self.data_dir)
        self.settings_watch = SettingsWatch(self.data_dir, self.settings)
        #: changed settings read from the file while a person was being decided
        self.pending_settings: Settings | None = None
        self.lang = self.settings.ui.language
        self.checkpoint_name = self.settings.checkpoint.name
        self.font_path = install_cjk_font()
        self.store = open_store(self.data_dir / DB_FILE)
        self.gate = Gate(self.store, self.settings)
        self.runner = ThreadRunner(self.post)
        self.flow = GateFlow(self.gate, self.runner)
        self.flow.result_listeners.append(self._on_result)
        self.flow.acknowledged_listeners.append(self._poll_fevers)
        self.signin = SignInModel(self.store.db, self.runner, self.settings.checkpoint.id)
        self.visitor_form = VisitorForm()
        self.devices = Devices(self.post, self.flow.on_reading, self._thermometer_state,
                               lambda payload: self._scanned(payload, "qr"), self._camera)
        self.admin = AdminModel(self.data_dir, self.settings, self.runner, self._settings_saved,
                                self._restart_devices, self.devices.probe)
        sm = GuardedScreenManager(transition=NoTransition())
        for entry in SCREENS:
            screen = entry.load()(name=entry.name)
            if entry.model is not None:
                screen.bind_model(getattr(self, entry.model))
            sm.add_widget(screen)
        self.sm = sm
        self.flow.subscribe(self._follow_flow)
        self.signin.subscribe(self._follow_signin)
        Window.bind(on_textinput=self._on_textinput, on_key_down=self._on_key_down,
                    size=lambda *_: self._rescale())
        self._rescale()
        self._thermometer_state(ReaderState.STOPPED)
        self._camera(CAMERA_OFF)
        self._update_warning(None)
        return sm

    def on_start(self) -> None:
        self.signin.load()
        self._start_devices(self.settings)
        Clock.schedule_interval(lambda _dt: self.flow.tick(), 0.2)
        Clock.schedule_interval(lambda _dt: self._poll_status(), 5.0)
        self._poll_status()
        self.sync_loop = start_sync(self.store.db, self.data_dir, self.settings,
                                    lambda: self.post(self._poll_status))
        # a kiosk runs for days: the day's backup and the nightly export (with missed nights)
        # are looked at every minute on the app's clock, done in a thread of their own
        self.chores = Chores([self.store.daily_backup, self._export_due])
        Clock.schedule_interval(lambda _dt: self.chores.due() if self.chores else None,
                                self.CHORES_EVERY_S)
        self.chores.due()  # at once: nights missed while the kiosk was off
        # systemd (kiosk install-service): READY=1 on the first frame, then WATCHDOG=1 from
        # the UI loop, so a frozen UI is restarted, not only a dead process
        Clock.schedule_once(lambda _dt: sysd.ready_and_watched(Clock.schedule_interval), 0)

    def on_stop(self) -> None:
        if self.sync_loop is not None:
            self.sync_loop.stop(2.0)
        if self.chores is not None:
            self.chores.stop()  # an export under way is finished first
            self.chores = None
        self.runner.stop()  # first: a device restart from the admin screen may be running
        self.devices.stop()
        self.gate.close()
        self.store.close()

    def _export_due(self) -> None:
        """The chores' export job (in their thread): every day due, oldest first, with the
        settings as they are now (kiosk.export.scheduler)."""
        if self.exports is None:
            from kiosk.export.scheduler import ExportScheduler

            self.exports = ExportScheduler(self.store.db, self.settings, self.data_dir)
            self.exports.on_status(lambda st: self.post(lambda: self._export_status(st)))
        self.exports.settings = self.settings
        self.exports.run_once()

    def _export_status(self, status: Any) -> None:
        """On the gate screen from the next status tick (within 5 s) until one succeeds."""
        self.export_problem = None if status.ok else status

    def _start_devices(self, settings: Settings) -> None:
        """Start the thermometer and camera of ``settings``; callable from the worker (any
        state change reaches the UI through ``post``)."""
        port = None
        if self.simulate_thermometer and self.devices.simulator is None:
            port = self.devices.start_simulator(settings.thermometer.protocol)
        elif self.devices.simulator is not None:
            port = str(self.devices.simulator.port)
        self.devices.start_thermometer(settings, port)
        if settings.camera.index >= 0:
            self.devices.start_camera(settings.camera.index)
        else:
            self.post(lambda: self._camera(CAMERA_OFF))

    # -- text and layout -----------------------------------------------------------------

    def tr(self, key: str, lang: str | None = None, **fields: object) -> str:
        return i18n.tr(key, lang or self.lang, **fields)

    def toggle_language(self) -> None:
        self.lang = i18n.other(self.lang)
        self.settings.ui.language = self.lang
        self._retranslate()
        lang = self.lang

        def work() -> None:
            # change only the language in the file as it is now: a policy the sync wrote
            # a moment ago, not yet applied here, must not be overwritten by older rules
            settings_mod.update(self.data_dir, lambda fresh: setattr(fresh.ui, "language", lang))

        self.runner.submit(work, lambda _r: None, self.show_error)

    def _retranslate(self) -> None:
        """The status texts set from Python, after a change of language."""
        self._thermometer_state(self._thermo_state)
        self._camera(CameraState(self.camera_state))
        if self.signin.duty is not None:
            self.duty_text = self.tr("on_duty", name=self.signin.duty.volunteer.name)
        self._poll_status()

    def _rescale(self) -> None:
        w, h = Window.size
        self.u = max(0.5, min(w / 800, h / 480))
        self.mm = panel.px_per_mm((w, h), self.settings.ui.panel_width_mm)
        self.portrait = h > w

    def go(self, name: str) -> None:
        if BY_NAME[name].side_trip and self.flow.busy:
            # say why the tap did nothing: the person being measured comes first
            self.notice = self.tr("side_trip_busy")
            self._clear_notice()
            return
        self.sm.current = name

    def show_error(self, exc: BaseException) -> None:
        """A background job failed: the volunteer gets words from the catalogue, the log
        gets the exception (a raw English message means nothing at the gate)."""
        log.error("background job failed", exc_info=exc)
        self.warning_text = self.tr("background_failed")

    # -- following the models ------------------------------------------------------------

    def _follow_flow(self) -> None:
        current = self.sm.current
        if self.flow.phase is Phase.RESULT and BY_NAME[current].yields_to_result:
            self.sm.current = "result"
        elif self.flow.phase is not Phase.RESULT and current == "result":
            self.sm.current = "gate"
        if self.pending_settings is not None and not self.flow.busy:
            self._apply_settings(self.pending_settings)

    def _follow_signin(self) -> None:
        duty = self.signin.duty
        if self.sm.current == "signin" and duty is not None:
            self.flow.volunteer_id = duty.volunteer.id
            self.duty_text = self.tr("on_duty", name=duty.volunteer.name)
            self.sm.current = "gate"
        elif self.sm.current == "signin" and self.signin.admin_ok:
            self.signin.set_mode(Role.VOLUNTEER)
            self.sm.current = "admin"

    def sign_out(self) -> None:
        self.flow.cancel()
        self.signin.sign_out()
        self.flow.volunteer_id = None
        self.duty_text = ""
        self.sm.current = "signin"

    def _on_result(self, result: ResultView) -> None:
        self.sounds.play("pass" if result.allowed else "stop")
        if result.escalate:
            self._poll_fevers()
        if self.sync_loop is not None:
            self.sync_loop.wake()

    def _restart_devices(self, new: Settings) -> None:
        """In the worker, after a save: stopping a camera or a thermometer waits for its
        thread (up to ~2 s), which must not freeze the screen."""
        self.devices.stop_camera()
        self._start_devices(new)

    def _settings_saved(self, new: Settings) -> None:
        """On the UI thread, once the admin screen saved (it restarted the devices)."""
        self.pending_settings = None
        self._use_settings(new)

    def _settings_read(self, new: Settings | None) -> None:
        """On the UI thread: the settings file changed (the sync wrote the command's
        policy, or ``kiosk config set`` ran). Applied at once, or, while a person is being
        looked up, recorded or re-measured, as soon as that person's step is done."""
        if new is None:
            return
        if settings_mod.to_toml(new) == settings_mod.to_toml(self.settings):
            self.pending_settings = None  # our own save, or changed back
            return
        self.pending_settings = new
        if not self.flow.busy:
            self._apply_settings(new)

    def _apply_settings(self, new: Settings) -> None:
        old, self.pending_settings = self.settings, None
        log.info("settings file changed: applying it (fever %.1f C, %d outings in %d days)",
                 new.screening.fever_threshold_c, new.quota.outings, new.quota.days)
        self._use_settings(new)
        self.admin.rebase(new)
        devices = (new.thermometer, new.camera, new.screening.forehead_offset_c)
        if devices != (old.thermometer, old.camera, old.screening.forehead_offset_c):
            # the thermometer applies the forehead offset itself: restart it (in the worker)
            self.runner.submit(lambda: self._restart_devices(new), lambda _r: None,
                               self.show_error)

    def _use_settings(self, new: Settings) -> None:
        """The new gate policy (swapped whole: see ``Gate.apply_settings``), name and
        language."""
        self.settings = new
        self.gate.apply_settings(new)
        self.checkpoint_name = new.checkpoint.name
        self._rescale()  # the panel's size may have been set
        if new.ui.language != self.lang:
            self.lang = new.ui.language
            self._retranslate()

    # -- devices and status --------------------------------------------------------------

    def _thermometer_state(self, state: ReaderState) -> None:
        self._thermo_state = state
        self.thermo_ok = state is ReaderState.CONNECTED
        self.thermo_text = self.tr(f"thermo_{state}")
        self.flow.set_thermometer_state(state)

    def _camera(self, state: CameraState) -> None:
        self.camera_state = state
        key, self.camera_ok = camera_status(state)
        # a camera that was never set up is nothing a volunteer can act on: not shown
        self.camera_text = "" if key == "cam_off" else self.tr(key)

    def _scanned(self, payload: str, how: str) -> None:
        if BY_NAME[self.sm.current].takes_scans and self.signin.duty is not None:
            self.flow.present(payload, how)

    def _on_textinput(self, _window: Any, text: str) -> None:
        now = time.monotonic()
        for ch in text:
            self.burst.feed(ch, now)

    def _on_key_down(self, _window: Any, key: int, *_args: Any) -> bool:
        sim = self.devices.simulator
        if sim is not None and key in SIMULATOR_KEYS:  # demo only: play the thermometer
            action = SIMULATOR_KEYS[key]
            if action == "plug":
                sim.replug() if not sim.plugged else sim.unplug()
            else:
                sim.set_temperature(float(action))
            return True
        if key in ENTER_KEYS:
            payload = self.burst.enter(time.monotonic())
            if payload is not None:
                self._scanned(payload, "scanner")
                return True
        return False

    def _poll_status(self) -> None:
        """Every few seconds and after every sync attempt: has the settings file changed
        (a ``stat`` when it has not), how many events wait, is the clock trusted."""
        self.runner.submit(self.settings_watch.check, self._settings_read,
                           lambda _exc: None)  # logged by the runner; the old settings stay
        db, data_dir, url = self.store.db, self.data_dir, self.settings.sync.url
        hub = self.settings.sync.hub

        gate = self.gate

        def work() -> tuple[int, bool | None, float | None, float | None, bool | None,
                            int | None, Any]:
            waiting, online, offset_s, link, age_s = sync_status(db, data_dir, url, hub)
            return (waiting, online, offset_s, age_s, sysclock.os_clock_synced(),
                    gate.policy.rules_version, link)

        self.runner.submit(work, self._show_status, self.show_error)
        self._poll_fevers()

    def _poll_fevers(self) -> None:
        db = self.store.db
        self.runner.submit(lambda: fever_follow_up(db, utc_now() - FEVER_SHOWN_FOR),
                           self._show_fevers, self.show_error)

    def _show_fevers(self, fevers: list[FeverFollowUp]) -> None:
        """The team leader sees at the gate what became of the newest fever: not called yet,
        awaiting the command, or taken over (the case's latest step, brought by sync)."""
        if not fevers:
            self.fever_text, self.fever_taken = "", False
            return
        newest = fevers[0]
        key = ("case_" + newest.state if newest.state in CASE_STATES else "case_open") \
            if newest.acknowledged or newest.taken_over else "case_not_called"
        self.fever_text = self.tr("fever_status", n=len(fevers), state=self.tr(key))
        self.fever_taken = newest.taken_over

    def _show_status(self, status: tuple[int, bool | None, float | None, float | None,
                                         bool | None, int | None, Any]) -> None:
        waiting, online, offset_s, age_s, synced, version, link = status
        link_kind = getattr(getattr(link, "link", None), "value", "")
        stale = getattr(link, "stale_since", None)
        self.rules_text = "" if version is None else self.tr("rules_version", version=version)
        if online is None:
            sync = self.tr("sync_off")  # nothing to send: the count says nothing
        elif stale is not None:  # the other gates may have let someone out since then
            sync = self.tr("sync_stale", time=f"{stale.astimezone():%H:%M}")  # zone set now
        elif link_kind == "hub_never":  # nothing has left the compound yet
            sync = self.tr("sync_hub_never")
        elif link_kind == "hub_alone":
            sync = self.tr("sync_hub_alone")
        elif online and not waiting:
            sync = self.tr("sync_hub" if link_kind == "hub" else "sync_done")
        else:
            sync = self.tr("sync_waiting", count=waiting)
        # the command's rule set beside the sync state (a label of its own would take the
        # bar's spacing even when empty)
        self.sync_text = f"{sync} {self.rules_text}" if self.rules_text else sync
        # the command's data is only expected once the kiosk syncs with it
        self._data_age = data_age_status(age_s, self.settings.sync.data_max_age_h) \
            if online is not None else None
        self._update_warning(synced, offset_s)

    def _update_warning(self, synced: bool | None, offset_s: float | None = None) -> None:
        warnings = []
        if self.flow.stopped is not None:
            warnings.append(self.tr(self.flow.stopped))
        if self.store.backup_problem:
            warnings.append(self.tr("backup_failed"))
        if self.export_problem is not None:  # its own words, in both languages
            warnings.append(self.export_problem.message_zh if self.lang == "zh"
                            else self.export_problem.message_en)
        if self.font_path is None:
            warnings.append(self.tr("no_font"))
        # an offline kiosk's own clock is the normal case: said calmly (where the time
        # comes from); red only when the clock is known to be wrong
        self.clock_text = self.tr("clock_untrusted") if (
            synced is False and self.settings.device.require_clock_sync) else ""
        if offset_s is not None and clock_is_off(offset_s):
            # measured against the central store at the last sync: the gates compare
            # movements by their clocks, so the team leader must set this one
            minutes = max(1, round(abs(offset_s) / 60))
            warnings.append(self.tr("clock_fast" if offset_s > 0 else "clock_slow",
                                    minutes=minutes))
        if self._data_age is not None:  # a warning only: the gate keeps deciding
            key, values = self._data_age
            warnings.append(self.tr(key, None, **values))
        self.warning_text = "  ".join(warnings)
