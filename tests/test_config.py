"""Configuration: one TOML file, environment overrides, command-line overrides;
unknown keys and wrong types are one clear error naming the key and the file;
``station config show`` prints every value with its source."""
from __future__ import annotations

import pytest

from station import config as configmod
from station.cli import main
from station.errors import ConfigError


def load(tmp_path, text=None, env=None, **kw):
    f = tmp_path / "station.toml"
    if text is not None:
        f.write_text(text)
    e = {"STATION_HOME": str(tmp_path)}
    e.update(env or {})
    return configmod.load(None, env=e, **kw), f


def test_defaults_without_a_file(tmp_path):
    cfg, _ = load(tmp_path)
    assert cfg.file is None
    assert cfg.store.currency == "EUR" and cfg.store.minor_units == 2
    assert cfg.db_url == f"sqlite:///{(tmp_path / 'store.db').resolve()}"
    assert cfg.key_file == tmp_path / "station.key"
    assert all(src == "default" for _k, _v, src, _d in cfg.rows())
    # every schema key is documented and has a default of its type
    for s, keys in configmod.SCHEMA.items():
        for k, (kind, default, doc) in keys.items():
            assert doc and configmod._check_type(kind, default), f"{s}.{k}"


def test_file_values_and_sources(tmp_path):
    cfg, f = load(tmp_path, '[store]\nname = "Corner Shop"\naddress = ["1 Main St"]\n'
                            '[terminal]\nid = "T7"\n[keymap]\nbindings = {sale_tender = "f12"}\n')
    assert cfg.store.name == "Corner Shop" and cfg.terminal_id == "T7"
    assert cfg.get("keymap.bindings") == {"sale_tender": "f12"}
    src = {k: s for k, _v, s, _d in cfg.rows()}
    assert src["store.name"] == f"file {f}" and src["store.currency"] == "default"


@pytest.mark.parametrize("text,message", [
    ('[store]\nnmae = "x"\n', "unknown key store.nmae in {file}"),
    ('[shop]\nname = "x"\n', "unknown section [shop] in {file}"),
    ('[store]\nminor_units = "two"\n', "key store.minor_units in {file} must be int, not 'two'"),
    ('[store]\nprices_include_tax = 1\n', "key store.prices_include_tax in {file} must be bool"),
    ('[cash]\ndenominations = [500, "x"]\n', "key cash.denominations in {file} must be list[int]"),
    ('[security]\nmax_failed_attempts = true\n', "key security.max_failed_attempts in {file} must be int"),
    ('store = 3\n', "'store' in {file} must be a [section]"),
    ('[store\nname = "x"\n', "config file {file} is not valid TOML"),
    ('[drawer]\npin = 3\n', "key drawer.pin in {file} must be 2 or 5"),
    ('[printer]\nkind = "laser"\n', "key printer.kind in {file} must be none"),
])
def test_bad_files_are_one_error_naming_key_and_file(tmp_path, text, message):
    with pytest.raises(ConfigError) as e:
        load(tmp_path, text)
    assert message.format(file=tmp_path / "station.toml") in str(e.value)
    assert "\n" not in str(e.value)


def test_non_utf8_file(tmp_path):
    (tmp_path / "station.toml").write_bytes(b'[store]\nname = "Caf\xe9"\n')
    with pytest.raises(ConfigError, match="is not UTF-8"):
        load(tmp_path)


def test_explicit_missing_file(tmp_path):
    with pytest.raises(ConfigError, match="does not exist"):
        configmod.load(tmp_path / "nope.toml", env={"STATION_HOME": str(tmp_path)})


def test_environment_overrides_file(tmp_path):
    cfg, f = load(tmp_path, '[terminal]\nid = "T7"\n[store]\nminor_units = 2\n',
                  env={"STATION_TERMINAL_ID": "T9", "STATION_STORE_MINOR_UNITS": "0",
                       "STATION_STORE_PRICES_INCLUDE_TAX": "no",
                       "STATION_CASH_DENOMINATIONS": "1000, 500,100",
                       "STATION_DB": "postgresql://u@h:5432/store"})
    assert cfg.terminal_id == "T9" and cfg.store.minor_units == 0
    assert cfg.store.prices_include_tax is False
    assert cfg.cash.denominations == [1000, 500, 100]
    assert cfg.db_url == "postgresql://u@h:5432/store"
    src = {k: s for k, _v, s, _d in cfg.rows()}
    assert src["terminal.id"] == "env STATION_TERMINAL_ID"
    assert src["database.url"] == "env STATION_DB"


@pytest.mark.parametrize("name,value", [
    ("STATION_STORE_MINOR_UNITS", "two"), ("STATION_STORE_PRICES_INCLUDE_TAX", "maybe"),
    ("STATION_CASH_DENOMINATIONS", "1,x"),
])
def test_bad_environment_value(tmp_path, name, value):
    with pytest.raises(ConfigError, match=name):
        load(tmp_path, env={name: value})


def test_command_line_overrides_environment(tmp_path):
    cfg, _ = load(tmp_path, env={"STATION_TERMINAL_ID": "T9"}, overrides={"terminal.id": "T3"})
    assert cfg.terminal_id == "T3"
    assert dict((k, s) for k, _v, s, _d in cfg.rows())["terminal.id"] == "command line"


def test_config_show_prints_every_value_and_its_source(tmp_path, monkeypatch, capsys):
    (tmp_path / "station.toml").write_text('[store]\nname = "Corner Shop"\n')
    monkeypatch.setenv("STATION_HOME", str(tmp_path))
    monkeypatch.setenv("STATION_TERMINAL_ID", "T9")
    monkeypatch.delenv("STATION_DB", raising=False)
    monkeypatch.delenv("STATION_CONFIG", raising=False)
    assert main(["--db", f"sqlite:///{tmp_path}/x.db", "config", "show"]) == 0
    out = capsys.readouterr().out
    lines = {ln.split("=", 1)[0].strip(): ln for ln in out.splitlines() if ln.startswith("  ")}
    n_keys = sum(len(k) for k in configmod.SCHEMA.values())
    assert len(lines) == n_keys
    assert "'Corner Shop'" in lines["store.name"] and f"(file {tmp_path / 'station.toml'})" in lines["store.name"]
    assert "'T9'" in lines["terminal.id"] and "(env STATION_TERMINAL_ID)" in lines["terminal.id"]
    assert "(command line)" in lines["database.url"]
    assert "(default)" in lines["store.currency"]


def test_config_show_bad_file_is_one_line(tmp_path, monkeypatch, capsys):
    (tmp_path / "station.toml").write_text('[store]\ncolour = "red"\n')
    monkeypatch.setenv("STATION_HOME", str(tmp_path))
    monkeypatch.delenv("STATION_CONFIG", raising=False)
    assert main(["config", "show"]) == 2
    err = capsys.readouterr().err
    assert err.strip().splitlines() == [f"station: unknown key store.colour in {tmp_path / 'station.toml'}"]
