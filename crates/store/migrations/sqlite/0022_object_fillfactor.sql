-- PostgreSQL only (a fill factor for HOT updates by rewraps); SQLite updates in place.
SELECT 1;
