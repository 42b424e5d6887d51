"""Figures from result objects, one module per analysis; no computing here.

Every function takes a result (or a tidy frame) and an optional ``ax=`` and
returns the matplotlib Axes or Figure. Report figures must not draw a mark
for fewer than 6 children: plot aggregates, not individual children.
"""
