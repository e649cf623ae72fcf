-- A rewrap updates every object row's key version and wrapped key (no indexed column): with free
-- room on each page PostgreSQL keeps the new version on the same page (a HOT update, no index
-- entries), about half the cost. Applies to pages written from now on; `VACUUM FULL op_object`
-- repacks existing rows with the room.
ALTER TABLE op_object SET (fillfactor = 70);
