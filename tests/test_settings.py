import pytest
from click.testing import CliRunner

from revwatch.cli import main
from revwatch.settings import SettingsError, load_settings


def test_defaults_are_valid(monkeypatch):
    for name in ("DATABASE_URL", "DASHBOARD_PORT", "REPORTING_CURRENCY"):
        monkeypatch.delenv(name, raising=False)
    cfg = load_settings()
    assert cfg.database_url is None and cfg.dashboard_port == 8501 and cfg.reporting_currency == "USD"
    assert cfg.pg_data_dir == cfg.revwatch_data_dir / "pg"


@pytest.mark.parametrize(
    ("name", "value", "fragment"),
    [
        ("DASHBOARD_PORT", "eighty", "DASHBOARD_PORT"),
        ("DASHBOARD_PORT", "70000", "DASHBOARD_PORT"),
        ("REPORTING_CURRENCY", "XXY", "unknown ISO 4217 currency"),
        ("INGEST_LOOKBACK_MINUTES", "-3", "INGEST_LOOKBACK_MINUTES"),
        ("DATABASE_URL", "mysql://u:hunter2@db/x", "must be a PostgreSQL URL"),
    ],
)
def test_bad_value_names_the_variable(monkeypatch, name, value, fragment):
    monkeypatch.setenv(name, value)
    with pytest.raises(SettingsError) as err:
        load_settings()
    message = str(err.value)
    assert name in message and fragment in message
    assert "hunter2" not in message  # a secret in a bad URL is never echoed


def test_cli_reports_bad_setting_and_exits_nonzero(monkeypatch):
    monkeypatch.setenv("REPORTING_CURRENCY", "dollars")
    result = CliRunner().invoke(main, ["db", "upgrade"])
    assert result.exit_code != 0
    assert "REPORTING_CURRENCY" in result.output


@pytest.mark.parametrize("args", [[], ["up"], ["demo"], ["db"], ["db", "upgrade"], ["collect"], ["dashboard"], ["bench"]])
def test_every_command_has_help(args):
    result = CliRunner().invoke(main, [*args, "--help"])
    assert result.exit_code == 0, result.output
    assert "Usage:" in result.output and len(result.output.splitlines()) > 3
