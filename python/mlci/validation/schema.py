"""The rules file (schema.yaml): model, loading, and errors that name the field.

```yaml
columns:
  age:    {dtype: int, min: 0, max: 120}
  plan:   {dtype: string, allowed: [free, pro], severity: warn}
  email:  {dtype: string, regex: '^[^@]+@[^@]+$', max_null_fraction: 0.01}
table:
  min_rows: 100
  columns: strict
  expressions:
    - {name: paid_income, expr: 'income >= 0 or plan == "free"'}
```
Any rule value may be written long-hand to give it its own severity:
``min: {value: 0, severity: warn}``.
"""

from __future__ import annotations

import difflib
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from mlci.errors import ConfigError

Severity = Literal["error", "warn"]
DTYPES = ("int", "float", "bool", "string", "datetime", "any")

COLUMN_RULES = ("dtype", "required", "nullable", "max_null_fraction", "allow_nan", "allow_inf",
                "min", "max", "allowed", "forbidden", "unique", "regex", "min_length", "max_length")
TABLE_RULES = ("min_rows", "max_rows", "no_duplicate_rows", "columns")


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)


def _split_long_form(data: Any, rules: tuple[str, ...]) -> Any:
    """``{min: {value: 0, severity: warn}}`` -> ``{min: 0, severities: {min: warn}}``."""
    if not isinstance(data, dict):
        return data
    out = dict(data)
    severities = dict(out.get("severities") or {})
    for key in rules:
        value = out.get(key)
        if isinstance(value, dict) and "value" in value and set(value) <= {"value", "severity"}:
            out[key] = value["value"]
            if "severity" in value:
                severities[key] = value["severity"]
    if severities:
        out["severities"] = severities
    return out


class ColumnSchema(_Model):
    dtype: Literal["int", "float", "bool", "string", "datetime", "any"] | None = Field(
        None, description="expected type; int columns also satisfy float")
    required: bool = Field(True, description="the column must be present")
    nullable: bool = Field(True, description="false: no missing values at all")
    max_null_fraction: float | None = Field(None, ge=0, le=1, description="largest allowed share of missing values")
    allow_nan: bool = Field(False, description="NaN allowed in float columns")
    allow_inf: bool = Field(False, description="+inf/-inf allowed in float columns")
    min: int | float | None = Field(None, description="smallest allowed value (inclusive)")
    max: int | float | None = Field(None, description="largest allowed value (inclusive)")
    allowed: list[Any] | None = Field(None, description="the only values allowed")
    forbidden: list[Any] | None = Field(None, description="values never allowed")
    unique: bool = Field(False, description="no value appears twice (missing values ignored)")
    regex: str | None = Field(None, description="RE2 pattern each value must match (search; anchor with ^$)")
    min_length: int | None = Field(None, ge=0, description="shortest allowed string (characters)")
    max_length: int | None = Field(None, ge=0, description="longest allowed string (characters)")
    severity: Severity | None = Field(None, description="severity of this column's rules")
    severities: dict[str, Severity] = Field(default_factory=dict, description="per-rule severity")
    description: str | None = None

    @model_validator(mode="before")
    @classmethod
    def _long_form(cls, data: Any) -> Any:
        return _split_long_form(data, COLUMN_RULES)

    @model_validator(mode="after")
    def _consistent(self) -> "ColumnSchema":
        for key in self.severities:
            if key not in COLUMN_RULES:
                raise ValueError(_unknown(key, list(COLUMN_RULES), "rule in severities"))
        if self.min is not None and self.max is not None and self.min > self.max:
            raise ValueError(f"min ({self.min}) is greater than max ({self.max})")
        if self.regex is not None:
            _check_regex(self.regex)
        return self


class ExpressionRule(_Model):
    expr: str = Field(description="a boolean expression over columns, true for good rows")
    name: str | None = Field(None, description="rule name in reports; default: the expression")
    severity: Severity | None = None

    @model_validator(mode="after")
    def _parses(self) -> "ExpressionRule":
        from mlci.validation.expr import compile_expression

        compile_expression(self.expr)  # raises ValueError with the reason
        return self


