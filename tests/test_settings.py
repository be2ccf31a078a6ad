"""Settings live in a TOML file in the data directory; mistakes are named, not ignored."""

from __future__ import annotations

from pathlib import Path

import pytest

from kiosk import settings as s
from kiosk.settings import SettingsError


def test_first_load_writes_defaults_with_a_device_id(tmp_path: Path):
    first = s.load(tmp_path)
    assert (tmp_path / "settings.toml").exists()
    assert len(first.device.id) == 36
    assert s.load(tmp_path).device.id == first.device.id  # stable across starts
    assert first.screening.fever_threshold_c == 37.3 and first.ui.language == "zh"
    assert first.policy().quota_outings == 1 and first.policy().quota_days == 2


def test_set_value_parses_types_and_validates(tmp_path: Path):
    cfg = s.load(tmp_path)
    s.set_value(cfg, "screening.fever_threshold_c", "37.5")
    s.set_value(cfg, "device.require_clock_sync", "false")
    s.set_value(cfg, "fever.leader_phone", "13800138000")
    s.save(tmp_path, cfg)
    again = s.load(tmp_path)
    assert again.screening.fever_threshold_c == 37.5
    assert again.device.require_clock_sync is False
    assert again.fever.leader_phone == "13800138000"  # the escalation screen shows it
    assert again.checkpoint.courier_surname == "skip"  # a courier's phone is enough
    for key, value in [("screening.fever_threshold_c", "hot"), ("ui.language", "fr"),
                       ("checkpoint.direction_mode", "sideways"), ("nope.key", "1"),
                       ("export.time", "25:99"), ("screening.fever_threshold_c", "45"),
                       ("fever.observation_point", "3号楼" * 20),
                       ("checkpoint.courier_surname", "never")]:
        with pytest.raises(SettingsError):
            s.set_value(cfg, key, value)


@pytest.mark.parametrize(
    ("toml", "message"),
    [
        ("[screening]\nfever_threshhold_c = 37.3\n", "unknown setting screening.fever_thresh"),
        ("[screening]\nfever_threshold_c = 'high'\n", "must be float"),
        ("[whatever]\nx = 1\n", "unknown settings section"),
        ("this is = = not toml", "not valid TOML"),
    ],
)
def test_a_broken_settings_file_is_refused_with_the_reason(tmp_path: Path, toml, message):
    (tmp_path / "settings.toml").write_text(toml, encoding="utf-8")
    with pytest.raises(SettingsError, match=message):
        s.load(tmp_path)


def test_data_dir_from_option_then_environment(monkeypatch, tmp_path: Path):
    monkeypatch.setenv("KIOSK_DATA_DIR", str(tmp_path / "env"))
    assert s.resolve_data_dir(str(tmp_path / "opt")) == (tmp_path / "opt").resolve()
    assert s.resolve_data_dir(None) == (tmp_path / "env").resolve()
    monkeypatch.delenv("KIOSK_DATA_DIR")
    assert s.resolve_data_dir(None) == s.default_data_dir()


def test_concurrent_saves_never_show_half_a_file(tmp_path: Path):
    """The sync thread and the app's worker may save at the same moment: each save goes
    through its own temporary file, so the settings file is always one whole save."""
    import threading
    import tomllib

    base = s.load(tmp_path)
    base.checkpoint.name = "门" * 50
    s.save(tmp_path, base)
    errors: list[BaseException] = []
    stop = threading.Event()

    def writer(outings: int) -> None:
        cfg = s.load(tmp_path)
        cfg.quota.outings = outings
        cfg.checkpoint.name = "门" * (50 * outings)  # two writers, two file sizes
        try:
            for _ in range(150):
                s.save(tmp_path, cfg)
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    def reader() -> None:
        while not stop.is_set():
            text = (tmp_path / "settings.toml").read_text(encoding="utf-8")
            try:
                data = tomllib.loads(text)
                assert len(data["checkpoint"]["name"]) == 50 * data["quota"]["outings"]
            except BaseException as exc:  # noqa: BLE001 - reported below
                errors.append(exc)
                return

    threads = [threading.Thread(target=writer, args=(n,)) for n in (1, 2)]
    watching = threading.Thread(target=reader)
    watching.start()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    stop.set()
    watching.join()
    assert not errors, errors[:3]
    assert s.load(tmp_path).device.id == base.device.id
    assert sorted(f.name for f in tmp_path.iterdir()) == ["settings.toml"]  # no temp left


def _raise_quota_days(data_dir: str, n: int) -> None:
    """In another process: ``n`` read-change-saves, each adding one day to quota.days."""
    for _ in range(n):
        s.update(Path(data_dir), lambda cfg: setattr(cfg.quota, "days", cfg.quota.days + 1))


