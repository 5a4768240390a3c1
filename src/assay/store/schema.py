"""The relational schema (SQLAlchemy Core) and its forward-only migrations.

The same tables serve SQLite (embedded default) and PostgreSQL (servers).
JSON-shaped columns are stored as canonical JSON text so both backends and
the manifests agree byte for byte.
"""

from collections.abc import Callable

from sqlalchemy import (
    BigInteger,
    Column,
    Float,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
    select,
)
from sqlalchemy import inspect as sa_inspect
from sqlalchemy.engine import Connection

from assay.errors import AssayError

# A file's size in bytes: past 2 GiB (a scene, a video, a model) PostgreSQL's INTEGER overflows;
# SQLite's INTEGER holds 64 bits, and its tables keep the type they were made with.
FileSize = BigInteger().with_variant(Integer(), "sqlite")
# Text a file gives (an imported annotation's author and its id in the source tool, the name
# of an evaluated prediction file): no bound on PostgreSQL, where VARCHAR(200) failed the
# import or the run; SQLite's VARCHAR never had one.
FileText = Text().with_variant(String(200), "sqlite")
# The longest name (dataset, project, model, picture), actor and token label the String(200)
# columns hold.
NAME_MAX = 200

metadata = MetaData()

meta = Table(
    "meta",
    metadata,
    Column("key", String(64), primary_key=True),
    Column("value", Text, nullable=False),
)

items = Table(
    "items",
    metadata,
    Column("id", String(64), primary_key=True),  # sha256 of the bytes
    Column("media_type", String(64), nullable=False),
    Column("size", FileSize, nullable=False),
    Column("width", Integer),
    Column("height", Integer),
    Column("name", Text, nullable=False),  # original file name (or row label for text rows)
    Column("source", Text, nullable=False, default=""),
    Column("metadata", Text, nullable=False, default="{}"),
    Column("metadata_hash", String(64), nullable=False),
    Column("marking", String(256), nullable=False),
    Column("parent_id", String(64)),
    Column("derivation", Text),
    Column("created", String(40), nullable=False),
    sqlite_with_rowid=False,  # clustered by id: bulk joins walk it in key order
)
# The items made from an item (a scene's chips, a video's frames), found by their source: the
# chips of a scene ingested again (`ingest.files._scenes_kept`), the items a raised marking
# reaches (`markings._raise._with_derived`). Schema 15 on; before, each scanned every item.
items_parent = Index("items_parent", items.c.parent_id)

datasets = Table(
    "datasets",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("name", String(200), nullable=False, unique=True),
    Column("created", String(40), nullable=False),
    Column("head", String(64)),  # commit id of the branch tip, NULL before the first commit
    Column("marking", String(256), nullable=False, default=""),  # declared; "" = its items'
)

# The working state of a dataset: one row per member item with its labels of record.
# annotation_ids and authors are joined with ID_SEP (ids and names never contain it).
working = Table(
    "working",
    metadata,
    Column("dataset_id", Integer, ForeignKey("datasets.id"), primary_key=True),
    Column("item_id", String(64), ForeignKey("items.id"), primary_key=True),
    Column("labels", Text, nullable=False, default="[]"),
    Column("label_hash", String(64), nullable=False),
    Column("n_regions", Integer, nullable=False, default=0),
    Column("annotation_ids", Text, nullable=False, default=""),
    Column("authors", Text, nullable=False, default=""),
    sqlite_with_rowid=False,
)

# Items whose membership or labels changed since the dataset's last commit, with their
# labels as of that commit (NULL base_hash: the item is not in it). Rows are written before
# the working row changes, so status and commit read only these rows: their cost follows
# the change, not the dataset size.
working_changes = Table(
    "working_changes",
    metadata,
    Column("dataset_id", Integer, ForeignKey("datasets.id"), primary_key=True),
    Column("item_id", String(64), primary_key=True),
    Column("base_hash", String(64)),
    Column("base_labels", Text),
    sqlite_with_rowid=False,
)

ID_SEP = "\x1f"

annotations_table = Table(
    "annotations",
    metadata,
    Column("id", String(64), primary_key=True),
    Column("item_id", String(64), ForeignKey("items.id"), nullable=False),
    Column("project", String(200)),
    Column("author", FileText, nullable=False),
    Column("kind", String(20), nullable=False),  # human | model | aggregate | review
    Column("payload", Text, nullable=False),
    Column("created", String(40), nullable=False),
    Column("lead_time", Float),
    Column("supersedes", String(64)),
    Column("source_id", FileText),
)
Index("annotations_item", annotations_table.c.item_id)

