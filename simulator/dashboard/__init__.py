"""The venue dashboard served at `/`: plain HTML + vanilla JS (package data:
index.html, app.js, style.css) and its live feed (feed.py)."""
