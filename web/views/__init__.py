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
    "web.signing",
    "web.views.sampling",
    "web.views.inspections",
    "web.views.statistics",
    "web.views.cycle",
    "web.views.pending",
    "web.views.cases",
    "web.views.handover",
    "web.views.disposal",
]
