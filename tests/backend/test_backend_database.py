"""Schema from the Alembic migration, equal to the models, on both databases; URL handling."""
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

from backend import db
from backend.schema import Base


def _differences(connection):
    context = MigrationContext.configure(
        connection,
        opts={"include_name": lambda name, kind, _: name not in ("sqlite_sequence", "alembic_version")},
    )
    return compare_metadata(context, Base.metadata)


async def test_migration_matches_the_models_and_is_idempotent(settings):
    engine = db.create_engine(settings.effective_database_url)
    try:
        await db.migrate(engine)
        await db.migrate(engine)  # a restart finds the schema up to date
        async with engine.connect() as connection:
            assert await connection.run_sync(_differences) == []
    finally:
        await engine.dispose()


def test_sqlite_default_lives_in_the_data_folder(tmp_path):
    from bot.settings import Settings

    settings = Settings(data_dir=tmp_path / "new" / "data")
    db.create_engine(settings.effective_database_url)
    assert (tmp_path / "new" / "data").is_dir()


def test_urls_get_async_drivers():
    assert db.async_url("postgresql://u@h/d").drivername == "postgresql+asyncpg"
    assert db.async_url("postgres://u@h/d").drivername == "postgresql+asyncpg"
    assert db.async_url("postgresql+asyncpg://u@h/d").drivername == "postgresql+asyncpg"
    assert db.async_url("sqlite:////tmp/x.db").drivername == "sqlite+aiosqlite"
    assert db.async_url("postgresql://u@h/d?sslmode=require").query == {"ssl": "require"}
