"""Settings changed while the app runs (the sync writes the command's policy into
settings.toml): the running app applies them by itself, whole, between decisions, and a
broken file changes nothing. The last test drives the real app under Xvfb."""

from __future__ import annotations

from pathlib import Path

from ui_testkit import kiosk, passes, sim, wait_until, xvfb  # noqa: F401 - fixtures

from kiosk import settings as settings_mod
from kiosk.core.model import Direction
from kiosk.core.screening import make_reading
from kiosk.ui.settings_watch import SettingsWatch
from kiosk.ui.vm.admin import AdminModel
from kiosk.ui.vm.base import InlineRunner


def sync_writes(data_dir: Path, policy: dict[str, str]) -> None:
    """What ``Syncer._apply_policy`` does with a downloaded policy: load, ``set_value`` each
    rule as the server sends it, save (atomically)."""
    s = settings_mod.load(data_dir)
    for key, value in policy.items():
        settings_mod.set_value(s, key, value)
    settings_mod.save(data_dir, s)


def write_in_place(data_dir: Path, text: str) -> None:
    """A writer that is not atomic (an editor, a copy): the file holds ``text`` for now."""
    with open(data_dir / settings_mod.SETTINGS_FILE, "w", encoding="utf-8") as fh:
        fh.write(text)


