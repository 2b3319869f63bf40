"""Ground floor: the cell schema (`cases`), the record format, errors, units, per-step timing, files, value checks, statistics.

Imports nothing from the other stages of simplenn.
"""
