"""Predict, per SQL statement, the strongest lock each relation gets and which relations are rewritten.

The model follows PostgreSQL's lock-mode table ("Explicit Locking") and ALTER TABLE's per-subcommand lock
levels, checked against a real server by tests/lint/test_observed.py. What one statement cannot tell on its
own (the table of an index, the current type of a column, the table a foreign key points at) is learned
from earlier statements of the same file; when unknown, the prediction leaves that relation out.

Relations are named as written, unqualified and lowercase. A rewrite means a new relfilenode: for a table,
its indexes are rebuilt too, but only relations the file names are listed.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any, NamedTuple

import pglast
from pglast import ast
from pglast.enums import AlterTableType as AT
from pglast.enums import ConstrType, ObjectType, ReindexObjectType, TransactionStmtKind, VariableSetKind
from pglast.stream import RawStream

from harness.core.errors import InputError
from harness.lint.facts import Facts

LOCK_MODES = ("AccessShareLock", "RowShareLock", "RowExclusiveLock", "ShareUpdateExclusiveLock", "ShareLock",
              "ShareRowExclusiveLock", "ExclusiveLock", "AccessExclusiveLock")
(ACCESS_SHARE, ROW_SHARE, ROW_EXCLUSIVE, SHARE_UPDATE_EXCLUSIVE, SHARE, SHARE_ROW_EXCLUSIVE, EXCLUSIVE,
 ACCESS_EXCLUSIVE) = LOCK_MODES

# Built-in functions known not to be VOLATILE (a default using only these is evaluated once, no rewrite).
STABLE_FUNCTIONS = frozenset({
    "now", "transaction_timestamp", "statement_timestamp", "current_timestamp", "localtimestamp",
    "current_date", "current_setting", "current_user", "session_user", "current_database", "current_schema",
    "version", "age", "timezone", "lower", "upper", "initcap", "btrim", "ltrim", "rtrim", "trim", "length",
    "char_length", "octet_length", "concat", "concat_ws", "md5", "sha256", "left", "right", "substr",
    "substring", "replace", "lpad", "rpad", "repeat", "reverse", "format", "split_part", "strpos",
    "position", "quote_ident", "abs", "round", "trunc", "floor", "ceil", "ceiling", "sign", "mod", "power",
    "sqrt", "greatest", "least", "coalesce", "nullif", "to_char", "to_date", "to_timestamp", "to_number",
    "date_trunc", "date_part", "extract", "make_date", "make_time", "make_timestamp", "make_timestamptz",
    "make_interval", "justify_days", "justify_hours", "justify_interval", "jsonb_build_object",
    "jsonb_build_array", "json_build_object", "json_build_array", "to_jsonb", "to_json", "array_fill",
    "array_length", "cardinality", "array_to_string", "string_to_array", "int2", "int4", "int8", "float4",
    "float8", "numeric", "text", "bool", "date", "interval", "txid_current", "pg_current_xact_id"
})
# Built-in functions that are VOLATILE: a default calling one is evaluated per row, rewriting the table.
VOLATILE_FUNCTIONS = frozenset({
    "random", "random_normal", "setseed", "clock_timestamp", "timeofday", "gen_random_uuid",
    "uuid_generate_v1", "uuid_generate_v1mc", "uuid_generate_v4", "uuidv4", "uuidv7", "gen_random_bytes",
    "nextval", "setval", "currval", "lastval"
})
SERIAL_TYPES = frozenset({"serial", "serial2", "serial4", "serial8", "smallserial", "bigserial"})
# Relation options whose change needs ACCESS EXCLUSIVE; the others take SHARE UPDATE EXCLUSIVE.
ACCESS_EXCLUSIVE_RELOPTIONS = frozenset({"user_catalog_table", "check_option", "security_barrier",
                                         "security_invoker", "buffering", "fastupdate"})
LOCK_STATEMENT_MODES = {i + 1: mode for i, mode in enumerate(LOCK_MODES)}


def lock_rank(mode: str) -> int:
    """Strength of a lock mode: 0 (AccessShareLock) to 7 (AccessExclusiveLock)."""
    return LOCK_MODES.index(mode)


@dataclass(frozen=True)
class StatementPrediction:
    """What one statement is predicted to do to the relations it touches."""

    index: int
    sql: str
    kind: str
    locks: dict[str, str]
    rewrites: set[str]
    in_transaction: bool
    concurrent: bool


@dataclass(frozen=True)
class Rewrite:
    """Why a relation gets a new relfilenode: cause is a short tag, detail says which clause."""

    relation: str
    cause: str
    detail: str


@dataclass(frozen=True)
class Statement:
    """One statement of a file as the rules see it: prediction, syntax tree and where it stands."""

    prediction: StatementPrediction
    node: ast.Node
    line: int
    transaction: int | None
    rewrite_causes: tuple[Rewrite, ...]
    created_before: frozenset[str]
    uncertain_rewrites: tuple[Rewrite, ...] = ()  # a rewrite or not, depending on what the file does not say


    @property
    def index(self) -> int:
        return self.prediction.index


class LintInputError(InputError):
    """Input the linter cannot read: one line naming the path and the problem."""

    def __init__(self, path: object, problem: str) -> None:
        super().__init__(str(path), "", problem)


class SqlSyntaxError(LintInputError):
    """SQL that does not parse, with the parser's message and its 1-based line and column."""

    def __init__(self, message: str, line: int, column: int, path: object = "<sql>") -> None:
        self.message, self.line, self.column = " ".join(message.split()), line, column
        super().__init__(path, f"line {line}, column {column}: {self.message}")


def predict_sql(sql: str, facts: Facts | None = None) -> list[StatementPrediction]:
    """Predict locks and rewrites for every statement of a SQL text."""
    return [statement.prediction for statement in analyze_sql(sql, facts)]


def known_schema(facts: Facts | None = None) -> _Schema:
    """What is known of the schema before a file: the table facts' (none without them). Given to analyze_sql
    file after file, it carries what each file did to the next (a release's migrations, in order)."""
    return _Schema.known(facts)


