"""The analytical products (issue 16): bulletins, trends and comparisons, trafficking
routes and exports. Pure functions that build SQL over the readers' views and shape the
answers, used by the API (``blo.api.routes``) and the CLI (``blo report``, ``blo export``).

Every figure is read from the readers' views (:func:`sinks.read_model.latest`): the latest
revision of every event, voided events left out, the latest version of every window row.
"""