commits = Table(
    "commits",
    metadata,
    Column("id", String(64), primary_key=True),
    Column("dataset_id", Integer, ForeignKey("datasets.id"), nullable=False),
    Column("parents", Text, nullable=False),
    Column("message", Text, nullable=False),
    Column("author", String(200), nullable=False),
    Column("created", String(40), nullable=False),
    Column("manifest", String(64), nullable=False),
    Column("delta", String(64)),  # blob of the label changes against the first parent
    Column("stats", Text, nullable=False),
    Column("seq", Integer, nullable=False),  # position in the dataset's history, 1-based
)
Index("commits_dataset", commits.c.dataset_id, commits.c.seq)

refs = Table(
    "refs",
    metadata,
    Column("dataset_id", Integer, ForeignKey("datasets.id"), nullable=False),
    Column("name", String(200), nullable=False),
    Column("commit_id", String(64), ForeignKey("commits.id"), nullable=False),
    UniqueConstraint("dataset_id", "name"),
)

audit = Table(
    "audit",
    metadata,
    Column("seq", Integer, primary_key=True, autoincrement=False),
    Column("time", String(40), nullable=False),
    Column("actor", String(200), nullable=False),
    Column("action", String(100), nullable=False),
    Column("target", Text, nullable=False),
    Column("details", Text, nullable=False),
    Column("prev_hash", String(64), nullable=False),
    Column("hash", String(64), nullable=False),
    # "KEYID:BASE64" Ed25519 signature of the checkpoint (origin, seq, hash); schema 5 on.
    Column("sig", Text),
)

# --- labeling (schema version 2) -------------------------------------------------------------

users = Table(
    "users",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("name", String(200), nullable=False, unique=True),
    Column("role", String(20), nullable=False),  # admin | manager | reviewer | annotator
    Column("clearance", String(256), nullable=False),
    Column("password_hash", Text, nullable=False),
    Column("created", String(40), nullable=False),
    Column("disabled", Integer, nullable=False, default=0),
)

api_tokens = Table(
    "api_tokens",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("user_id", Integer, ForeignKey("users.id"), nullable=False),
    Column("token_hash", String(64), nullable=False, unique=True),  # sha256 of a 256-bit token
    Column("label", String(200), nullable=False, default=""),
    Column("created", String(40), nullable=False),
    Column("revoked", Integer, nullable=False, default=0),
    Column("expires", Float),  # unix time; NULL never expires (schema 5 on)
    # "all" (the user's whole role) or scopes such as "read,label" (schema 14 on)
    Column("scopes", String(200), nullable=False, server_default="all"),
)

sessions = Table(
    "sessions",
    metadata,
    Column("id", String(64), primary_key=True),  # sha256 of the cookie value
    Column("user_id", Integer, ForeignKey("users.id"), nullable=False),
    Column("csrf_token", String(64), nullable=False),
    Column("created", String(40), nullable=False),
    Column("expires", Float, nullable=False),  # unix time
)

login_failures = Table(
    "login_failures",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("key", String(300), nullable=False),  # username + client address
    Column("at", Float, nullable=False),
)
Index("login_failures_key", login_failures.c.key, login_failures.c.at)

projects = Table(
    "projects",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("name", String(200), nullable=False, unique=True),
    Column("title", Text, nullable=False),
    Column("dataset", String(200), nullable=False),
    Column("schema", Text, nullable=False),  # LabelSchema as canonical JSON
    Column("instructions", Text, nullable=False, default=""),
    Column("workflow", Text, nullable=False),  # Workflow as canonical JSON
    Column("created", String(40), nullable=False),
    Column("created_by", String(200), nullable=False),
    Column("marking", String(256), nullable=False, default=""),  # declared; "" = its items'
)

# The markings present among a project's tasks, so need-to-know filters are `marking IN (...)`.
project_markings = Table(
    "project_markings",
    metadata,
    Column("project_id", Integer, ForeignKey("projects.id"), primary_key=True),
    Column("marking", String(256), primary_key=True),
)