def test_concurrent_changes_are_never_lost(tmp_path: Path):
    """The sync writing the command's policy, an admin saving the form and ``kiosk config
    set`` each change the file as it is at that moment, one at a time: no change undoes
    another (without the lock, these read-change-saves lose most increments)."""
    import multiprocessing
    import threading

    s.update(tmp_path, lambda cfg: setattr(cfg.quota, "days", 1))
    ctx = multiprocessing.get_context("spawn")
    procs = [ctx.Process(target=_raise_quota_days, args=(str(tmp_path), 40)) for _ in range(2)]
    threads = [threading.Thread(target=_raise_quota_days, args=(str(tmp_path), 40))
               for _ in range(2)]
    for w in [*procs, *threads]:
        w.start()
    for w in [*procs, *threads]:
        w.join()
    assert [p.exitcode for p in procs] == [0, 0]
    assert s.load(tmp_path).quota.days == 1 + 160


def test_update_leaves_an_unchanged_file_alone(tmp_path: Path):
    s.load(tmp_path)
    before = (tmp_path / "settings.toml").stat().st_mtime_ns
    s.update(tmp_path, lambda cfg: setattr(cfg.quota, "outings", cfg.quota.outings))
    assert (tmp_path / "settings.toml").stat().st_mtime_ns == before


def test_a_fresh_kiosk_decides_with_the_core_default_fever_threshold(tmp_path: Path):
    """The default is written once (kiosk.core.policy): settings and the core agree."""
    from kiosk.core.policy import DEFAULT_FEVER_THRESHOLD_C, Policy

    fresh = s.load(tmp_path).policy()
    assert fresh.fever_threshold_c == Policy().fever_threshold_c == DEFAULT_FEVER_THRESHOLD_C
    assert f"fever_threshold_c = {DEFAULT_FEVER_THRESHOLD_C}" in s.to_toml(s.load(tmp_path))


def test_the_screening_ranges_are_the_ones_the_event_records_and_the_server_accepts():
    """One definition per rule: the settings check the ranges kiosk.core.event defines (the
    central store refuses an event outside them), the same objects, and exactly to their
    bounds."""
    from kiosk.core import event

    assert s.FEVER_THRESHOLD_RANGE_C is event.FEVER_THRESHOLD_RANGE_C
    assert s.FOREHEAD_OFFSET_RANGE_C is event.FOREHEAD_OFFSET_RANGE_C
    for key, (low, high) in (("screening.fever_threshold_c", event.FEVER_THRESHOLD_RANGE_C),
                             ("screening.forehead_offset_c", event.FOREHEAD_OFFSET_RANGE_C)):
        for ok in (low, high):
            s.set_value(s.Settings(), key, str(ok))
        for bad in (low - 0.01, high + 0.01):
            with pytest.raises(SettingsError, match=f"between {low} and {high}"):
                s.set_value(s.Settings(), key, str(bad))


def test_config_set_takes_a_negative_number_as_the_value(tmp_path: Path):
    """``kiosk config set camera.index -1`` needed ``--`` before the value (click read -1
    as an unknown option)."""
    from click.testing import CliRunner

    from kiosk.cli import main

    for key, value in (("camera.index", "-1"), ("screening.forehead_offset_c", "-0.5")):
        r = CliRunner().invoke(main, ["--data-dir", str(tmp_path), "config", "set", key, value])
        assert r.exit_code == 0, r.output
    loaded = s.load(tmp_path)
    assert (loaded.camera.index, loaded.screening.forehead_offset_c) == (-1, -0.5)


def test_a_refused_value_leaves_the_setting_as_it_was_in_memory_and_on_disk(tmp_path: Path):
    """A refused ``set_value`` (``kiosk config set``, a command policy out of this kiosk's
    range) used to stay in the object: whoever read the setting next got the refused value,
    and the next save wrote it or failed the whole save."""
    cfg = s.load(tmp_path)
    s.set_value(cfg, "screening.fever_threshold_c", "37.5")
    for key, bad in [("screening.fever_threshold_c", "45"), ("ui.language", "fr"),
                     ("quota.days", "0"), ("fever.leader_phone", "1" * 41)]:
        before = s.to_toml(cfg)
        with pytest.raises(SettingsError):
            s.set_value(cfg, key, bad)
        assert s.to_toml(cfg) == before, key
    assert cfg.screening.fever_threshold_c == 37.5
    s.save(tmp_path, cfg)  # the object is still whole: it saves
    # and in a locked read-change-save (what the sync and the admin form use), one refused
    # value among good ones: the good ones are saved, the refused one never reaches the file
    def change(fresh: s.Settings) -> None:
        for key, value in {"quota.days": "3", "screening.fever_threshold_c": "45"}.items():
            try:
                s.set_value(fresh, key, value)
            except SettingsError:
                continue

    saved = s.update(tmp_path, change)
    assert saved.quota.days == 3 and saved.screening.fever_threshold_c == 37.5
    on_disk = s.load(tmp_path)
    assert on_disk.quota.days == 3 and on_disk.screening.fever_threshold_c == 37.5
