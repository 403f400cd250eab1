"""Flask extensions, created unbound so the app factory can attach them (Flask's usual pattern)."""

from flask_limiter import Limiter
from flask_migrate import Migrate
from flask_sqlalchemy import SQLAlchemy
from flask_talisman import Talisman
from flask_wtf import CSRFProtect
from sqlalchemy import MetaData

from .addresses import client_address
from .rate_store import SweepingMemoryStorage  # noqa: F401 - makes memory-sweep:// known to limits

# Explicit constraint names keep Alembic migrations identical on SQLite and PostgreSQL.
NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

db = SQLAlchemy(metadata=MetaData(naming_convention=NAMING))
migrate = Migrate()
csrf = CSRFProtect()
# Rate limits: storage comes from RATELIMIT_STORAGE_URI (memory-sweep://, webapp/rate_store.py,
# for one process; a shared store such as redis:// when several gunicorn workers must count
# together). Routes opt in with @limiter.limit(...); there are no default limits.
limiter = Limiter(key_func=client_address)
# Security headers and cookie flags (configured in webapp/security_headers.py).
talisman = Talisman()
