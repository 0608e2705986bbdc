"""The web console: the second face of custody (issue 15), a Flask application over the same
service functions the command line calls.

``web.app.create_app`` builds it; ``web.auth`` holds what every view uses to know who is
asking (``signed_in``, ``approver``); ``web.views`` holds one blueprint per topic. Nothing
here decides who may do what: the services refuse, the views show the refusal.
"""