tasks = Table(
    "tasks",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("project_id", Integer, ForeignKey("projects.id"), nullable=False),
    Column("item_id", String(64), ForeignKey("items.id"), nullable=False),
    Column("marking", String(256), nullable=False),  # the item's marking, copied for filtering
    Column("is_gold", Integer, nullable=False, default=0),
    Column("gold", Text),  # gold regions (canonical JSON) for gold tasks
    Column("priority", Float, nullable=False, default=1.0),  # lower is served first
    Column("active", Integer, nullable=False, default=0),  # live leases + submissions
    Column("open", Integer, nullable=False, default=1),  # 1 while active < overlap
    Column("done", Integer, nullable=False, default=0),  # submissions
    # Labels this task needs under adaptive overlap; NULL means the project's overlap.
    Column("target", Integer),
    Column("review", String(20)),  # NULL | pending | accepted | rejected
    Column("review_holder", Integer),
    Column("review_expires", Float),
    UniqueConstraint("project_id", "item_id"),
)
Index(
    "tasks_queue", tasks.c.project_id, tasks.c.open, tasks.c.is_gold, tasks.c.priority, tasks.c.id
)
Index("tasks_review", tasks.c.project_id, tasks.c.review)
# An item's tasks in every project: a marking change copies the item's marking to them
# (`markings._raise._apply`), where the unique key, led by the project, is no help. Schema 15 on.
tasks_item = Index("tasks_item", tasks.c.item_id)

assignments = Table(
    "assignments",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("task_id", Integer, ForeignKey("tasks.id"), nullable=False),
    Column("project_id", Integer, ForeignKey("projects.id"), nullable=False),
    Column("user_id", Integer, ForeignKey("users.id"), nullable=False),
    Column("state", String(12), nullable=False),  # leased | submitted | skipped | expired
    Column("leased_at", Float, nullable=False),
    Column("expires", Float, nullable=False),
    Column("finished_at", Float),
    Column("annotation_id", String(64)),
    Column("lead_time", Float),
    Column("model_assisted", Integer),
    Column("gold_score", Float),  # for gold tasks: the answer's score against gold
    Column("reason", Text),  # skip reason
    UniqueConstraint("task_id", "user_id"),
)
Index("assignments_user", assignments.c.project_id, assignments.c.user_id, assignments.c.state)
Index("assignments_lease", assignments.c.state, assignments.c.expires)

# Client-made ids of submissions, skips and reviews: a retry finds its first result here. An
# idempotency key is its caller's: two users' scripts may both number their answers 1, 2, 3.
submissions = Table(
    "submissions",
    metadata,
    Column("user_id", Integer, ForeignKey("users.id"), primary_key=True),
    Column("client_id", String(100), primary_key=True),
    Column("task_id", Integer, ForeignKey("tasks.id"), nullable=False),
    Column("action", String(12), nullable=False),  # submit | skip | review
    Column("result", Text, nullable=False),  # canonical JSON of the first response
    Column("created", String(40), nullable=False),
)

reviews = Table(
    "reviews",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("task_id", Integer, ForeignKey("tasks.id"), nullable=False),
    Column("reviewer_id", Integer, ForeignKey("users.id"), nullable=False),
    Column("decision", String(10), nullable=False),  # accept | fix | reject
    Column("target", String(64)),  # the annotation reviewed
    Column("annotation_id", String(64)),  # the review annotation written
    Column("comment", Text, nullable=False, default=""),
    Column("created", String(40), nullable=False),
)
Index("reviews_task", reviews.c.task_id)

annotator_stats = Table(
    "annotator_stats",
    metadata,
    Column("project_id", Integer, ForeignKey("projects.id"), primary_key=True),
    Column("user_id", Integer, ForeignKey("users.id"), primary_key=True),
    Column("served", Integer, nullable=False, default=0),
    Column("gold_served", Integer, nullable=False, default=0),
    Column("submitted", Integer, nullable=False, default=0),
    Column("seconds", Float, nullable=False, default=0.0),
    Column("gold_seen", Integer, nullable=False, default=0),
    Column("gold_score", Float, nullable=False, default=0.0),
    Column("paused", Integer, nullable=False, default=0),
)

LABELING_TABLES = (
    users,
    api_tokens,
    sessions,
    login_failures,
    projects,
    project_markings,
    tasks,
    assignments,
    submissions,
    reviews,
    annotator_stats,
)

