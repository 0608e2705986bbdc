"""The archive's other copies: the replica and its sync, restore, reconcile, catalog backup and
rebuild, carrier migration, and the status of them all."""

OPERATORS = ("archivist", "administrator")  # who may make, move and repair copies
