"""Table-rule expressions, e.g. ``income >= 0 or plan == "free"``, evaluated without Python.

The text is parsed with ``ast`` and every node is checked against a small whitelist:
comparisons (including chained ones), ``and``/``or``/``not``, ``+ - * / %``, unary minus,
column names, literals (numbers, strings, True/False/None), ``in``/``not in`` with a
literal list, and the functions in ``FUNCTIONS``. Nothing is ever passed to eval/exec:
the checked tree is walked and each node becomes a vectorized pyarrow.compute call on
whole columns.
"""

from __future__ import annotations

import ast
from dataclasses import dataclass
from typing import Any

# name -> (min args, max args, description)
FUNCTIONS: dict[str, tuple[int, int, str]] = {
    "abs": (1, 1, "absolute value"),
    "is_null": (1, 1, "true where the value is missing (null or NaN)"),
    "not_null": (1, 1, "true where the value is present"),
    "len": (1, 1, "string length in characters"),
    "lower": (1, 1, "lower-case string"),
    "upper": (1, 1, "upper-case string"),
    "starts_with": (2, 2, "string starts with a literal prefix"),
    "ends_with": (2, 2, "string ends with a literal suffix"),
    "matches": (2, 2, "string contains a match of a literal RE2 pattern"),
    "log": (1, 1, "natural logarithm"),
    "sqrt": (1, 1, "square root"),
    "round": (1, 2, "round to n digits (default 0)"),
    "min": (2, 8, "element-wise minimum"),
    "max": (2, 8, "element-wise maximum"),
    "col": (1, 1, "a column whose name is not an identifier: col(\"unit price\")"),
}

_CMP = {ast.Eq: "equal", ast.NotEq: "not_equal", ast.Lt: "less", ast.LtE: "less_equal",
        ast.Gt: "greater", ast.GtE: "greater_equal"}
_ARITH = {ast.Add: "add", ast.Sub: "subtract", ast.Mult: "multiply", ast.Div: "divide",
          ast.Mod: "mod"}
_LITERAL_ONLY_ARG = {"starts_with": 1, "ends_with": 1, "matches": 1, "col": 0, "round": 1}


class ExpressionError(ValueError):
    """The expression is not allowed or cannot be evaluated."""


@dataclass
class Expression:
    text: str
    tree: ast.Expression
    columns: list[str]

    def evaluate(self, table: Any) -> Any:
        """A boolean array, one value per row of ``table`` (null where inputs were null)."""
        import pyarrow as pa

        try:
            out = _Evaluator(table).visit(self.tree.body)
        except ExpressionError:
            raise
        except (pa.ArrowException, TypeError, ValueError, ZeroDivisionError) as exc:
            raise ExpressionError(f"cannot evaluate `{self.text}`: {str(exc).splitlines()[0]}") from None
        if not isinstance(out, (pa.Array, pa.ChunkedArray)):
            out = pa.array([out] * table.num_rows)
        if not pa.types.is_boolean(out.type):
            raise ExpressionError(f"`{self.text}` gives {out.type} values, expected true/false")
        return out


def compile_expression(text: str) -> Expression:
    """Parse and check ``text``; raises ExpressionError (a ValueError) naming what is not allowed."""
    if not isinstance(text, str) or not text.strip():
        raise ExpressionError("empty expression")
    if len(text) > 2000:
        raise ExpressionError("expression longer than 2000 characters")
    try:
        tree = ast.parse(text.strip(), mode="eval")
    except SyntaxError as exc:
        raise ExpressionError(f"syntax error in `{text}` at column {exc.offset}: {exc.msg}") from None
    columns: list[str] = []
    _check(tree.body, text, columns)
    return Expression(text=text, tree=tree, columns=columns)


def _is_literal(node: ast.AST) -> bool:
    return isinstance(node, ast.Constant) and (node.value is None or isinstance(node.value, (int, float, str, bool)))


def _check(node: ast.AST, text: str, columns: list[str]) -> None:
    def bad(what: str) -> ExpressionError:
        return ExpressionError(f"`{text}`: {what} is not allowed (allowed: comparisons, and/or/not, "
                               f"+ - * / %, column names, literals, in [...], {', '.join(FUNCTIONS)})")

    if isinstance(node, ast.BoolOp):
        for v in node.values:
            _check(v, text, columns)
    elif isinstance(node, ast.UnaryOp):
        if not isinstance(node.op, (ast.Not, ast.USub, ast.UAdd)):
            raise bad(type(node.op).__name__)
        _check(node.operand, text, columns)
    elif isinstance(node, ast.BinOp):
        if type(node.op) not in _ARITH:
            raise bad(f"operator {type(node.op).__name__}")
        _check(node.left, text, columns)
        _check(node.right, text, columns)
    elif isinstance(node, ast.Compare):
        _check(node.left, text, columns)
        for op, right in zip(node.ops, node.comparators):
            if isinstance(op, (ast.In, ast.NotIn)):
                if not isinstance(right, (ast.List, ast.Tuple, ast.Set)) or not all(map(_is_literal, right.elts)):
                    raise bad("`in` with anything but a list of literals")
            elif type(op) in _CMP:
                _check(right, text, columns)
            else:
                raise bad(f"comparison {type(op).__name__}")
    elif isinstance(node, ast.Name):
        if node.id in ("True", "False", "None"):
            return
        if node.id not in columns:
            columns.append(node.id)
    elif isinstance(node, ast.Constant):
        if not _is_literal(node):
            raise bad(f"literal {node.value!r}")
    elif isinstance(node, ast.Call):
        if not isinstance(node.func, ast.Name) or node.func.id not in FUNCTIONS:
            raise bad(f"calling `{ast.unparse(node.func)}`")
        if node.keywords:
            raise bad("keyword arguments")
        lo, hi, _ = FUNCTIONS[node.func.id]
        if not lo <= len(node.args) <= hi:
            raise ExpressionError(f"`{text}`: {node.func.id}() takes {lo if lo == hi else f'{lo} to {hi}'} "
                                  f"argument(s), got {len(node.args)}")
        literal_at = _LITERAL_ONLY_ARG.get(node.func.id)
        for i, arg in enumerate(node.args):
            if i == literal_at:
                if not _is_literal(arg):
                    raise ExpressionError(f"`{text}`: argument {i + 1} of {node.func.id}() must be a literal")
                if node.func.id == "col" and arg.value not in columns:
                    columns.append(str(arg.value))
            else:
                _check(arg, text, columns)
    else:
        raise bad(type(node).__name__)