def analyze_sql(sql: str, facts: Facts | None = None, schema: _Schema | None = None) -> list[Statement]:
    """Parse a SQL text and predict each statement, keeping what the rules need; raises SqlSyntaxError.
    Table facts (lint.facts) tell what the file does not: column types, the table of an index, its keys;
    `schema` (known_schema) is what earlier files did, updated in place with what this one does."""
    try:
        raw_statements = pglast.parse_sql(sql)
    except pglast.parser.ParseError as error:
        message, offset = error.args[0], (error.args[1] if len(error.args) > 1 else 0)
        line, column = _position(sql, max(offset, 0))
        raise SqlSyntaxError(str(message), line, column) from None
    schema = schema if schema is not None else _Schema.known(facts)
    result: list[Statement] = []
    transaction: int | None = None
    transactions = 0
    for index, raw in enumerate(raw_statements):
        node = raw.stmt
        if node is None:  # the parser always sets it
            continue
        location = raw.stmt_location or 0
        start = _skip_blank(sql, location)
        end = location + raw.stmt_len if raw.stmt_len else len(sql)
        text = sql[start:end].strip().rstrip(";").rstrip()
        if isinstance(node, ast.TransactionStmt) and node.kind in (TransactionStmtKind.TRANS_STMT_BEGIN,
                                                                   TransactionStmtKind.TRANS_STMT_START):
            transactions += 1
            transaction = transactions
        created_before = frozenset(schema.created)
        effects = _Effects()
        kind = _predict(node, schema, effects)
        prediction = StatementPrediction(index=index, sql=text, kind=kind, locks=dict(effects.locks),
                                         rewrites={r.relation for r in effects.rewrites},
                                         in_transaction=transaction is not None,
                                         concurrent=effects.concurrent)
        result.append(Statement(prediction, node, _position(sql, start)[0], transaction,
                                tuple(effects.rewrites), created_before, tuple(effects.uncertain)))
        if isinstance(node, ast.TransactionStmt) and node.kind in _TRANSACTION_ENDS:
            transaction = None
    return result


_TRANSACTION_ENDS = (TransactionStmtKind.TRANS_STMT_COMMIT, TransactionStmtKind.TRANS_STMT_ROLLBACK,
                     TransactionStmtKind.TRANS_STMT_PREPARE)


def _position(sql: str, offset: int) -> tuple[int, int]:
    """1-based (line, column) of a character offset."""
    before = sql[:offset]
    return before.count("\n") + 1, offset - (before.rfind("\n") + 1) + 1


def _skip_blank(sql: str, offset: int) -> int:
    """Offset of the first character at or after `offset` that is neither blank nor inside a comment."""
    while offset < len(sql):
        if sql[offset].isspace():
            offset += 1
        elif sql.startswith("--", offset):
            newline = sql.find("\n", offset)
            offset = len(sql) if newline < 0 else newline + 1
        elif sql.startswith("/*", offset):
            depth, offset = 1, offset + 2
            while offset < len(sql) and depth:
                if sql.startswith("/*", offset):
                    depth, offset = depth + 1, offset + 2
                elif sql.startswith("*/", offset):
                    depth, offset = depth - 1, offset + 2
                else:
                    offset += 1
        else:
            break
    return offset


class ForeignKey(NamedTuple):
    """A foreign key the file declared: referencing table and columns, referenced table and columns."""

    table: str
    target: str
    columns: tuple[str, ...]
    target_columns: tuple[str, ...]
    on_update: str
    on_delete: str


@dataclass
class _Schema:
    """What earlier statements of the file said about the schema."""

    created: set[str] = field(default_factory=set)
    columns: dict[tuple[str, str], ast.TypeName | None] = field(default_factory=dict)  # None: no type given
    indexes: dict[str, str] = field(default_factory=dict)  # index -> table
    foreign_keys: dict[str, ForeignKey] = field(default_factory=dict)  # by constraint name
    primary_keys: dict[str, tuple[str, ...]] = field(default_factory=dict)
    time_zone: str | None = None  # the server's TimeZone, when the facts tell

    @classmethod
    def known(cls, facts: Facts | None) -> _Schema:
        """What the table facts say before the file's first statement (existing tables: not `created`)."""
        schema = cls()
        if facts is None:
            return schema
        schema.time_zone = facts.settings.get("TimeZone")
        for table in facts.tables.values():
            for column, type_text in table.columns.items():
                schema.columns[(table.name, column)] = parse_type(type_text)
            for index in table.indexes:
                schema.indexes.setdefault(index, table.name)
        return schema

    def forget_table(self, table: str) -> None:
        self.created.discard(table)
        self.columns = {key: value for key, value in self.columns.items() if key[0] != table}
        self.indexes = {name: owner for name, owner in self.indexes.items() if owner != table}
        self.foreign_keys = {name: fk for name, fk in self.foreign_keys.items() if fk.table != table}

    def rename_table(self, old: str, new: str) -> None:
        if old in self.created:
            self.created.add(new)
        self.columns = {((new if t == old else t), c): v for (t, c), v in self.columns.items()}
        self.indexes = {name: (new if owner == old else owner) for name, owner in self.indexes.items()}
        self.foreign_keys = {name: fk._replace(table=new if fk.table == old else fk.table,
                                               target=new if fk.target == old else fk.target)
                             for name, fk in self.foreign_keys.items()}
        if old in self.primary_keys:
            self.primary_keys[new] = self.primary_keys.pop(old)


class _Effects:
    """Locks and rewrites collected while reading one statement."""

    def __init__(self) -> None:
        self.locks: dict[str, str] = {}
        self.rewrites: list[Rewrite] = []
        self.uncertain: list[Rewrite] = []
        self.concurrent = False

    def lock(self, relation: str | None, mode: str) -> None:
        if relation and (relation not in self.locks or lock_rank(mode) > lock_rank(self.locks[relation])):
            self.locks[relation] = mode

    def rewrite(self, relation: str, cause: str, detail: str) -> None:
        self.rewrites.append(Rewrite(relation, cause, detail))


def _predict(node: ast.Node, schema: _Schema, effects: _Effects) -> str:
    handler = _HANDLERS.get(type(node))
    if handler is not None:
        return handler(node, schema, effects)
    return _words(type(node).__name__.removesuffix("Stmt"))


