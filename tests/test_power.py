"""On battery or on mains: read from a power_supply folder laid out as Linux's sysfs lays it out."""

from __future__ import annotations

import time

from prefrec import power
from prefrec.config import load_settings
from prefrec.daemon import Daemon
from prefrec.service import Service


def supply(root, name, **files):
    folder = root / name
    folder.mkdir(parents=True)
    for key, value in files.items():
        (folder / key).write_text(value + "\n")


def test_a_laptop_on_mains_on_battery_and_a_desktop(tmp_path):
    laptop = tmp_path / "laptop"
    supply(laptop, "AC", type="Mains", online="1")
    supply(laptop, "BAT0", type="Battery", status="Charging")
    assert power.on_battery(laptop) is False
    (laptop / "AC" / "online").write_text("0\n")
    (laptop / "BAT0" / "status").write_text("Discharging\n")
    assert power.on_battery(laptop) is True
    supply(laptop, "hidpp_battery_0", type="Battery", scope="Device", status="Discharging")  # a mouse
    (laptop / "BAT0" / "status").write_text("Full\n")
    assert power.on_battery(laptop) is False  # a wireless mouse's battery is not the machine's
    desktop = tmp_path / "desktop"
    desktop.mkdir()
    assert power.on_battery(desktop) is False
    assert power.on_battery(tmp_path / "absent") is False


def test_the_daemon_defers_the_full_fine_tune_on_battery_only_when_set(tmp_path, monkeypatch):
    sysfs = tmp_path / "sys"
    supply(sysfs, "AC", type="Mains", online="0")
    supply(sysfs, "BAT0", type="Battery", status="Discharging")
    monkeypatch.setattr(power, "POWER_SUPPLY", sysfs)
    home = tmp_path / "home"
    home.mkdir()
    with Service(load_settings(home, full_retrain_quiet_s=0)) as service:
        model_id = service.store.add_model("models/m.pt", {"head_update": {"encoder_model_id": 1}},
                                           last_feedback_id=0, n_rated=2, train_s=0.1)
        model = service.store.model(model_id)
        daemon = Daemon(service.settings, [str(tmp_path)])
        assert daemon._full_wanted(service, model, 0) is False  # on battery: deferred
        (sysfs / "AC" / "online").write_text("1\n")
        assert daemon._full_wanted(service, model, 0) is True
        (sysfs / "AC" / "online").write_text("0\n")
        daemon.settings = load_settings(home, full_retrain_quiet_s=0, defer_full_retrain_on_battery=False)
        assert daemon._full_wanted(service, model, 0) is True
        daemon.settings = load_settings(home, full_retrain_quiet_s=3600, defer_full_retrain_on_battery=False)
        assert daemon._full_wanted(service, model, 0) is True  # no feedback at all: nothing to wait for
        from prefrec.feedback import Act

        service.store.add_act(Act("id-1", str(tmp_path / "a.flac"), "like"))
        assert service.store.feedback_after(0)[1] >= time.time() - 5
        assert daemon._full_wanted(service, model, 1) is False  # rated a moment ago: not quiet yet
