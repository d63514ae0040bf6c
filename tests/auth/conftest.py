from tests.fixtures.accounts import committed_app, committed_database, settings
from tests.fixtures.smtp import smtp_server

__all__ = ["committed_app", "committed_database", "settings", "smtp_server"]