def _words(camel: str) -> str:
    return re.sub(r"(?<=[a-z])(?=[A-Z])", " ", camel).upper()


# --- names and expressions -------------------------------------------------------------------------------

def relname(range_var: ast.RangeVar | None) -> str:
    """A RangeVar's relation name, unqualified and lowercase; "" without a RangeVar."""
    return str(range_var.relname).lower() if range_var is not None else ""


def _last_name(names: tuple[Any, ...] | None) -> str:
    return str(names[-1].sval).lower() if names else ""


def walk(node: object) -> Iterator[ast.Node]:
    """Every syntax node under `node`, itself included."""
    if isinstance(node, ast.Node):
        yield node
        for attribute in node:
            yield from walk(getattr(node, attribute))
    elif isinstance(node, list | tuple):
        for item in node:
            yield from walk(item)


def volatile_call(expression: object) -> str | None:
    """Name of the first function in an expression that is (or, unknown, is assumed) VOLATILE, else None."""
    for node in walk(expression):
        if isinstance(node, ast.FuncCall):
            name = _last_name(node.funcname)
            if name in VOLATILE_FUNCTIONS or name not in STABLE_FUNCTIONS:
                return name
    return None


def _type_name(type_name: ast.TypeName | None) -> tuple[str, tuple[int, ...], bool]:
    """(base name, integer type modifiers, is array) of a TypeName."""
    if type_name is None:
        return "", (), False
    mods = tuple(m.val.ival or 0 for m in (type_name.typmods or ())
                 if isinstance(m, ast.A_Const) and isinstance(m.val, ast.Integer))
    return _last_name(type_name.names), mods, bool(type_name.arrayBounds)


_TEXT_TYPES = frozenset({"text", "varchar"})
# New types that an unknown old type may reach without a rewrite (from a narrower one of the same family).
_MAYBE_FREE = frozenset({"text", "varchar", "numeric", "varbit", "timestamptz", "inet"})
_UTC = frozenset({"utc", "etc/utc", "gmt", "etc/gmt", "utc0", "zulu", "universal", "etc/universal"})


@functools.lru_cache(maxsize=4096)
def parse_type(text: str) -> ast.TypeName | None:
    """A type as format_type() writes it (`character varying(100)`), as the parser's TypeName."""
    try:
        select = pglast.parse_sql(f"SELECT NULL::{text}")[0].stmt
    except pglast.parser.ParseError:
        return None
    targets = select.targetList if isinstance(select, ast.SelectStmt) else None
    value = targets[0].val if targets and isinstance(targets[0], ast.ResTarget) else None
    return value.typeName if isinstance(value, ast.TypeCast) else None


def type_change(old: ast.TypeName | None, new: ast.TypeName, time_zone: str | None = None) -> str:
    """`rewrite`, `free` (catalog only: binary coercible) or `unknown` (old type not known, and some old
    types would make it free) for a column going from `old` to `new`."""
    new_name = _type_name(new)[0]
    if old is None:
        return "unknown" if new_name in _MAYBE_FREE else "rewrite"
    (old_name, _, old_array), (_, _, new_array) = _type_name(old), _type_name(new)
    if old_array == new_array:
        if (old_name, new_name) == ("cidr", "inet"):
            return "free"
        # timestamp -> timestamptz reads the same bytes when the session time zone is UTC (PostgreSQL 12+).
        if (old_name, new_name) == ("timestamp", "timestamptz") and (time_zone or "").lower() in _UTC:
            return "free"
    return "rewrite" if type_change_rewrites(old, new) else "free"



def type_change_rewrites(old: ast.TypeName | None, new: ast.TypeName) -> bool:
    """Whether changing a column from `old` (None: unknown) to `new` rewrites the table."""
    if old is None:
        return True
    (old_name, old_mods, old_array), (new_name, new_mods, new_array) = _type_name(old), _type_name(new)
    if old_array != new_array:
        return True
    if (old_name, old_mods) == (new_name, new_mods):
        return False
    if old_name in _TEXT_TYPES and new_name in _TEXT_TYPES:
        # Widening or dropping a varchar limit is binary-coercible; adding or shrinking one is not.
        return bool(new_mods) and (not old_mods or new_mods[0] < old_mods[0])
    if old_name == new_name == "numeric":
        if not new_mods:
            return False
        if not old_mods:
            return True
        old_scale, new_scale = (old_mods + (0,))[1], (new_mods + (0,))[1]
        return new_scale != old_scale or new_mods[0] < old_mods[0]
    if old_name == new_name == "varbit":
        return bool(new_mods) and (not old_mods or new_mods[0] < old_mods[0])
    return True


def _using_is_plain(using: object, column: str) -> bool:
    """A USING clause that is just the column (possibly cast), so the type rule decides."""
    if using is None:
        return True
    if isinstance(using, ast.TypeCast):
        using = using.arg
    return isinstance(using, ast.ColumnRef) and _last_name(using.fields) == column


def _index_columns(parameters: tuple[ast.Node, ...] | None) -> list[str]:
    names = []
    for element in parameters or ():
        name = getattr(element, "name", None) or (element.sval if isinstance(element, ast.String) else None)
        names.append(str(name).lower() if name else "expr")
    return names


def default_index_name(table: str, columns: list[str], suffix: str) -> str:
    """The name PostgreSQL gives an unnamed index or constraint (without collision suffixes)."""
    return f"{table}_{'_'.join(columns)}_{suffix}"[:63] if columns else f"{table}_{suffix}"[:63]


# --- statement handlers ------------------------------------------------------------------------------------

def _transaction(node: ast.TransactionStmt, schema: _Schema, effects: _Effects) -> str:
    if node.kind is None:
        return "TRANSACTION"
    return {TransactionStmtKind.TRANS_STMT_BEGIN: "BEGIN", TransactionStmtKind.TRANS_STMT_START: "BEGIN",
            TransactionStmtKind.TRANS_STMT_COMMIT: "COMMIT", TransactionStmtKind.TRANS_STMT_ROLLBACK: "ROLLBACK",
            TransactionStmtKind.TRANS_STMT_SAVEPOINT: "SAVEPOINT",
            TransactionStmtKind.TRANS_STMT_RELEASE: "RELEASE SAVEPOINT",
            TransactionStmtKind.TRANS_STMT_ROLLBACK_TO: "ROLLBACK TO SAVEPOINT",
            TransactionStmtKind.TRANS_STMT_PREPARE: "PREPARE TRANSACTION"}.get(node.kind, "TRANSACTION")


