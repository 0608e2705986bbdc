"""The console's blueprints, one module per topic; each module exposes ``bp``.

``create_app`` registers every module listed here, in this order.
"""

BLUEPRINTS = [
    "web.views.signin",
    "web.views.search",
    "web.views.items",
    "web.views.access",
    "web.views.register",
    "web.views.people",
    "web.views.media",
    "web.views.jobs",
]