class _Evaluator:
    def __init__(self, table: Any):
        import pyarrow as pa
        import pyarrow.compute as pc

        self.pa, self.pc, self.table = pa, pc, table

    def column(self, name: str) -> Any:
        if name not in self.table.column_names:
            raise ExpressionError(f"unknown column `{name}`")
        return self.table.column(name)

    def _float(self, x: Any) -> Any:
        pa = self.pa
        if isinstance(x, (pa.Array, pa.ChunkedArray)):
            return self.pc.cast(x, pa.float64()) if pa.types.is_integer(x.type) else x
        return float(x) if isinstance(x, (int, float)) and not isinstance(x, bool) else x

    def visit(self, node: ast.AST) -> Any:
        pc = self.pc
        if isinstance(node, ast.Constant):
            return node.value
        if isinstance(node, ast.Name):
            return {"True": True, "False": False, "None": None}.get(node.id) if node.id in (
                "True", "False", "None") else self.column(node.id)
        if isinstance(node, ast.BoolOp):
            values = [self.visit(v) for v in node.values]
            fn = pc.and_kleene if isinstance(node.op, ast.And) else pc.or_kleene
            out = values[0]
            for v in values[1:]:
                out = fn(out, v)
            return out
        if isinstance(node, ast.UnaryOp):
            v = self.visit(node.operand)
            if isinstance(node.op, ast.Not):
                return pc.invert(v)
            if isinstance(node.op, ast.USub):
                return -v if isinstance(v, (int, float)) else pc.negate(v)
            return v
        if isinstance(node, ast.BinOp):
            left, right = self.visit(node.left), self.visit(node.right)
            name = _ARITH[type(node.op)]
            if name == "divide":
                left, right = self._float(left), self._float(right)
            if name == "mod":
                return pc.subtract(left, pc.multiply(pc.floor(pc.divide(self._float(left), self._float(right))),
                                                     right))
            return getattr(pc, name)(left, right)
        if isinstance(node, ast.Compare):
            out = None
            left = self.visit(node.left)
            for op, right_node in zip(node.ops, node.comparators):
                if isinstance(op, (ast.In, ast.NotIn)):
                    values = [e.value for e in right_node.elts]
                    res = pc.is_in(left, value_set=self.pa.array(values))
                    res = pc.invert(res) if isinstance(op, ast.NotIn) else res
                    right = None
                else:
                    right = self.visit(right_node)
                    res = getattr(pc, _CMP[type(op)])(left, right)
                out = res if out is None else pc.and_kleene(out, res)
                left = right
            return out
        if isinstance(node, ast.Call):
            return self.call(node.func.id, node.args)
        raise ExpressionError(f"{type(node).__name__} is not allowed")

    def call(self, name: str, args: list[ast.AST]) -> Any:
        pc = self.pc
        if name == "col":
            return self.column(str(args[0].value))
        lit = _LITERAL_ONLY_ARG.get(name)
        vals = [a.value if i == lit else self.visit(a) for i, a in enumerate(args)]
        if name == "abs":
            return pc.abs(vals[0])
        if name == "is_null":
            return pc.is_null(vals[0], nan_is_null=True)
        if name == "not_null":
            return pc.invert(pc.is_null(vals[0], nan_is_null=True))
        if name == "len":
            return pc.utf8_length(vals[0])
        if name == "lower":
            return pc.utf8_lower(vals[0])
        if name == "upper":
            return pc.utf8_upper(vals[0])
        if name == "starts_with":
            return pc.starts_with(vals[0], pattern=str(vals[1]))
        if name == "ends_with":
            return pc.ends_with(vals[0], pattern=str(vals[1]))
        if name == "matches":
            return pc.match_substring_regex(vals[0], pattern=str(vals[1]))
        if name == "log":
            return pc.ln(self._float(vals[0]))
        if name == "sqrt":
            return pc.sqrt(self._float(vals[0]))
        if name == "round":
            return pc.round(self._float(vals[0]), ndigits=int(vals[1]) if len(vals) > 1 else 0)
        if name in ("min", "max"):
            fn = pc.min_element_wise if name == "min" else pc.max_element_wise
            return fn(*vals)
        raise ExpressionError(f"unknown function {name}")  # unreachable: checked at compile time


def describe_functions() -> list[tuple[str, str]]:
    return [(name, desc) for name, (_, _, desc) in FUNCTIONS.items()]