def _read_relations(node: object, effects: _Effects, skip: ast.Node | None = None) -> None:
    """AccessShareLock on every relation a query reads (CTE names excluded); RowShareLock under FOR UPDATE."""
    ctes = {str(n.ctename).lower() for n in walk(node) if isinstance(n, ast.CommonTableExpr)}
    for sub in walk(node):
        if isinstance(sub, ast.SelectStmt) and sub.lockingClause:
            for clause in sub.lockingClause:
                locked = [relname(rv) for rv in clause.lockedRels or ()]
                for rv in walk(sub.fromClause):
                    if isinstance(rv, ast.RangeVar) and (not locked or relname(rv) in locked):
                        effects.lock(relname(rv), ROW_SHARE)
        if isinstance(sub, ast.RangeVar) and sub is not skip and relname(sub) not in ctes:
            effects.lock(relname(sub), ACCESS_SHARE)


def _select(node: ast.SelectStmt, schema: _Schema, effects: _Effects) -> str:
    if node.intoClause is not None:
        _read_relations(node, effects, skip=node.intoClause.rel)
        schema.created.add(relname(node.intoClause.rel))
        return "CREATE TABLE AS"
    _read_relations(node, effects)
    return "SELECT"


_CASCADING_ACTIONS = ("c", "n", "d")  # CASCADE, SET NULL, SET DEFAULT: they write the referencing rows


def _written_columns(node: ast.Node) -> set[str] | None:
    """Columns an INSERT or UPDATE sets; None for all (INSERT without a column list)."""
    targets = node.cols if isinstance(node, ast.InsertStmt) else getattr(node, "targetList", None)
    if isinstance(node, ast.InsertStmt) and not targets:
        return None
    return {str(target.name).lower() for target in targets or () if getattr(target, "name", None)}


def _referential_locks(node: ast.Node, table: str, schema: _Schema, effects: _Effects) -> None:
    """Locks taken by the foreign-key triggers the file declared: the checks run SELECT .. FOR KEY SHARE
    (RowShareLock) on the other table; cascading actions write to it (RowExclusiveLock)."""
    written = _written_columns(node) if isinstance(node, ast.InsertStmt | ast.UpdateStmt) else set()

    def touches(columns: tuple[str, ...]) -> bool:
        return written is None or not columns or bool(written & set(columns))

    for fk in schema.foreign_keys.values():
        if fk.table == table and isinstance(node, ast.InsertStmt | ast.UpdateStmt) and touches(fk.columns):
            effects.lock(fk.target, ROW_SHARE)
        if fk.target == table:
            key = fk.target_columns or schema.primary_keys.get(table, ())
            if isinstance(node, ast.DeleteStmt):
                effects.lock(fk.table, ROW_EXCLUSIVE if fk.on_delete in _CASCADING_ACTIONS else ROW_SHARE)
            elif isinstance(node, ast.UpdateStmt) and touches(key):
                effects.lock(fk.table, ROW_EXCLUSIVE if fk.on_update in _CASCADING_ACTIONS else ROW_SHARE)


def _modify(kind: str):
    def handler(node: ast.InsertStmt | ast.UpdateStmt | ast.DeleteStmt | ast.MergeStmt, schema: _Schema,
                effects: _Effects) -> str:
        _read_relations(node, effects, skip=node.relation)
        effects.lock(relname(node.relation), ROW_EXCLUSIVE)
        _referential_locks(node, relname(node.relation), schema, effects)
        if isinstance(node, ast.InsertStmt) and isinstance(node.selectStmt, ast.SelectStmt) \
                and node.selectStmt.valuesLists is None:
            return "INSERT SELECT"
        return kind
    return handler


def _copy(node: ast.CopyStmt, schema: _Schema, effects: _Effects) -> str:
    if node.relation is not None:
        effects.lock(relname(node.relation), ROW_EXCLUSIVE if node.is_from else ACCESS_SHARE)
    else:
        _read_relations(node.query, effects)
    return "COPY FROM" if node.is_from else "COPY TO"


def _constraint_locks(table: str, constraint: ast.Constraint, columns: list[str], schema: _Schema,
                      effects: _Effects) -> None:
    """Locks and schema facts of a constraint added to `table` (new or existing)."""
    if constraint.contype == ConstrType.CONSTR_FOREIGN:
        target = relname(constraint.pktable)
        effects.lock(target, SHARE_ROW_EXCLUSIVE)
        fk_columns = [str(c.sval).lower() for c in constraint.fk_attrs or ()] or columns
        name = constraint.conname or default_index_name(table, fk_columns, "fkey")
        schema.foreign_keys[str(name).lower()] = ForeignKey(
            table, target, tuple(fk_columns), tuple(str(c.sval).lower() for c in constraint.pk_attrs or ()),
            str(constraint.fk_upd_action), str(constraint.fk_del_action))
    elif constraint.contype in (ConstrType.CONSTR_PRIMARY, ConstrType.CONSTR_UNIQUE):
        keys = [str(k.sval).lower() for k in constraint.keys or ()] or columns
        suffix = "pkey" if constraint.contype == ConstrType.CONSTR_PRIMARY else "key"
        if suffix == "pkey":
            schema.primary_keys[table] = tuple(keys)
        name = constraint.conname or (constraint.indexname if constraint.indexname else
                                      default_index_name(table, [] if suffix == "pkey" else keys, suffix))
        if constraint.indexname:
            schema.indexes.pop(str(constraint.indexname).lower(), None)
        schema.indexes[str(name).lower()] = table


