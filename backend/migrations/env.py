"""Alembic environment: runs only inside `db.migrate`, on the connection it hands over."""
from alembic import context

from backend.schema import Base

context.configure(
    connection=context.config.attributes["connection"],
    target_metadata=Base.metadata,
    render_as_batch=True,  # SQLite can only ALTER tables by copying them
)
with context.begin_transaction():
    context.run_migrations()