# --- models and evaluation runs (schema version 3) --------------------------------------------

models_table = Table(
    "models",
    metadata,
    Column("id", String(64), primary_key=True),  # sha256 of "name@version:file sha256"
    Column("name", String(200), nullable=False),
    Column("version", Integer, nullable=False),
    Column("kind", String(20), nullable=False),  # onnx | predictions
    Column("task", String(20), nullable=False),  # classification | detection
    Column("format", String(20), nullable=False),  # onnx | coco-json | csv | parquet
    Column("sha256", String(64), nullable=False),  # the file, kept in the blob store
    Column("size", FileSize, nullable=False),
    Column("file_name", Text, nullable=False),
    Column("classes", Text, nullable=False, default="[]"),  # canonical JSON list
    Column("trained_on", String(64)),  # dataset commit id (lineage)
    Column("trained_on_spec", Text),  # NAME@REV as given
    Column("details", Text, nullable=False, default="{}"),  # canonical JSON
    Column("created", String(40), nullable=False),
    Column("created_by", String(200), nullable=False),
    # candidate | staging | production | archived (schema version 9)
    Column("stage", String(20), nullable=False, server_default="candidate"),
    UniqueConstraint("name", "version"),
)

eval_runs = Table(
    "eval_runs",
    metadata,
    Column("id", String(64), primary_key=True),
    Column("created", String(40), nullable=False),
    Column("actor", String(200), nullable=False),
    Column("dataset", String(200), nullable=False),
    Column("commit_id", String(64), nullable=False),
    Column("model_name", FileText, nullable=False),
    Column("model_id", String(64)),  # NULL for prediction files and Python callables
    Column("model_sha256", String(64)),
    Column("task", String(20), nullable=False),
    Column("path", Text, nullable=False),  # the run folder
    Column("record", Text, nullable=False),  # run.json as canonical JSON
    Column("headline", Text, nullable=False),  # main metrics as canonical JSON
)
Index("eval_runs_dataset", eval_runs.c.dataset, eval_runs.c.created)

EVAL_TABLES = (models_table, eval_runs)

# --- stable ids and format metadata (schema version 5) ----------------------------------------

# A dataset's label map: class name -> id, in order (see `assay.domain.labelmap`).
label_classes = Table(
    "label_classes",
    metadata,
    Column("dataset_id", Integer, ForeignKey("datasets.id"), primary_key=True),
    Column("name", String(400), primary_key=True),
    Column("position", Integer, nullable=False),
    Column("class_id", Integer, nullable=False),
    Column("attributes", Text, nullable=False, default="{}"),  # canonical JSON (supercategory)
    UniqueConstraint("dataset_id", "class_id"),
)

# The image id of each item of a dataset, assigned once and never changed, so exports of any
# version number an image the same way.
item_numbers = Table(
    "item_numbers",
    metadata,
    Column("dataset_id", Integer, ForeignKey("datasets.id"), primary_key=True),
    Column("item_id", String(64), primary_key=True),
    Column("number", Integer, nullable=False),
    UniqueConstraint("dataset_id", "number"),
    sqlite_with_rowid=False,
)

# What a source file says about the whole dataset and no item holds (COCO info, licenses),
# kept so an export writes it again. Keyed by format, value canonical JSON.
dataset_meta = Table(
    "dataset_meta",
    metadata,
    Column("dataset_id", Integer, ForeignKey("datasets.id"), primary_key=True),
    Column("key", String(100), primary_key=True),
    Column("value", Text, nullable=False),
)

ID_TABLES = (label_classes, item_numbers, dataset_meta)

# --- derived blobs (schema version 7) ----------------------------------------------------------

# Things computed once from content and kept in the blob store (thumbnails, explorer indexes):
# (kind, source) -> blob, where `source` is the content they derive from (an item's sha256, a
# manifest's sha256) and `kind` names the recipe and its version.
derived = Table(
    "derived",
    metadata,
    Column("kind", String(64), primary_key=True),
    Column("source", String(64), primary_key=True),
    Column("blob", String(64), nullable=False),
    Column("created", String(40), nullable=False),
    sqlite_with_rowid=False,
)

# --- model stages (schema version 9) ----------------------------------------------------------

