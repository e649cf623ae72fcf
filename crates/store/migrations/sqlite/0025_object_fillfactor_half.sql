-- PostgreSQL only (room for HOT updates by rewraps); SQLite updates in place.
SELECT 1;
