"""A SCIM filter, as scim2-models parses it, turned into a query on the indexed columns of
ScimResource where it can be; anything else is evaluated on each of the IdP's resources."""

from django.db.models import Q
from scim2_models.path import CompareOperator, FilterVisitor, LogicalOperator


class NotIndexed(Exception):
    """The filter names an attribute or an operator the columns cannot answer."""


# (attribute, sub-attribute) -> column; the comparison key is applied to case-insensitive ones.
COLUMNS = {
    ("username", None): "name_key",
    ("displayname", None): "name_key",
    ("externalid", None): "external_id",
    ("id", None): "scim_id",
}
CASE_EXACT = {"external_id", "scim_id"}


class ColumnQuery(FilterVisitor[Q]):
    def __init__(self, name_key):
        self.name_key = name_key

    def visit_comparison(self, node):
        column = COLUMNS.get((node.attr_path.attr.lower(), node.attr_path.sub_attr))
        if column is None or node.op != CompareOperator.eq or not isinstance(node.value, str):
            raise NotIndexed
        if not node.value:  # an empty column means "none", which equals no value
            raise NotIndexed
        return Q(**{column: node.value if column in CASE_EXACT else self.name_key(node.value)})

    def visit_logical_expr(self, node):
        queries = [self.visit(term) for term in node.terms]
        combined = queries[0]
        for query in queries[1:]:
            combined = combined & query if node.op == LogicalOperator.and_ else combined | query
        return combined

    def visit_not(self, node):
        return ~self.visit(node.expr)

    def visit_present(self, node):
        raise NotIndexed

    def visit_value_path(self, node):
        raise NotIndexed