# Each promotion of a model version to a stage, with the gate that allowed it (or the reason
# it was forced); a version's current stage is `models.stage`.
model_promotions = Table(
    "model_promotions",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("model_id", String(64), nullable=False),
    Column("stage", String(20), nullable=False),  # staging | production
    Column("previous", String(20), nullable=False),
    Column("run_id", String(64)),  # the candidate's evaluation run
    Column("baseline_model_id", String(64)),  # the production version it was compared with
    Column("baseline_run_id", String(64)),
    Column("gate", Text, nullable=False),  # canonical JSON: the gate result, or null
    Column("forced", Integer, nullable=False),
    Column("reason", Text),
    Column("actor", String(200), nullable=False),
    Column("created", String(40), nullable=False),
)
Index("model_promotions_model", model_promotions.c.model_id, model_promotions.c.id)

# --- pictures: versioned sets of fused entities (schema version 10) ----------------------------

# A picture's versions, each content-identified like a commit; the entities are one canonical
# JSON blob in the blob store. The head is the version with the highest seq.
picture_versions = Table(
    "picture_versions",
    metadata,
    Column("id", String(64), primary_key=True),
    Column("picture", String(200), nullable=False),
    Column("seq", Integer, nullable=False),
    Column("parent", String(64)),
    Column("created", String(40), nullable=False),
    Column("author", String(200), nullable=False),
    Column("message", Text, nullable=False),
    Column("entities_blob", String(64), nullable=False),
    Column("stats", Text, nullable=False),
    Column("marking", String(256), nullable=False, default=""),
    Column("sources", Text, nullable=False, default="[]"),
    UniqueConstraint("picture", "seq"),
)

SCHEMA_VERSION = 15


# Forward-only migrations: MIGRATIONS[n] moves a database from version n to n + 1.
def _add_labeling(conn: Connection) -> None:
    for table in LABELING_TABLES:
        table.create(conn, checkfirst=True)


def _add_eval(conn: Connection) -> None:
    for table in EVAL_TABLES:
        table.create(conn, checkfirst=True)


def _add_task_target(conn: Connection) -> None:
    columns = {c["name"] for c in sa_inspect(conn).get_columns("tasks")}
    if "target" not in columns:
        conn.exec_driver_sql("ALTER TABLE tasks ADD COLUMN target INTEGER")


def _add_stable_ids(conn: Connection) -> None:
    # Existing datasets get their maps and numbers on their next import or export, in the
    # order earlier exports used (names sorted, items by id), so those files stay valid.
    for table in ID_TABLES:
        table.create(conn, checkfirst=True)


def _add_declared_markings(conn: Connection) -> None:
    for table in ("projects", "datasets"):
        columns = {c["name"] for c in sa_inspect(conn).get_columns(table)}
        if "marking" not in columns:
            conn.exec_driver_sql(
                f"ALTER TABLE {table} ADD COLUMN marking VARCHAR(256) NOT NULL DEFAULT ''"
            )


def _add_derived(conn: Connection) -> None:
    derived.create(conn, checkfirst=True)


def _add_signatures_and_expiry(conn: Connection) -> None:
    for table, column, kind in (("audit", "sig", "TEXT"), ("api_tokens", "expires", "FLOAT")):
        if column not in {c["name"] for c in sa_inspect(conn).get_columns(table)}:
            conn.exec_driver_sql(f"ALTER TABLE {table} ADD COLUMN {column} {kind}")


def _add_model_stages(conn: Connection) -> None:
    if "stage" not in {c["name"] for c in sa_inspect(conn).get_columns("models")}:
        conn.exec_driver_sql(
            "ALTER TABLE models ADD COLUMN stage VARCHAR(20) NOT NULL DEFAULT 'candidate'"
        )
    model_promotions.create(conn, checkfirst=True)


def _add_pictures(conn: Connection) -> None:
    picture_versions.create(conn, checkfirst=True)


def _index_scenes(conn: Connection) -> None:
    # Scenes ingested before the ingest recorded them (`assay.ingest._scenes`): read from their
    # items once, so a re-ingest after an encoder change finds them instead of storing them
    # again. The ingest layer owns the row format; imported here only when migrating.
    from assay.ingest._scenes import scene_rows_of_items

    scene_rows_of_items(conn)