def _create_table(node: ast.CreateStmt, schema: _Schema, effects: _Effects) -> str:
    table = relname(node.relation)
    for parent in node.inhRelations or ():
        # PARTITION OF takes ACCESS EXCLUSIVE on the parent; INHERITS only SHARE UPDATE EXCLUSIVE.
        effects.lock(relname(parent), ACCESS_EXCLUSIVE if node.partbound is not None else SHARE_UPDATE_EXCLUSIVE)
    for element in node.tableElts or ():
        if isinstance(element, ast.ColumnDef):
            schema.columns[(table, str(element.colname).lower())] = element.typeName
            for constraint in element.constraints or ():
                _constraint_locks(table, constraint, [str(element.colname).lower()], schema, effects)
        elif isinstance(element, ast.Constraint):
            _constraint_locks(table, element, [], schema, effects)
        elif isinstance(element, ast.TableLikeClause):
            effects.lock(relname(element.relation), ACCESS_SHARE)
    effects.locks.pop(table, None)
    schema.created.add(table)
    return "CREATE TABLE PARTITION OF" if node.partbound is not None else "CREATE TABLE"


def _create_table_as(node: ast.CreateTableAsStmt, schema: _Schema, effects: _Effects) -> str:
    _read_relations(node.query, effects)
    if node.into is not None:
        schema.created.add(relname(node.into.rel))
    return "CREATE MATERIALIZED VIEW" if node.objtype == ObjectType.OBJECT_MATVIEW else "CREATE TABLE AS"


def _create_view(node: ast.ViewStmt, schema: _Schema, effects: _Effects) -> str:
    _read_relations(node.query, effects)
    view = relname(node.view)
    effects.locks.pop(view, None)
    if node.replace and view not in schema.created:
        effects.lock(view, ACCESS_EXCLUSIVE)
    schema.created.add(view)
    return "CREATE VIEW"


def _create_index(node: ast.IndexStmt, schema: _Schema, effects: _Effects) -> str:
    table = relname(node.relation)
    effects.concurrent = bool(node.concurrent)
    effects.lock(table, SHARE_UPDATE_EXCLUSIVE if node.concurrent else SHARE)
    name = node.idxname or default_index_name(table, _index_columns(node.indexParams), "idx")
    schema.indexes[str(name).lower()] = table
    schema.created.add(str(name).lower())
    return "CREATE INDEX"


def _object_names(node: ast.DropStmt) -> list[list[str]]:
    names = []
    for obj in node.objects or ():
        parts = obj if isinstance(obj, list | tuple) else \
            (obj.names or ()) if isinstance(obj, ast.TypeName) else (obj,)
        names.append([str(p.sval).lower() for p in parts if isinstance(p, ast.String)])
    return names


_DROP_KINDS = {ObjectType.OBJECT_TABLE: "TABLE", ObjectType.OBJECT_INDEX: "INDEX", ObjectType.OBJECT_VIEW: "VIEW",
               ObjectType.OBJECT_MATVIEW: "MATERIALIZED VIEW", ObjectType.OBJECT_SEQUENCE: "SEQUENCE",
               ObjectType.OBJECT_FOREIGN_TABLE: "FOREIGN TABLE", ObjectType.OBJECT_TRIGGER: "TRIGGER",
               ObjectType.OBJECT_RULE: "RULE", ObjectType.OBJECT_POLICY: "POLICY"}


def _drop(node: ast.DropStmt, schema: _Schema, effects: _Effects) -> str:
    kind = node.removeType
    if kind is None:  # the parser always sets it
        return "DROP"
    for parts in _object_names(node):
        if not parts:
            continue
        if kind == ObjectType.OBJECT_INDEX:
            # DROP INDEX locks the table, then the index, ACCESS EXCLUSIVE. CONCURRENTLY holds SHARE UPDATE
            # EXCLUSIVE on both while it waits; its very last step takes ACCESS EXCLUSIVE on the index, which
            # by then is dead (no query can use or wait for it).
            effects.concurrent = bool(node.concurrent)
            effects.lock(schema.indexes.get(parts[-1]), SHARE_UPDATE_EXCLUSIVE if node.concurrent else ACCESS_EXCLUSIVE)
            effects.lock(parts[-1], ACCESS_EXCLUSIVE)
            schema.indexes.pop(parts[-1], None)
        elif kind in (ObjectType.OBJECT_TRIGGER, ObjectType.OBJECT_RULE, ObjectType.OBJECT_POLICY):
            if len(parts) > 1:
                effects.lock(parts[-2], ACCESS_EXCLUSIVE)
        elif kind in (ObjectType.OBJECT_TABLE, ObjectType.OBJECT_VIEW, ObjectType.OBJECT_MATVIEW,
                      ObjectType.OBJECT_SEQUENCE, ObjectType.OBJECT_FOREIGN_TABLE):
            table = parts[-1]
            effects.lock(table, ACCESS_EXCLUSIVE)
            # Dropping a table drops its foreign keys, whose triggers live on the referenced tables.
            for foreign_key in schema.foreign_keys.values():
                if foreign_key.table == table:
                    effects.lock(foreign_key.target, ACCESS_EXCLUSIVE)
            schema.forget_table(table)
    return f"DROP {_DROP_KINDS.get(kind, _words(kind.name.removeprefix('OBJECT_').title().replace('_', '')))}"


def _truncate(node: ast.TruncateStmt, schema: _Schema, effects: _Effects) -> str:
    for range_var in node.relations or ():
        effects.lock(relname(range_var), ACCESS_EXCLUSIVE)
        effects.rewrite(relname(range_var), "truncate", "TRUNCATE")
    return "TRUNCATE"


def _options(elements: tuple[ast.Node, ...] | None) -> dict[str, object]:
    options = {}
    for element in elements or ():
        if isinstance(element, ast.DefElem):
            options[str(element.defname).lower()] = _option_value(element.arg)
    return options


def _option_value(value: object) -> object:
    if value is None:
        return True
    for kind, attribute in ((ast.Boolean, "boolval"), (ast.Integer, "ival"), (ast.String, "sval"),
                            (ast.Float, "fval")):
        if isinstance(value, kind):
            return getattr(value, attribute)
    return value


def _is_on(value: object) -> bool:
    return value is True or str(value).lower() in ("true", "on", "1", "yes")