def test_the_watch_reads_a_replaced_file_once_and_never_a_broken_one(data_dir: Path):
    current = settings_mod.load(data_dir)
    watch = SettingsWatch(data_dir, current)
    first = watch.check()  # the first look reads the file: the same as in use
    assert first is not None and settings_mod.to_toml(first) == settings_mod.to_toml(current)
    assert watch.check() is None  # unchanged: only a stat
    sync_writes(data_dir, {"quota.outings": "3", "screening.fever_threshold_c": "37.0"})
    new = watch.check()
    assert new is not None and new.policy().quota_outings == 3
    assert new.policy().fever_threshold_c == 37.0
    assert watch.check() is None

    whole = settings_mod.to_toml(new).replace("outings = 3", "outings = 0")
    write_in_place(data_dir, whole[: len(whole) // 2])  # cut off mid-write
    assert watch.check() is None and watch.problem
    write_in_place(data_dir, whole.replace("days = 2", 'days = "two"', 1))  # wrong type
    assert watch.check() is None and "quota.days" in (watch.problem or "")
    write_in_place(data_dir, whole)  # the writer finished
    done = watch.check()
    assert done is not None and done.quota.outings == 0 and watch.problem is None


def test_the_watch_never_changes_the_device_identity(data_dir: Path):
    current = settings_mod.load(data_dir)
    watch = SettingsWatch(data_dir, current)
    text = settings_mod.to_toml(current).replace(current.device.id, "")
    write_in_place(data_dir, text.replace("outings = 1", "outings = 2"))
    new = watch.check()
    assert new is not None and new.quota.outings == 2
    assert new.device.id == current.device.id
    # and reading it wrote nothing (``load`` would have written a fresh device id)
    assert (data_dir / settings_mod.SETTINGS_FILE).read_text(encoding="utf-8") == \
        text.replace("outings = 1", "outings = 2")


def test_a_decision_in_progress_keeps_the_rules_it_started_with(gate, clock, settings):
    """The swap happens while ``Gate.check`` runs (here: when it reads the clock, after
    the quota window and before the decision): the decision and its record use the old
    policy whole; the next decision uses the new one whole."""
    import copy

    new = copy.deepcopy(settings)
    new.screening.fever_threshold_c, new.quota.outings = 36.0, 0
    real_sample = clock.sample
    swapped = []

    def sample_and_swap():  # noqa: ANN202
        if not swapped:
            swapped.append(True)
            gate.apply_settings(new)
        return real_sample()

    gate._clock = sample_and_swap
    first = gate.check("R0003", [make_reading(36.5)], direction=Direction.OUT)
    assert swapped and first.decision.allowed  # 36.5 < 37.3: no fever under the old rules
    second = gate.check("R0001", [make_reading(36.5)], direction=Direction.OUT)
    assert second.decision.reason.value == "fever_remeasure"  # 36.5 >= 36.0
    with gate.store.engine.connect() as conn:
        rows = conn.exec_driver_sql(
            "select pass_number, fever_threshold_c from gate_events order by seq").all()
    assert rows == [("R0003", 37.3), ("R0001", 36.0)]


def test_admin_form_follows_a_downloaded_policy_but_keeps_the_admins_edits(data_dir: Path):
    s = settings_mod.load(data_dir)
    saved = []
    admin = AdminModel(data_dir, s, InlineRunner(), saved.append)
    admin.set("checkpoint.name", "南门")  # the admin is typing
    # meanwhile the sync writes the command's policy; the app's watcher rebases the form
    settings_mod.update(data_dir, lambda c: setattr(c.quota, "outings", 3))
    admin.rebase(settings_mod.load(data_dir))
    assert admin.values["quota.outings"] == "3" and admin.values["checkpoint.name"] == "南门"
    assert admin.save()
    again = settings_mod.load(data_dir)
    assert again.quota.outings == 3 and again.checkpoint.name == "南门"


def test_an_admin_save_does_not_undo_a_policy_written_while_the_form_was_open(
        data_dir: Path):
    s = settings_mod.load(data_dir)
    admin = AdminModel(data_dir, s, InlineRunner(), lambda _s: None)
    admin.set("checkpoint.name", "北门")
    # the sync writes the command's rules before the app's watcher has seen them
    settings_mod.update(data_dir, lambda c: setattr(c.quota, "outings", 0))
    assert admin.save()
    again = settings_mod.load(data_dir)
    assert again.checkpoint.name == "北门" and again.quota.outings == 0


def test_policy_written_by_the_sync_applies_in_the_running_app(kiosk, data_dir, sim):  # noqa: F811
    """Two outings per household, then the command lowers the quota to one and the fever
    threshold to 36.4: the running app applies both, with no restart."""
    sync_writes(data_dir, {"quota.outings": "2"})
    app = kiosk()
    app.sign_in()
    assert app.state()["policy"]["quota_outings"] == 2
    app.tap("dir_out")
    app.scan("R0001")  # household 3-1-402, first outing
    app.wait_screen("result")
    assert app.flow()["result"]["outcome"] == "allow"
    app.tap("result_word")
    app.wait_screen("gate")

    sync_writes(data_dir, {"quota.outings": "1"})
    wait_until(lambda: app.state()["policy"]["quota_outings"] == 1, what="quota applied")
    app.tap("dir_out")
    app.scan("R0002")  # the same household: its one outing is used
    app.wait_screen("result")
    assert app.flow()["result"]["reason"] == "quota_used"
    app.tap("result_word")
    app.wait_screen("gate")

    # a file caught half-written: nothing changes, nothing alarming is shown, app is fine
    whole = (data_dir / settings_mod.SETTINGS_FILE).read_text(encoding="utf-8")
    write_in_place(data_dir, whole[: whole.index("[quota]") + 12])
    state = wait_until(lambda: (s := app.state())["settings_problem"] and s,
                       what="broken file noticed")
    assert state["policy"]["quota_outings"] == 1 and state["warning"] == ""
    assert app.proc.poll() is None
    write_in_place(data_dir, whole)

    sync_writes(data_dir, {"screening.fever_threshold_c": "36.4"})
    wait_until(lambda: app.state()["policy"]["fever_threshold_c"] == 36.4,
               what="threshold applied")
    assert app.state()["settings_problem"] is None
    app.scan("R0003")  # 36.5 on the forehead is now a fever: re-measure
    app.wait_phase("countdown")
    rows = app.db("select pass_number, outcome, reason, fever_threshold_c from gate_events "
                  "order by seq")
    assert rows == [("R0001", "allow", "ok", 37.3), ("R0002", "deny", "quota_used", 37.3),
                    ("R0003", "remeasure", "fever_remeasure", 36.4)]