def _key_submissions_by_user(conn: Connection) -> None:
    # The primary key was the client id alone: one user's key refused another's. Neither
    # SQLite nor a portable ALTER changes a primary key: the rows go through a plain copy.
    pk = sa_inspect(conn).get_pk_constraint("submissions")["constrained_columns"]
    if sorted(pk) == ["client_id", "user_id"]:
        return
    cols = "client_id, user_id, task_id, action, result, created"
    conn.exec_driver_sql(f"CREATE TABLE submissions_v11 AS SELECT {cols} FROM submissions")
    conn.exec_driver_sql("DROP TABLE submissions")
    submissions.create(conn)
    conn.exec_driver_sql(f"INSERT INTO submissions ({cols}) SELECT {cols} FROM submissions_v11")
    conn.exec_driver_sql("DROP TABLE submissions_v11")


# PostgreSQL only (SQLite's INTEGER has 64 bits, its VARCHAR no bound): a file over 2 GiB
# failed to store (INTEGER out of range), an imported annotation's author or source id or an
# evaluated prediction file's name over 200 characters failed the import or the run.
WIDENED = (
    ("items", "size", "BIGINT"),
    ("models", "size", "BIGINT"),
    ("annotations", "author", "TEXT"),
    ("annotations", "source_id", "TEXT"),
    ("eval_runs", "model_name", "TEXT"),
)


def _widen_columns(conn: Connection) -> None:
    if conn.dialect.name == "postgresql":
        for table, column, kind in WIDENED:
            conn.exec_driver_sql(f"ALTER TABLE {table} ALTER COLUMN {column} TYPE {kind}")


def _add_token_scopes(conn: Connection) -> None:
    # Tokens made before scopes acted with their user's whole role: they keep it, as "all".
    if "scopes" not in {c["name"] for c in sa_inspect(conn).get_columns("api_tokens")}:
        conn.exec_driver_sql(
            "ALTER TABLE api_tokens ADD COLUMN scopes VARCHAR(200) NOT NULL DEFAULT 'all'"
        )


# Indexes added to tables of earlier versions (a new table's come with it).
ADDED_INDEXES = (items_parent, tasks_item)


def _add_lookup_indexes(conn: Connection) -> None:
    # On PostgreSQL the build holds the table's write lock to the end of the migration (a
    # CONCURRENTLY build cannot run in its transaction): seconds on millions of items.
    for index in ADDED_INDEXES:
        index.create(conn, checkfirst=True)


MIGRATIONS: dict[int, Callable[[Connection], None]] = {
    1: _add_labeling,
    2: _add_eval,
    3: _add_task_target,
    4: _add_stable_ids,
    5: _add_declared_markings,
    6: _add_derived,
    7: _add_signatures_and_expiry,
    8: _add_model_stages,
    9: _add_pictures,
    10: _index_scenes,
    11: _key_submissions_by_user,
    12: _widen_columns,
    13: _add_token_scopes,
    14: _add_lookup_indexes,
}


def current_version(conn: Connection) -> int | None:
    if not conn.dialect.has_table(conn, "meta"):
        return None
    row = conn.execute(select(meta.c.value).where(meta.c.key == "schema_version")).first()
    return int(row[0]) if row else None


def create(conn: Connection) -> None:
    metadata.create_all(conn)
    conn.execute(meta.insert().values(key="schema_version", value=str(SCHEMA_VERSION)))


# Migrating a PostgreSQL schema holds this lock ("asmg", then the schema's hash) to the end of
# its transaction: two processes opening a new database at once (two `assay init`, a server and
# a CLI) would otherwise both create the tables, and one fail. The blob writers' lock
# (`assay.store.locks`) has another key.
_PG_MIGRATING = f"SELECT pg_advisory_xact_lock({0x6173_6D67}, hashtext(current_schema()))"


def migrate(conn: Connection) -> int:
    """Bring the schema up to SCHEMA_VERSION; never downgrade, never drop data."""
    if conn.dialect.name == "postgresql":
        conn.exec_driver_sql(_PG_MIGRATING)
    version = current_version(conn)
    if version is None:
        create(conn)
        return SCHEMA_VERSION
    if version > SCHEMA_VERSION:
        raise AssayError(
            f"this workspace has schema version {version}, newer than this assay "
            f"understands ({SCHEMA_VERSION}); upgrade assay"
        )
    while version < SCHEMA_VERSION:
        MIGRATIONS[version](conn)
        version += 1
        conn.execute(meta.update().where(meta.c.key == "schema_version").values(value=str(version)))
    return version