def _vacuum(node: ast.VacuumStmt, schema: _Schema, effects: _Effects) -> str:
    options = _options(node.options)
    full = node.is_vacuumcmd and _is_on(options.get("full", False))
    for relation in node.rels or ():
        table = relname(relation.relation)
        effects.lock(table, ACCESS_EXCLUSIVE if full else SHARE_UPDATE_EXCLUSIVE)
        if full:
            effects.rewrite(table, "vacuum-full", "VACUUM FULL")
    if not node.is_vacuumcmd:
        return "ANALYZE"
    return "VACUUM FULL" if full else "VACUUM"


def _cluster(node: ast.ClusterStmt, schema: _Schema, effects: _Effects) -> str:
    if node.relation is not None:
        table = relname(node.relation)
        effects.lock(table, ACCESS_EXCLUSIVE)
        effects.rewrite(table, "cluster", "CLUSTER")
    return "CLUSTER"


def _reindex(node: ast.ReindexStmt, schema: _Schema, effects: _Effects) -> str:
    concurrent = _is_on(_options(node.params).get("concurrently", False))
    effects.concurrent = concurrent
    if node.relation is None:
        return "REINDEX"
    name = relname(node.relation)
    # REINDEX: SHARE on the table, ACCESS EXCLUSIVE on each index while it is rebuilt. CONCURRENTLY: SHARE
    # UPDATE EXCLUSIVE on all while it builds and swaps; dropping the old, by then dead, index at the very end
    # takes ACCESS EXCLUSIVE on it (the new index gets the old name).
    table_mode = SHARE_UPDATE_EXCLUSIVE if concurrent else SHARE
    index_mode = ACCESS_EXCLUSIVE
    if node.kind == ReindexObjectType.REINDEX_OBJECT_INDEX:
        effects.lock(schema.indexes.get(name), table_mode)
        indexes = [name]
    else:
        effects.lock(name, table_mode)
        indexes = [index for index, table in schema.indexes.items() if table == name]
    for index in indexes:
        effects.lock(index, index_mode)
        effects.rewrite(index, "reindex", "REINDEX")
    return "REINDEX"


def _lock_table(node: ast.LockStmt, schema: _Schema, effects: _Effects) -> str:
    for range_var in node.relations or ():
        effects.lock(relname(range_var), LOCK_STATEMENT_MODES.get(node.mode or 0, ACCESS_EXCLUSIVE))
    return "LOCK TABLE"


def _create_trigger(node: ast.CreateTrigStmt, schema: _Schema, effects: _Effects) -> str:
    effects.lock(relname(node.relation), SHARE_ROW_EXCLUSIVE)
    return "CREATE TRIGGER"


def _comment(node: ast.CommentStmt, schema: _Schema, effects: _Effects) -> str:
    parts: list[str] = [str(p.sval).lower() for p in node.object if isinstance(p, ast.String)] \
        if isinstance(node.object, list | tuple) else []
    if node.objtype in (ObjectType.OBJECT_TABLE, ObjectType.OBJECT_VIEW, ObjectType.OBJECT_MATVIEW,
                        ObjectType.OBJECT_INDEX) and parts:
        effects.lock(parts[-1], SHARE_UPDATE_EXCLUSIVE)
    elif node.objtype == ObjectType.OBJECT_COLUMN and len(parts) > 1:
        effects.lock(parts[-2], SHARE_UPDATE_EXCLUSIVE)
    return "COMMENT"


def _create_statistics(node: ast.CreateStatsStmt, schema: _Schema, effects: _Effects) -> str:
    for range_var in node.relations or ():
        if isinstance(range_var, ast.RangeVar):
            effects.lock(relname(range_var), SHARE_UPDATE_EXCLUSIVE)
    return "CREATE STATISTICS"


def _refresh(node: ast.RefreshMatViewStmt, schema: _Schema, effects: _Effects) -> str:
    view = relname(node.relation)
    effects.concurrent = bool(node.concurrent)
    effects.lock(view, EXCLUSIVE if node.concurrent else ACCESS_EXCLUSIVE)
    if not node.concurrent:
        effects.rewrite(view, "refresh", "REFRESH MATERIALIZED VIEW")
    return "REFRESH MATERIALIZED VIEW"


_RENAME_KINDS = {ObjectType.OBJECT_COLUMN: "RENAME COLUMN", ObjectType.OBJECT_TABCONSTRAINT: "RENAME CONSTRAINT",
                 ObjectType.OBJECT_TRIGGER: "RENAME TRIGGER"}


def _rename(node: ast.RenameStmt, schema: _Schema, effects: _Effects) -> str:
    what = node.renameType
    if what is None:  # the parser always sets it
        return "RENAME"
    prefix = "ALTER INDEX" if what == ObjectType.OBJECT_INDEX else \
        "ALTER VIEW" if ObjectType.OBJECT_VIEW in (what, node.relationType) else "ALTER TABLE"
    if node.relation is None:
        return f"ALTER {_words(what.name.removeprefix('OBJECT_').title().replace('_', ''))} RENAME"
    target = relname(node.relation)
    # ALTER INDEX .. RENAME needs only SHARE UPDATE EXCLUSIVE (PostgreSQL 12+); everything else here is
    # ACCESS EXCLUSIVE on the relation.
    effects.lock(target, SHARE_UPDATE_EXCLUSIVE if what == ObjectType.OBJECT_INDEX else ACCESS_EXCLUSIVE)
    new = str(node.newname).lower()
    if what == ObjectType.OBJECT_INDEX:
        if target in schema.indexes:
            schema.indexes[new] = schema.indexes.pop(target)
    elif what == ObjectType.OBJECT_COLUMN:
        old_type = schema.columns.pop((target, str(node.subname).lower()), None)
        if old_type is not None:
            schema.columns[(target, new)] = old_type
    elif what == ObjectType.OBJECT_TABCONSTRAINT:
        if str(node.subname).lower() in schema.foreign_keys:
            schema.foreign_keys[new] = schema.foreign_keys.pop(str(node.subname).lower())
    elif what not in _RENAME_KINDS:
        schema.rename_table(target, new)
    return f"{prefix} {_RENAME_KINDS.get(what, 'RENAME')}"


