"""SQL store (SQLAlchemy 2): SQLite by default, PostgreSQL through SUANLI_DATABASE_URL."""
