"""A SCIM filter, as scim2-models parses it, turned into a query on the indexed columns of
ScimResource where it can be; anything else is evaluated on each of the IdP's resources."""

from django.db.models import Q
from scim2_models.path import CompareOperator, FilterVisitor, LogicalOperator


class NotIndexed(Exception):
    """The filter names an attribute or an operator the columns cannot answer."""


# Per resource type: (attribute, sub-attribute) -> column. name_key holds the attribute that
# names a resource of that type, as SCIM compares it; the other columns compare exactly.
COLUMNS = {
    "User": {("username", None): "name_key"},
    "Group": {("displayname", None): "name_key"},
}
EXACT_COLUMNS = {("externalid", None): "external_id", ("id", None): "scim_id"}


class ColumnQuery(FilterVisitor[Q]):
    """The Q of a filter on one resource type's columns; NotIndexed where there is none.
    ``name_key`` gives the comparison key of a name."""

    def __init__(self, type_name, name_key):
        self.columns = COLUMNS[type_name] | EXACT_COLUMNS
        self.name_key = name_key

    def visit_comparison(self, node):
        column = self.columns.get((node.attr_path.attr.lower(), node.attr_path.sub_attr))
        if column is None or node.op != CompareOperator.eq or not isinstance(node.value, str):
            raise NotIndexed
        if not node.value:  # an empty column means "none", which equals no value
            raise NotIndexed
        return Q(**{column: self.name_key(node.value) if column == "name_key" else node.value})

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
