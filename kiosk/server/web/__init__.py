"""The command's dashboard: server-rendered pages (Jinja2 templates, inline SVG charts, one
CSS file served by the store itself: nothing loads from the internet and no script runs).

``settings`` (time zone, when a gate counts as silent), ``session`` (sign-in, sessions,
rate limit, audit), ``queries`` (what the pages show, one scope for the district, a compound
or a gate), ``charts`` (SVG geometry), one router per file (``login``, ``pages``);
``kiosk.server.dashboard.attach_dashboard`` puts them on the app.
"""