# --- ALTER TABLE -------------------------------------------------------------------------------------------

_SUBCOMMAND_LOCKS = {
    AT.AT_SetStatistics: SHARE_UPDATE_EXCLUSIVE, AT.AT_SetOptions: SHARE_UPDATE_EXCLUSIVE,
    AT.AT_ResetOptions: SHARE_UPDATE_EXCLUSIVE, AT.AT_ClusterOn: SHARE_UPDATE_EXCLUSIVE,
    AT.AT_DropCluster: SHARE_UPDATE_EXCLUSIVE, AT.AT_ValidateConstraint: SHARE_UPDATE_EXCLUSIVE,
    AT.AT_AttachPartition: SHARE_UPDATE_EXCLUSIVE,
    AT.AT_EnableTrig: SHARE_ROW_EXCLUSIVE, AT.AT_EnableAlwaysTrig: SHARE_ROW_EXCLUSIVE,
    AT.AT_EnableReplicaTrig: SHARE_ROW_EXCLUSIVE, AT.AT_DisableTrig: SHARE_ROW_EXCLUSIVE,
    AT.AT_EnableTrigAll: SHARE_ROW_EXCLUSIVE, AT.AT_DisableTrigAll: SHARE_ROW_EXCLUSIVE,
    AT.AT_EnableTrigUser: SHARE_ROW_EXCLUSIVE, AT.AT_DisableTrigUser: SHARE_ROW_EXCLUSIVE,
}
_SUBCOMMAND_NAMES = {
    AT.AT_AddColumn: "ADD COLUMN", AT.AT_DropColumn: "DROP COLUMN", AT.AT_AlterColumnType: "ALTER COLUMN TYPE",
    AT.AT_SetNotNull: "SET NOT NULL", AT.AT_DropNotNull: "DROP NOT NULL", AT.AT_SetStatistics: "SET STATISTICS",
    AT.AT_ValidateConstraint: "VALIDATE CONSTRAINT", AT.AT_DropConstraint: "DROP CONSTRAINT",
    AT.AT_SetRelOptions: "SET OPTIONS", AT.AT_ResetRelOptions: "RESET OPTIONS", AT.AT_SetLogged: "SET LOGGED",
    AT.AT_SetUnLogged: "SET UNLOGGED", AT.AT_SetTableSpace: "SET TABLESPACE", AT.AT_ChangeOwner: "OWNER TO",
    AT.AT_AttachPartition: "ATTACH PARTITION", AT.AT_DetachPartition: "DETACH PARTITION",
    AT.AT_ClusterOn: "CLUSTER ON", AT.AT_DropCluster: "SET WITHOUT CLUSTER", AT.AT_AddInherit: "INHERIT",
    AT.AT_DropInherit: "NO INHERIT", AT.AT_SetAccessMethod: "SET ACCESS METHOD",
    AT.AT_EnableTrig: "ENABLE TRIGGER", AT.AT_DisableTrig: "DISABLE TRIGGER",
    AT.AT_EnableTrigAll: "ENABLE TRIGGER ALL", AT.AT_DisableTrigAll: "DISABLE TRIGGER ALL",
    AT.AT_EnableTrigUser: "ENABLE TRIGGER USER", AT.AT_DisableTrigUser: "DISABLE TRIGGER USER",
}
_CONSTRAINT_NAMES = {ConstrType.CONSTR_FOREIGN: "FOREIGN KEY", ConstrType.CONSTR_CHECK: "CHECK",
                     ConstrType.CONSTR_PRIMARY: "PRIMARY KEY", ConstrType.CONSTR_UNIQUE: "UNIQUE",
                     ConstrType.CONSTR_EXCLUSION: "EXCLUDE", ConstrType.CONSTR_NOTNULL: "NOT NULL"}


def added_column_rewrite(column: ast.ColumnDef) -> tuple[str, str] | None:
    """(cause, detail) when ADD COLUMN of this definition rewrites the table, else None."""
    type_name = _last_name(column.typeName.names) if column.typeName is not None else ""
    name = str(column.colname)
    if type_name in SERIAL_TYPES:
        return "serial", f"{name} {type_name} (a nextval() default, evaluated per row)"
    for constraint in column.constraints or ():
        if constraint.contype == ConstrType.CONSTR_DEFAULT:
            function = volatile_call(constraint.raw_expr)
            if function is not None:
                known = function in VOLATILE_FUNCTIONS
                why = "is volatile" if known else "is not a known built-in, so assumed VOLATILE"
                return "volatile-default", f"{name} DEFAULT {function}() ({function}() {why})"
        elif constraint.contype == ConstrType.CONSTR_GENERATED and constraint.generated_kind != "v":
            return "generated-stored", f"{name} GENERATED ALWAYS AS (...) STORED"
        elif constraint.contype == ConstrType.CONSTR_IDENTITY:
            return "identity", f"{name} GENERATED AS IDENTITY (a sequence value per row)"
    return None


def _alter_table(node: ast.AlterTableStmt, schema: _Schema, effects: _Effects) -> str:
    table = relname(node.relation)
    effects.lock(table, ACCESS_SHARE)  # the altered relation first; each subcommand raises its mode
    names = [_alter_command(table, command, schema, effects) for command in node.cmds or ()]
    objtype = node.objtype
    prefix = "ALTER TABLE" if objtype is None else {
        ObjectType.OBJECT_INDEX: "ALTER INDEX", ObjectType.OBJECT_VIEW: "ALTER VIEW",
        ObjectType.OBJECT_MATVIEW: "ALTER MATERIALIZED VIEW", ObjectType.OBJECT_SEQUENCE: "ALTER SEQUENCE",
        ObjectType.OBJECT_FOREIGN_TABLE: "ALTER FOREIGN TABLE"}.get(objtype, "ALTER TABLE")
    return f"{prefix} {', '.join(dict.fromkeys(names))}"


