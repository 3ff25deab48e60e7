"""Settings: a schema per key, errors that name the key, its source and what is expected."""

import pytest

from prefrec.config import SettingsError, load_settings


@pytest.fixture
def home(tmp_path, monkeypatch):
    for name in list(__import__("os").environ):
        if name.startswith("PREFREC_"):
            monkeypatch.delenv(name)
    return tmp_path


def test_values_merge_in_order_defaults_file_environment_options(home, monkeypatch):
    (home / "config.toml").write_text("workers = 3\nquiet_period_s = 4\nwatch = \"polling\"\n")
    monkeypatch.setenv("PREFREC_QUIET_PERIOD_S", "2.5")
    settings = load_settings(home, train_max_epochs=7, workers=None)
    assert (settings.workers, settings.quiet_period_s, settings.watch, settings.train_max_epochs) == (3, 2.5, "polling", 7)
    assert isinstance(settings.quiet_period_s, float) and settings.settle_s == 3.0


@pytest.mark.parametrize("line, message", [
    ('workers = "four"', 'config.toml: workers: expected an integer ≥ 1 and ≤ 256, got \'four\''),
    ("workers = 0", "workers: expected an integer ≥ 1"),
    ("workers = 2.5", "workers: expected an integer"),
    ("decode_timeout_s = -1", "decode_timeout_s: expected a number ≥ 1, got -1"),
    ("settle_s = nan", "settle_s: expected a number ≥ 0"),
    ('watch = "inotify"', 'watch: expected one of "auto", "polling"'),
    ("wrkers = 2", "unknown setting 'wrkers'; did you mean 'workers'?"),
    ("workers = true", "workers: expected an integer"),
])
def test_a_bad_value_in_config_toml_names_the_key_and_what_is_expected(home, line, message):
    (home / "config.toml").write_text(line + "\n")
    with pytest.raises(SettingsError) as info:
        load_settings(home)
    assert message in str(info.value) and info.value.exit_code == 2


def test_every_problem_is_reported_at_once_with_its_source(home, monkeypatch):
    (home / "config.toml").write_text("workers = -2\n")
    monkeypatch.setenv("PREFREC_SETTLE_S", "soon")
    monkeypatch.setenv("PREFREC_WORKER", "2")
    monkeypatch.setenv("PREFREC_BENCH_CORPUS", "/elsewhere")  # not ours, not a near miss: ignored
    with pytest.raises(SettingsError) as info:
        load_settings(home)
    text = str(info.value)
    assert "3 settings are invalid" in text
    assert "environment: PREFREC_SETTLE_S: expected a number ≥ 0, got 'soon'" in text
    assert "PREFREC_WORKER is not a setting; did you mean PREFREC_WORKERS?" in text
    assert "BENCH" not in text


def test_a_damaged_config_file_says_so(home):
    (home / "config.toml").write_text("workers = = 3\n")
    with pytest.raises(SettingsError, match="not valid TOML"):
        load_settings(home)


def test_command_line_values_are_checked_too(home):
    with pytest.raises(SettingsError, match="command line: workers: expected an integer ≥ 1"):
        load_settings(home, workers=0)