class TableSchema(_Model):
    min_rows: int | None = Field(None, ge=0, description="fewest rows allowed")
    max_rows: int | None = Field(None, ge=0, description="most rows allowed")
    no_duplicate_rows: bool = Field(False, description="true: no two rows are identical")
    columns: Literal["any", "strict", "ordered"] = Field(
        "any", description="strict: no columns beyond those declared; ordered: also in declared order")
    expressions: list[ExpressionRule] = Field(default_factory=list)
    severity: Severity | None = None
    severities: dict[str, Severity] = Field(default_factory=dict)

    @model_validator(mode="before")
    @classmethod
    def _long_form(cls, data: Any) -> Any:
        return _split_long_form(data, TABLE_RULES)


class Schema(_Model):
    version: int = Field(1, description="rules file format version")
    columns: dict[str, ColumnSchema] = Field(default_factory=dict)
    table: TableSchema = Field(default_factory=TableSchema)


def _check_regex(pattern: str) -> None:
    import pyarrow as pa
    import pyarrow.compute as pc

    try:
        pc.match_substring_regex(pa.array(["x"]), pattern=pattern)
    except (pa.ArrowException, ValueError) as exc:
        raise ValueError(f"invalid regex {pattern!r} (RE2 syntax): {str(exc).splitlines()[0]}") from None


def _unknown(value: str, known: list[str], what: str) -> str:
    close = difflib.get_close_matches(value, known, n=1)
    hint = f" (did you mean `{close[0]}`?)" if close else ""
    return f"unknown {what} `{value}`{hint}; expected one of: {', '.join(known)}"


def _owner(loc: tuple[Any, ...]) -> type[BaseModel]:
    """The model that holds the key at ``loc + (key,)``."""
    if loc[:1] == ("columns",) and len(loc) >= 2:
        return ColumnSchema
    if loc[:2] == ("table", "expressions"):
        return ExpressionRule
    if loc[:1] == ("table",):
        return TableSchema
    return Schema


def parse_schema(data: Any, source: str = "schema.yaml") -> Schema:
    from mlci.config import _describe, dotted_path, format_error

    if not isinstance(data, dict):
        raise ConfigError(f"{source}: expected a mapping with `columns` and `table`, got {_describe(data)}")
    try:
        return Schema.model_validate(data)
    except ValidationError as exc:
        errors = exc.errors()
        err = errors[0]
        loc = tuple(err.get("loc", ()))
        if err.get("type") == "extra_forbidden":
            owner = _owner(loc[:-1])
            known = [n for n in owner.model_fields if n != "severities"]
            path, message = dotted_path(loc), _unknown(str(loc[-1]), known, "key")
        else:
            path, message = format_error(err)
        more = f" (and {len(errors) - 1} more)" if len(errors) > 1 else ""
        raise ConfigError(f"{source}: {path}: {message}{more}") from None


def load_schema(path: str | Path) -> Schema:
    from mlci.config import read_yaml

    p = Path(path)
    return parse_schema(read_yaml(p, "a rules file with `columns`"), str(p))


def dump_schema(schema: Schema) -> str:
    """Readable YAML: one flow mapping per column, defaults left out."""
    import yaml

    lines = ["# mlci rules file: edit freely (docs/validation.md lists every rule).", "version: 1", "columns:"]
    for name, col in schema.columns.items():
        body = col.model_dump(exclude_defaults=True, exclude={"severities"})
        lines.append(f"  {_yaml_key(name)}: " + yaml.safe_dump(body, default_flow_style=True,
                                                                width=10_000, sort_keys=False).strip())
    if not schema.columns:
        lines[-1] = "columns: {}"
    table = schema.table.model_dump(exclude_defaults=True, exclude={"severities"})
    if table:
        lines.append(yaml.safe_dump({"table": table}, sort_keys=False, width=10_000).rstrip())
    return "\n".join(lines) + "\n"


def _yaml_key(name: str) -> str:
    import yaml

    return yaml.safe_dump(name, default_style=None).strip().removesuffix("...").strip()