def _alter_command(table: str, command: ast.AlterTableCmd, schema: _Schema, effects: _Effects) -> str:
    """Apply one ALTER TABLE subcommand's locks and rewrites; return its name."""
    subtype, definition = command.subtype, command.def_
    if subtype is None:  # the parser always sets it; an unknown subcommand gets the strongest lock
        effects.lock(table, ACCESS_EXCLUSIVE)
        return "SUBCOMMAND"
    column = str(command.name).lower() if command.name else ""
    mode = _SUBCOMMAND_LOCKS.get(subtype, ACCESS_EXCLUSIVE)
    name = _SUBCOMMAND_NAMES.get(subtype) or _words(subtype.name.removeprefix("AT_")).replace("  ", " ")
    if subtype == AT.AT_AddColumn and isinstance(definition, ast.ColumnDef):
        added = str(definition.colname).lower()
        schema.columns[(table, added)] = definition.typeName
        for constraint in definition.constraints or ():
            _constraint_locks(table, constraint, [added], schema, effects)
        rewrite = added_column_rewrite(definition)
        if rewrite is not None:
            effects.rewrite(table, rewrite[0], f"ADD COLUMN {rewrite[1]}")
    elif subtype == AT.AT_AlterColumnType and isinstance(definition, ast.ColumnDef) \
            and definition.typeName is not None:  # ALTER COLUMN TYPE always names the new type
        old = schema.columns.get((table, column))
        new_type = definition.typeName
        change = "rewrite" if not _using_is_plain(definition.raw_default, column) else \
            type_change(old, new_type, schema.time_zone)
        shown = RawStream()(new_type)
        if change == "rewrite":
            was = f" (was {RawStream()(old)})" if old is not None else ""
            effects.rewrite(table, "column-type", f"ALTER COLUMN {column} TYPE {shown}{was}")
        elif change == "unknown":
            effects.uncertain.append(Rewrite(table, "column-type", f"ALTER COLUMN {column} TYPE {shown}"))
        schema.columns[(table, column)] = new_type
    elif subtype == AT.AT_ColumnDefault:
        name = "SET DEFAULT" if definition is not None else "DROP DEFAULT"
    elif subtype in (AT.AT_AddConstraint, AT.AT_AddIndexConstraint) and isinstance(definition, ast.Constraint):
        if definition.contype == ConstrType.CONSTR_FOREIGN:
            mode = SHARE_ROW_EXCLUSIVE
        if definition.indexname:
            # USING INDEX renames the index after the constraint (SHARE UPDATE EXCLUSIVE on the index).
            effects.lock(str(definition.indexname).lower(), SHARE_UPDATE_EXCLUSIVE)
        _constraint_locks(table, definition, [], schema, effects)
        contype = definition.contype
        name = f"ADD {'CONSTRAINT' if contype is None else _CONSTRAINT_NAMES.get(contype, 'CONSTRAINT')}"
        if definition.indexname:
            name += " USING INDEX"
    elif subtype == AT.AT_DropConstraint:
        # Dropping a foreign key drops its triggers on the referenced table: ACCESS EXCLUSIVE there too.
        foreign_key = schema.foreign_keys.pop(column, None)
        if foreign_key is not None:
            effects.lock(foreign_key.target, ACCESS_EXCLUSIVE)
    elif subtype == AT.AT_ValidateConstraint:
        foreign_key = schema.foreign_keys.get(column)
        if foreign_key is not None:
            effects.lock(foreign_key.target, ROW_SHARE)
    elif subtype in (AT.AT_SetRelOptions, AT.AT_ResetRelOptions):
        options = set(_options(definition if isinstance(definition, tuple) else None))
        mode = ACCESS_EXCLUSIVE if options & ACCESS_EXCLUSIVE_RELOPTIONS else SHARE_UPDATE_EXCLUSIVE
    elif subtype in (AT.AT_AttachPartition, AT.AT_DetachPartition) and isinstance(definition, ast.PartitionCmd):
        # The partition always gets ACCESS EXCLUSIVE (observed on PostgreSQL 15 and 18, CONCURRENTLY too);
        # the parent gets SHARE UPDATE EXCLUSIVE for ATTACH and DETACH .. CONCURRENTLY.
        concurrent = bool(getattr(definition, "concurrent", False))
        if subtype == AT.AT_DetachPartition:
            mode = SHARE_UPDATE_EXCLUSIVE if concurrent else ACCESS_EXCLUSIVE
            effects.concurrent = effects.concurrent or concurrent
        effects.lock(relname(definition.name), ACCESS_EXCLUSIVE)
    elif subtype in (AT.AT_AddInherit, AT.AT_DropInherit) and isinstance(definition, ast.RangeVar):
        effects.lock(relname(definition), SHARE_UPDATE_EXCLUSIVE)
    elif subtype in (AT.AT_SetLogged, AT.AT_SetUnLogged, AT.AT_SetTableSpace, AT.AT_SetAccessMethod):
        effects.rewrite(table, "relfilenode", name)
    effects.lock(table, mode)
    return name


def _set(node: ast.VariableSetStmt, schema: _Schema, effects: _Effects) -> str:
    return "RESET" if node.kind in (VariableSetKind.VAR_RESET, VariableSetKind.VAR_RESET_ALL) else "SET"


_HANDLERS = {
    ast.TransactionStmt: _transaction, ast.SelectStmt: _select, ast.InsertStmt: _modify("INSERT"),
    ast.UpdateStmt: _modify("UPDATE"), ast.DeleteStmt: _modify("DELETE"), ast.MergeStmt: _modify("MERGE"),
    ast.CopyStmt: _copy, ast.CreateStmt: _create_table, ast.CreateTableAsStmt: _create_table_as,
    ast.ViewStmt: _create_view, ast.IndexStmt: _create_index, ast.DropStmt: _drop, ast.TruncateStmt: _truncate,
    ast.VacuumStmt: _vacuum, ast.ClusterStmt: _cluster, ast.ReindexStmt: _reindex, ast.LockStmt: _lock_table,
    ast.CreateTrigStmt: _create_trigger, ast.CommentStmt: _comment, ast.CreateStatsStmt: _create_statistics,
    ast.RefreshMatViewStmt: _refresh, ast.RenameStmt: _rename, ast.AlterTableStmt: _alter_table,
    ast.VariableSetStmt: _set,
}
